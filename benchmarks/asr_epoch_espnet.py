"""ASR on real data, whole epochs and whole test sets: `legokit train` / `legokit decode` against ESPnet's
`espnet2.bin.asr_train` / `espnet2.bin.asr_inference`, each run as its users run it (one command per stage).

Data: the English side of the De-En text that `legokit prepare debian-mt` builds, spoken by espeak-ng
(`legokit prepare espeak-speech`: 8 training voices, 2 unseen test voices, 16 kHz wav) into
benchmarks/work/espeak once (a pool of 2,000 training and 300 valid / 300 test utterances); each run takes
an evenly spread subset, writes Kaldi data dirs with the ASR scoring form of the text, and trains one
sentencepiece unigram model (on the pool's training text) that both toolkits use.

Model on both sides (ESPnet's LibriSpeech-100 Conformer recipe): 12 Conformer blocks, d 256, 4 heads, FFN
1024, kernel 31, macaron, swish, relative positions (ESPnet `rel_pos`/`rel_selfattn` "latest"; legokit
`pos_enc: rel`), conv2d subsampling ×4 from 80-dim fbank (25 ms / 10 ms), a 6-block d 256 Transformer decoder
(FFN 2048) on the encoder states, a CTC head, dropout 0.1, joint loss 0.7 attention + 0.3 CTC (legokit's
loss is decoder + λ·CTC, so λ = 0.3/0.7), label smoothing 0.1, Adam with peak lr 2e-3 after the same linear
warm-up and inverse-sqrt decay (ESPnet `warmuplr`, legokit `inverse_sqrt`), gradient clipping 5.

What each side does by default (not made equal on purpose): features (legokit: Kaldi fbank dumped once by
`legokit features`, timed separately; ESPnet: STFT log-mel on the fly in the model, with global MVN stats
from its `--collect_stats` pass, timed separately), SpecAugment (legokit: its SpecAugConfig defaults, 2
frequency masks ≤ 27 bins, 2 time masks ≤ 100 frames; ESPnet: the recipe's time warp 5 + 2 frequency masks
≤ 27 + 5 time masks ≤ 5 %), data loading (legokit: in the training process, num_workers 0; ESPnet: its
default 1 DataLoader worker), logging (both write TensorBoard scalars and plots). Batching: the same audio
budget per batch — legokit `max_tokens` frames (+ `max_batch_size` 64), ESPnet `batch_type: numel` over the
speech shape with `batch_bins` = frames × 160 samples (the same longest × count rule), so both take the
same number of updates per epoch within a batch or two.

Measured, one epoch from scratch: the wall time of the whole training command (start-up, the epoch,
validation, checkpoint, model averaging/export) and of the epoch alone (from each toolkit's log), peak RSS.
Decoding: the whole test set with joint CTC/attention beam search (beam 10, CTC weight 0.3, no length
normalisation or bonus, each side's default batching: legokit batches utterances, ESPnet's asr_inference
decodes one at a time): utterances/s of the whole command, output tokens, WER. Each side decodes the model
it trained, so the hypotheses differ; tokens per utterance and ms per output token are reported beside
utterances/s. legokit also decodes the test set with ESPnet's end detection added (beam.end_detect=3) and with
no early stop (beam.early_stop=none, the reference of its exact stopping bound); each of those counts its
hypotheses identical to the default's. The fp32 matmul ceiling is measured before and after, and the load
average at every stage.

Usage:
    .venv/bin/python benchmarks/asr_epoch_espnet.py            # 600 training utterances, 150 decoded
    .venv/bin/python benchmarks/asr_epoch_espnet.py --quick    # 32 training utterances, 8 decoded (make bench)
    .venv/bin/python benchmarks/asr_epoch_espnet.py --profile  # + where legokit's epoch and decode spend time
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, matmul_gflops, peer_python, set_threads, write_record  # noqa: E402

WORK = ROOT / "benchmarks" / "work"
POOL = WORK / "espeak"
POOL_SIZES = {"train": 2000, "valid": 300, "test": 300}
TEXT_DIRS = [ROOT / "egs" / "espeak_en" / "asr1" / "data" / "text", WORK / "text"]
LEGOKIT = ROOT / ".venv" / "bin" / "legokit"
SAMPLES_PER_FRAME = 160  # 10 ms at 16 kHz


# --- running commands -------------------------------------------------------------------------------------
def _tree_pss_mb(pid: int) -> float:
    """Proportional set size of a process and all its descendants (MB), from /proc: pages shared by a forked
    DataLoader worker and its parent count once, not twice as in a sum of RSS."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            total += int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1)) / 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total


def run_measured(cmd: list[str], log: Path, threads: int, cwd: Path = ROOT) -> dict:
    """Run cmd (stdout+stderr to log); wall seconds, peak RSS of the largest process, peak PSS of the process
    tree (sampled every second), load average before and after. Raises with the log's tail if it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONWARNINGS": "ignore", "LEGOKIT_NO_TQDM": "1", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    log.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    with log.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        peak_tree = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(1.0):  # reading smaps_rollup of a GB-sized process is not free: once a second
                peak_tree[0] = max(peak_tree[0], _tree_pss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed (exit {proc.returncode}); {log}:\n{tail}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "peak_tree_pss_mb": peak_tree[0], "load_avg_before": load_before, "load_avg_after": os.getloadavg()}


def quiet(cmd: list[str]) -> None:
    """Run a set-up command (not timed); fail with its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


# --- data -------------------------------------------------------------------------------------------------
def text_dir() -> Path:
    """The De-En text of `legokit prepare debian-mt` (the espeak_en recipe's, read only, or our own)."""
    for path in TEXT_DIRS:
        if (path / "train" / "text.en").is_file():
            return path
    quiet([str(LEGOKIT), "prepare", "debian-mt", "--pair", "de-en", "--out", str(WORK / "text"),
           "--download-dir", str(WORK / "downloads")])
    return WORK / "text"


def speak_pool() -> None:
    """benchmarks/work/espeak/{train,valid,test} (espeak-ng, once) and their normalised text in .../norm."""
    norm = POOL / "norm"
    if all((norm / s / "text").is_file() for s in POOL_SIZES):
        return
    source = text_dir()
    for splits in (["train"], ["valid", "test"]):
        quiet([str(LEGOKIT), "prepare", "espeak-speech", "--text-dir", str(source), "--out", str(POOL),
               "--splits", *splits, "--max-utts", str(POOL_SIZES[splits[0]]), "--nj", "2"])
    for split in POOL_SIZES:
        shutil.rmtree(norm / split, ignore_errors=True)
        quiet([str(LEGOKIT), "data", "combine", "--normalise-text", str(norm / split), str(POOL / split)])


def read_map(path: Path) -> dict[str, str]:
    return dict((line.split(maxsplit=1) + [""])[:2] for line in path.read_text().splitlines() if line.strip())


def subset(split: str, count: int, out: Path) -> None:
    """``count`` utterances spread evenly over the pool's sorted ids (all voices) -> Kaldi data dir ``out``."""
    src = POOL / "norm" / split
    ids = sorted(read_map(src / "wav.scp"))
    if count > len(ids):
        raise SystemExit(f"--{split}-utts {count}: the pool {src} has {len(ids)} utterances")
    keep = {ids[i * len(ids) // count] for i in range(count)}
    out.mkdir(parents=True, exist_ok=True)
    for name in ("wav.scp", "text", "utt2spk"):
        lines = [line for line in (src / name).read_text().splitlines() if line.split(maxsplit=1)[0] in keep]
        (out / name).write_text("\n".join(lines) + "\n")
    spk2utt: dict[str, list[str]] = {}
    for utt, spk in sorted(read_map(out / "utt2spk").items()):
        spk2utt.setdefault(spk, []).append(utt)
    (out / "spk2utt").write_text("".join(f"{s} {' '.join(u)}\n" for s, u in sorted(spk2utt.items())))


def prepare(args: argparse.Namespace, work: Path) -> dict:
    speak_pool()
    counts = {"train": args.train_utts, "valid": args.valid_utts, "test": args.test_utts}
    for split, count in counts.items():
        shutil.rmtree(work / "data" / split, ignore_errors=True)
        subset(split, count, work / "data" / split)
    spm = WORK / f"spm_unigram{args.vocab}"
    if not spm.with_suffix(".model").is_file():
        quiet([str(LEGOKIT), "tokenizer", "train", "--input", str(POOL / "norm" / "train" / "text"), "--kaldi-text",
               "--model-prefix", str(spm), "--vocab-size", str(args.vocab)])
    # ESPnet's token list: blank, unk, the model's pieces, sos/eos (legokit's 4 special pieces come first)
    pieces = [line.split("\t")[0] for line in spm.with_suffix(".vocab").read_text().splitlines()][4:]
    (work / "tokens.txt").write_text("\n".join(["<blank>", "<unk>", *pieces, "<sos/eos>"]) + "\n")
    audio_s = {}
    for split in counts:
        frames = 0
        for path in read_map(work / "data" / split / "wav.scp").values():
            frames += (Path(path).stat().st_size - 44) // 2  # 16-bit mono PCM wav
        audio_s[split] = frames / 16000
    return {"utterances": counts, "audio_hours": {k: v / 3600 for k, v in audio_s.items()},
            "audio_s": audio_s, "spm": str(spm.with_suffix(".model").relative_to(ROOT)), "vocab": args.vocab}


# --- configurations ----------------------------------------------------------------------------------------
def legokit_config(args: argparse.Namespace) -> str:
    return f"""# written by benchmarks/asr_epoch_espnet.py
model:
  encoder:
    input: speech
    feat_dim: 80
    subsampling: 4
    encoder: {{kind: conformer, num_layers: 12, dim: 256, num_heads: 4, ffn_dim: 1024, dropout: 0.1,
               kernel_size: 31, pos_enc: rel}}
    length_rate: null
    ctc_head: true
  decoder:
    dim: 256
    num_layers: 6
    num_heads: 4
    ffn_dim: 2048
    dropout: 0.1
    ingestor: {{kind: states}}
loss:
  ctc_weight: {0.3 / 0.7:.6f}
  decoder: {{name: ce, label_smoothing: 0.1}}
data:
  task: asr
  max_tokens: {args.max_frames}
  max_batch_size: 64
  specaug: {{}}
optim: {{optimizer: adam, lr: 2.0e-3, weight_decay: 1.0e-6, scheduler: inverse_sqrt, warmup_steps: {args.warmup},
        clip_grad_norm: 5.0}}
train: {{max_epochs: 1, log_interval: 10, keep_best: 1, keep_last_checkpoints: 1, num_threads: {args.threads}}}
average_best: 1
"""


def espnet_config(args: argparse.Namespace) -> str:
    return f"""# written by benchmarks/asr_epoch_espnet.py (ESPnet egs2/librispeech_100 Conformer, 1 epoch, CPU)
encoder: conformer
encoder_conf:
    output_size: 256
    attention_heads: 4
    linear_units: 1024
    num_blocks: 12
    dropout_rate: 0.1
    positional_dropout_rate: 0.1
    attention_dropout_rate: 0.1
    input_layer: conv2d
    normalize_before: true
    macaron_style: true
    rel_pos_type: latest
    pos_enc_layer_type: rel_pos
    selfattention_layer_type: rel_selfattn
    activation_type: swish
    use_cnn_module: true
    cnn_module_kernel: 31
decoder: transformer
decoder_conf:
    attention_heads: 4
    linear_units: 2048
    num_blocks: 6
    dropout_rate: 0.1
    positional_dropout_rate: 0.1
    self_attention_dropout_rate: 0.1
    src_attention_dropout_rate: 0.1
model_conf:
    ctc_weight: 0.3
    lsm_weight: 0.1
    length_normalized_loss: false
frontend_conf:
    n_fft: 512
    win_length: 400
    hop_length: 160
num_att_plot: 0
batch_type: numel
batch_bins: {args.max_frames * SAMPLES_PER_FRAME}
max_epoch: 1
keep_nbest_models: 1
best_model_criterion:
-   - valid
    - acc
    - max
grad_clip: 5.0
optim: adam
optim_conf:
    lr: 0.002
    weight_decay: 0.000001
scheduler: warmuplr
scheduler_conf:
    warmup_steps: {args.warmup}
specaug: specaug
specaug_conf:
    apply_time_warp: true
    time_warp_window: 5
    time_warp_mode: bicubic
    apply_freq_mask: true
    freq_mask_width_range:
    - 0
    - 27
    num_freq_mask: 2
    apply_time_mask: true
    time_mask_width_ratio_range:
    - 0.
    - 0.05
    num_time_mask: 5
"""


# --- the two sides ------------------------------------------------------------------------------------------
def _stamp(line: str) -> datetime | None:
    match = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:,(\d{3}))?", line)
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(
        microsecond=int(match.group(2) or 0) * 1000)


def log_span(log: Path, start: str, end: str) -> float | None:
    """Seconds between the first line containing ``start`` and the first later line containing ``end``."""
    t0 = None
    for line in log.read_text(errors="replace").splitlines():
        if t0 is None and start in line:
            t0 = _stamp(line)
        elif t0 is not None and end in line:
            t1 = _stamp(line)
            return (t1 - t0).total_seconds() if t1 else None
    return None


def legokit_train(args: argparse.Namespace, work: Path, spm: Path) -> dict:
    side = work / "legokit"
    shutil.rmtree(side, ignore_errors=True)
    (side / "conf").mkdir(parents=True)
    (side / "conf" / "train.yaml").write_text(legokit_config(args))
    feats = {}
    for split in ("train", "valid", "test"):
        feats[split] = run_measured([str(LEGOKIT), "features", "--data-dir", str(work / "data" / split),
                                     "--out-dir", str(side / "dump" / split), "--nj", "1"],
                                    side / "log" / f"features_{split}.log", args.threads)
    data = work / "data"
    train = run_measured([str(LEGOKIT), "train", "--config", str(side / "conf" / "train.yaml"), "--out-dir",
                          str(side / "exp"), f"data.train_dir={data / 'train'}", f"data.valid_dir={data / 'valid'}",
                          f"data.train_feats={side / 'dump' / 'train' / 'feats.scp'}",
                          f"data.valid_feats={side / 'dump' / 'valid' / 'feats.scp'}", f"data.tgt_tokenizer={spm}"],
                         side / "log" / "train.log", args.threads)
    log = side / "exp" / "train.log"
    train["epoch_s"] = log_span(log, "training on", "stopped (")  # epoch + validation + checkpoint
    train["updates"] = _last_int(log, r"at step (\d+)")
    return {"features": feats, "train": train}


# legokit decodes the test set with its defaults, then with these stopping rules (docs/decoding.md):
# ESPnet's end detection on top of the default, and no early stop at all (the reference of the exact bound)
LEGOKIT_DECODE_VARIANTS = {"end_detect3": ["beam.end_detect=3"], "no_early_stop": ["beam.early_stop=none"]}


def legokit_decode(args: argparse.Namespace, work: Path, variant: str = "", extra: tuple[str, ...] = ()) -> dict:
    side = work / "legokit"
    name = "decode" + (f"_{variant}" if variant else "")
    hyp = side / name / "hyp"
    run = run_measured([str(LEGOKIT), "decode", "--model", str(side / "exp" / "model.pt"), "--data-dir",
                        str(work / "data" / "test"), "--feats", str(side / "dump" / "test" / "feats.scp"),
                        "--out", str(hyp), f"beam.beam_size={args.beam}", f"beam.ctc_weight={args.ctc_weight}",
                        "beam.length_penalty=0.0", f"num_threads={args.threads}", *extra],
                       side / "log" / f"{name}.log", args.threads)
    loop = re.search(r"decoded \d+ utterances .* in ([\d.]+) s", (side / "log" / f"{name}.log").read_text())
    return {**run, "hyp": hyp, "loop_s": float(loop.group(1)) if loop else None}


def espnet_args(work: Path, spm: Path) -> list[str]:
    return ["--use_preprocessor", "true", "--bpemodel", str(spm), "--token_type", "bpe", "--token_list",
            str(work / "tokens.txt"), "--non_linguistic_symbols", "none", "--cleaner", "none", "--g2p", "none",
            "--ngpu", "0", "--config", str(work / "espnet" / "conf" / "train.yaml")]


def espnet_data(work: Path) -> list[str]:
    data = work / "data"
    return ["--train_data_path_and_name_and_type", f"{data / 'train' / 'wav.scp'},speech,sound",
            "--train_data_path_and_name_and_type", f"{data / 'train' / 'text'},text,text",
            "--valid_data_path_and_name_and_type", f"{data / 'valid' / 'wav.scp'},speech,sound",
            "--valid_data_path_and_name_and_type", f"{data / 'valid' / 'text'},text,text"]


def espnet_train(args: argparse.Namespace, work: Path, spm: Path, python: Path) -> dict:
    side = work / "espnet"
    shutil.rmtree(side, ignore_errors=True)
    (side / "conf").mkdir(parents=True)
    (side / "conf" / "train.yaml").write_text(espnet_config(args))
    data = work / "data"
    stats = run_measured([str(python), "-m", "espnet2.bin.asr_train", "--collect_stats", "true",
                          *espnet_args(work, spm), *espnet_data(work),
                          "--train_shape_file", str(data / "train" / "wav.scp"),
                          "--valid_shape_file", str(data / "valid" / "wav.scp"), "--output_dir", str(side / "stats")],
                         side / "log" / "collect_stats.log", args.threads)
    train = run_measured([str(python), "-m", "espnet2.bin.asr_train", *espnet_args(work, spm), *espnet_data(work),
                          "--normalize", "global_mvn", "--normalize_conf",
                          f"stats_file={side / 'stats' / 'train' / 'feats_stats.npz'}",
                          "--train_shape_file", str(side / "stats" / "train" / "speech_shape"),
                          "--valid_shape_file", str(side / "stats" / "valid" / "speech_shape"),
                          "--output_dir", str(side / "exp")],
                         side / "log" / "train.log", args.threads)
    log = side / "log" / "train.log"
    train["epoch_s"] = log_span(log, "1epoch started", "The training was finished")
    train["updates"] = _first_int(log, r"\[train\] Batch sampler: \w+\(N-batch=(\d+)")
    return {"collect_stats": stats, "train": train}


def espnet_decode(args: argparse.Namespace, work: Path, python: Path) -> dict:
    side = work / "espnet"
    exp = side / "exp"
    model = next(p for p in (exp / "valid.acc.ave.pth", exp / "valid.acc.best.pth", exp / "1epoch.pth") if p.exists())
    out = side / "decode"
    shutil.rmtree(out, ignore_errors=True)
    run = run_measured([str(python), "-m", "espnet2.bin.asr_inference", "--ngpu", "0", "--batch_size", "1",
                        "--nbest", "1", "--beam_size", str(args.beam), "--ctc_weight", str(args.ctc_weight),
                        "--penalty", "0.0", "--maxlenratio", "0.0", "--minlenratio", "0.0", "--lm_weight", "0.0",
                        "--data_path_and_name_and_type", f"{work / 'data' / 'test' / 'wav.scp'},speech,sound",
                        "--asr_train_config", str(exp / "config.yaml"), "--asr_model_file", str(model),
                        "--output_dir", str(out)], side / "log" / "decode.log", args.threads)
    stamps = [_stamp(x) for x in (side / "log" / "decode.log").read_text(errors="replace").splitlines()
              if "best hypo:" in x or "speech length:" in x]
    stamps = [t for t in stamps if t is not None]
    loop_s = (stamps[-1] - stamps[0]).total_seconds() if len(stamps) > 1 else None  # first input to last output
    return {**run, "hyp": out / "1best_recog" / "text", "model_file": model.name, "loop_s": loop_s}


def _last_int(log: Path, pattern: str) -> int | None:
    found = re.findall(pattern, log.read_text(errors="replace"))
    return int(found[-1]) if found else None


def _first_int(log: Path, pattern: str) -> int | None:
    found = re.findall(pattern, log.read_text(errors="replace"))
    return int(found[0]) if found else None


def score(work: Path, hyp: Path, spm: Path) -> dict:
    """WER (legokit score on both sides' hypotheses) and output tokens (the shared sentencepiece model)."""
    import sentencepiece

    proc = subprocess.run([str(LEGOKIT), "score", "wer", "--ref", str(work / "data" / "test" / "text"), "--hyp",
                           str(hyp), "--kaldi", "--json"], capture_output=True, text=True, cwd=ROOT, check=True)
    wer = json.loads(proc.stdout.strip().splitlines()[-1])
    sp = sentencepiece.SentencePieceProcessor(model_file=str(spm))
    hyps = read_map(hyp)
    tokens = sum(len(sp.encode(text)) for text in hyps.values())
    return {"wer": wer.get("wer", wer), "hypotheses": len(hyps), "output_tokens": tokens}


# --- profile of legokit's epoch and decode -------------------------------------------------------------------
PROFILE_GROUPS = {
    "train": [
        ("data loading + collation (DataLoader.__next__)", "torch/utils/data/dataloader.py", "__next__"),
        ("  of which SpecAugment", "legokit/data/specaug.py", "forward"),
        ("forward (training batches and validation)", "legokit/train/trainer.py", "_forward"),
        ("backward", "torch/_tensor.py", "backward"),
        ("gradient scaling + clipping", "torch/nn/utils/clip_grad.py", "clip_grad_norm_"),
        ("optimiser step", "torch/optim/optimizer.py", "wrapper"),
        ("validation (all of it)", "legokit/train/trainer.py", "validate"),
        ("checkpoints", "legokit/train/trainer.py", "save"),
        ("model averaging + brick export", "legokit/workflows/experiment.py", "export_bricks"),
        ("the whole fit()", "legokit/train/trainer.py", "fit"),
    ],
    "decode": [
        ("reading features + batching", "torch/utils/data/dataloader.py", "__next__"),
        ("encoder", "legokit/lego/model.py", "encode"),
        ("beam search (all of it)", "legokit/decode/beam_search.py", "beam_search"),
        ("  CTC prefix scoring", "legokit/decode/ctc.py", "score"),
        ("  decoder steps", "legokit/lego/decoders.py", "step"),
        ("  decoder state reorders", "legokit/lego/decoders.py", "reorder_state"),
        ("model loading", "legokit/lego/loading.py", "load_bricks"),
    ],
}


def profile_worker(args: argparse.Namespace) -> None:
    """Runs `legokit <args.profile_cmd>` under cProfile in this process; prints the grouped cumulative times."""
    from legokit.cli import main as legokit_main

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    try:
        legokit_main(args.profile_cmd)
    except SystemExit:
        pass
    profiler.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    groups = {}
    for label, file, func in PROFILE_GROUPS[args.profile_kind]:
        # the largest: `fit` is both legokit.train.trainer.fit and Trainer.fit, one inside the other
        cum = max((v[3] for (f, _, name), v in stats.stats.items() if f.endswith(file) and name == func), default=0.0)
        groups[label] = cum
    print("PROFILE " + json.dumps({"total_s": total, "groups": groups}), flush=True)


def legokit_profile(args: argparse.Namespace, work: Path, spm: Path) -> dict:
    side, data = work / "legokit", work / "data"
    out = {}
    commands = {
        "train": ["train", "--config", str(side / "conf" / "train.yaml"), "--out-dir", str(side / "exp_profile"),
                  f"data.train_dir={data / 'train'}", f"data.valid_dir={data / 'valid'}",
                  f"data.train_feats={side / 'dump' / 'train' / 'feats.scp'}",
                  f"data.valid_feats={side / 'dump' / 'valid' / 'feats.scp'}", f"data.tgt_tokenizer={spm}"],
        "decode": ["decode", "--model", str(side / "exp" / "model.pt"), "--data-dir", str(data / "test"),
                   "--feats", str(side / "dump" / "test" / "feats.scp"), "--out", str(side / "decode_profile" / "hyp"),
                   f"beam.beam_size={args.beam}", f"beam.ctc_weight={args.ctc_weight}", "beam.length_penalty=0.0",
                   f"num_threads={args.threads}"],
    }
    for kind, cmd in commands.items():
        shutil.rmtree(side / "exp_profile", ignore_errors=True)
        log = side / "log" / f"profile_{kind}.log"
        run_measured([sys.executable, __file__, "--profile-worker", kind, "--", *cmd], log, args.threads)
        line = next(x for x in log.read_text().splitlines() if x.startswith("PROFILE "))
        out[kind] = json.loads(line[8:])
    return out


# --- driver ----------------------------------------------------------------------------------------------
def drive(args: argparse.Namespace) -> dict:
    work = WORK / ("asr_epoch_quick" if args.quick else "asr_epoch")
    set_threads(args.threads)
    record: dict = {"benchmark": "asr_epoch_espnet", "machine": machine(), "args": vars(args),
                    "matmul_gflops_before": matmul_gflops(args.threads)}
    git = ["git", "-C", str(ROOT)]
    record["git"] = {"commit": subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                              check=False).stdout.strip(),
                     "uncommitted_legokit_files": subprocess.run([*git, "status", "--porcelain", "legokit"],
                                                                 capture_output=True, text=True,
                                                                 check=False).stdout.split("\n")[:-1]}
    record["data"] = prepare(args, work)
    spm = ROOT / record["data"]["spm"]
    espnet = peer_python("espnet")
    lk = legokit_train(args, work, spm)
    record["legokit"] = {"features": lk["features"], "train": lk["train"]}
    if espnet:
        es = espnet_train(args, work, spm, espnet)
        record["espnet"] = {"collect_stats": es["collect_stats"], "train": es["train"]}
    decode = legokit_decode(args, work)
    record["legokit"]["decode"] = {k: v for k, v in decode.items() if k != "hyp"} | score(work, decode["hyp"], spm)
    default_hyps = read_map(decode["hyp"])
    record["legokit"]["decode_variants"] = {}
    for variant, extra in LEGOKIT_DECODE_VARIANTS.items():
        other = legokit_decode(args, work, variant, tuple(extra))
        hyps = read_map(other["hyp"])
        record["legokit"]["decode_variants"][variant] = (
            {k: v for k, v in other.items() if k != "hyp"} | score(work, other["hyp"], spm) | {
                "overrides": extra, "identical_to_default": sum(hyps.get(u) == h for u, h in default_hyps.items())})
    if espnet:
        decode = espnet_decode(args, work, espnet)
        record["espnet"]["decode"] = {k: v for k, v in decode.items() if k != "hyp"} | score(work, decode["hyp"], spm)
    if args.profile:
        record["legokit_profile"] = legokit_profile(args, work, spm)
    record["matmul_gflops_after"] = matmul_gflops(args.threads)
    record["machine"]["load_avg_end"] = os.getloadavg()
    return record


def report(record: dict) -> str:
    lk, es = record["legokit"], record.get("espnet", {})
    n = record["data"]["utterances"]
    audio = record["data"]["audio_s"]

    def get(side: dict, *keys: str) -> float | None:
        for key in keys:
            side = side.get(key) if isinstance(side, dict) else None
        return side

    def fmt(value: float | None, digits: int = 1) -> str:
        return "n/a" if value is None else f"{value:,.{digits}f}"

    lk_dec, es_dec = lk["decode"], es.get("decode", {})
    rows = [
        ("training, whole command (1 epoch)", "s", get(lk, "train", "wall_s"), get(es, "train", "wall_s"), False),
        ("training, the epoch (log: start to end, with validation + checkpoint)", "s",
         get(lk, "train", "epoch_s"), get(es, "train", "epoch_s"), False),
        ("training throughput (whole command)", "utterances/s",
         n["train"] / lk["train"]["wall_s"], n["train"] / es["train"]["wall_s"] if es else None, True),
        ("updates in the epoch", "count", get(lk, "train", "updates"), get(es, "train", "updates"), None),
        ("training peak RSS, largest process", "MB", get(lk, "train", "peak_rss_mb"),
         get(es, "train", "peak_rss_mb"), False),
        ("training peak PSS, process tree (with DataLoader workers)", "MB", get(lk, "train", "peak_tree_pss_mb"),
         get(es, "train", "peak_tree_pss_mb"), False),
        ("feature pass before training (legokit features ×3 / ESPnet collect_stats)", "s",
         sum(v["wall_s"] for v in lk["features"].values()), get(es, "collect_stats", "wall_s"), False),
        ("decoding the test set, whole command", "utterances/s", n["test"] / lk_dec["wall_s"],
         n["test"] / es_dec["wall_s"] if es_dec else None, True),
        ("same, test-set features included (legokit features of the test set + decode)", "utterances/s",
         n["test"] / (lk_dec["wall_s"] + lk["features"]["test"]["wall_s"]),
         n["test"] / es_dec["wall_s"] if es_dec else None, True),
        ("decoding loop only (model loaded; from each toolkit's log)", "utterances/s",
         n["test"] / lk_dec["loop_s"] if lk_dec.get("loop_s") else None,
         n["test"] / es_dec["loop_s"] if es_dec.get("loop_s") else None, True),
        *[(f"same, legokit with {' '.join(v['overrides'])} ({v['identical_to_default']}/{n['test']} hypotheses "
            "identical to its default's)", "utterances/s", n["test"] / v["loop_s"] if v.get("loop_s") else None,
            n["test"] / es_dec["loop_s"] if es_dec.get("loop_s") else None, True)
          for v in lk.get("decode_variants", {}).values()],
        ("decoding RTF (whole command / audio)", "", lk_dec["wall_s"] / audio["test"],
         es_dec["wall_s"] / audio["test"] if es_dec else None, False),
        ("output tokens per utterance", "", lk_dec["output_tokens"] / n["test"],
         es_dec["output_tokens"] / n["test"] if es_dec else None, None),
        ("decoding, ms per output token", "ms", 1000 * lk_dec["wall_s"] / max(lk_dec["output_tokens"], 1),
         1000 * es_dec["wall_s"] / max(es_dec["output_tokens"], 1) if es_dec else None, False),
        ("WER after the epoch", "%", lk_dec["wer"], get(es_dec, "wer"), None),
        ("decoding peak RSS, largest process", "MB", lk_dec["peak_rss_mb"], get(es_dec, "peak_rss_mb"), False),
    ]
    out = ["| metric | unit | legokit | ESPnet | legokit/ESPnet |", "|---|---|---:|---:|---:|"]
    for metric, unit, ours, theirs, higher in rows:
        if higher is None:
            r = ""
        elif not ours or not theirs:
            r = "n/a"
        elif higher:
            r = f"{ours / theirs:.2f}×"
        else:  # lower is better: how many times less time or memory legokit takes
            time_like = unit in ("s", "", "ms")
            r = (f"{theirs / ours:.2f}× " + ("faster" if time_like else "less") if theirs >= ours else
                 f"{ours / theirs:.2f}× " + ("slower" if time_like else "more"))
        digits = 0 if unit in ("MB", "count") else 2 if unit in ("", "utterances/s") else 1
        out.append(f"| {metric} | {unit} | {fmt(ours, digits)} | {fmt(theirs, digits)} | {r} |")
    hours = record["data"]["audio_hours"]
    out += ["", f"data: {n['train']} training utterances ({hours['train']:.2f} h), {n['valid']} valid, "
            f"{n['test']} test ({hours['test']:.2f} h); threads {record['args']['threads']}",
            f"fp32 matmul ceiling: {record['matmul_gflops_before']:.0f} / {record['matmul_gflops_after']:.0f} "
            f"GFLOP/s (before / after); load average at start {record['machine']['load_avg']}, at end "
            f"{record['machine']['load_avg_end']}"]
    if "legokit_profile" in record:
        for kind, prof in record["legokit_profile"].items():
            out.append(f"\nlegokit {kind} profile (cProfile, cumulative; whole command {prof['total_s']:.1f} s):")
            out += [f"  {label}: {sec:.2f} s ({100 * sec / prof['total_s']:.1f}%)"
                    for label, sec in prof["groups"].items()]
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="32 training, 8 valid, 8 test utterances (make bench)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on every side")
    parser.add_argument("--train-utts", type=int, default=600, help="training utterances (pool: 2000)")
    parser.add_argument("--valid-utts", type=int, default=60, help="validation utterances (pool: 300)")
    parser.add_argument("--test-utts", type=int, default=150, help="decoded test utterances (pool: 300)")
    parser.add_argument("--vocab", type=int, default=500, help="sentencepiece unigram vocabulary, both sides")
    parser.add_argument("--max-frames", type=int, default=24000,
                        help="batch budget: legokit max_tokens frames; ESPnet batch_bins = this × 160 samples")
    parser.add_argument("--warmup", type=int, default=25, help="warm-up updates of the learning rate, both sides")
    parser.add_argument("--beam", type=int, default=10, help="beam size, both sides")
    parser.add_argument("--ctc-weight", type=float, default=0.3, help="CTC weight of the joint search, both sides")
    parser.add_argument("--profile", action="store_true", help="also profile legokit's epoch and decode (cProfile)")
    parser.add_argument("--profile-worker", choices=sorted(PROFILE_GROUPS), dest="profile_kind",
                        help=argparse.SUPPRESS)
    parser.add_argument("profile_cmd", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.train_utts, args.valid_utts, args.test_utts, args.max_frames, args.warmup = 32, 8, 8, 8000, 4
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile_kind:
        profile_worker(args)
        return 0
    record = drive(args)
    path = write_record("asr_epoch_espnet", record, args.quick)
    print(report(record))
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
