"""MT on real data side by side with fairseq: a whole training epoch and a whole test set decoded.

Data: the De-En pairs `legokit prepare debian-mt --pair de-en` builds (all sources; --data, or the first prepared
copy found in the repository, else prepared under benchmarks/work/). One sentencepiece model per language, as the
recipe's stage 2 makes them (`legokit tokenizer train`, unigram, 1000 pieces), used by both toolkits: legokit
reads the text and tokenises it; fairseq gets the same pieces binarized by `fairseq-preprocess` with dictionaries
written from the sentencepiece vocabularies (fairseq id i = sentencepiece id i for every ordinary piece).

Model on both sides (--size recipe): egs/debian_de_en/mt1 conf/train_baseline.yaml, the monolithic Transformer
(3 + 3 pre-norm layers, d 256, 4 heads, FFN 1024, dropout 0.1 on residuals, attention and FFN activations, decoder
input/output embeddings tied), label smoothing 0.1, Adam (0.9, 0.98, eps 1e-9), lr 1.5e-3 with inverse-sqrt and 200
warm-up updates, clipping at 5, batches of at most 6000 padded tokens and 256 sentences; --size base is
transformer-base (6 + 6, d 512, 8 heads, FFN 2048).

- train: one epoch with each toolkit's own trainer (`legokit train` with train.max_epochs=1; `fairseq-train
  --max-epoch 1`), validation and checkpoint at the end of the epoch as both do by default. Reported: the epoch's
  wall time (legokit Trainer.fit / fairseq's train() of the epoch, validation and checkpoints included) and the
  whole command's, target tokens/s (eos included, like fairseq's wps), padding fraction of the batches each
  toolkit built, peak RSS, and the validation loss of both after the same number of updates (both validate at
  the update count of the shorter epoch). The time of each phase (data, forward, backward, optimiser, the rest
  of the update, validation, checkpoints) is measured inside the same run by wrapping the functions that do it.
- decode: fairseq's trained weights in both (:func:`mt_fairseq.fairseq_to_legokit`), beam 5, the test set:
  `fairseq-generate` against `legokit decode`'s decode_dir, each with its default batching and with the other
  batch settings given by --decode-settings; sentences/s of the whole call (model load, data, search, output)
  and identical hypotheses counted. legokit's sources get the eos fairseq appends to every source (the
  converted encoder has seen it in training); lengths as fairseq-generate's defaults (max 200 tokens, lenpen 1).

Usage:
    .venv/bin/python benchmarks/mt_epoch_fairseq.py                # full data, recipe size
    .venv/bin/python benchmarks/mt_epoch_fairseq.py --quick        # 1/20 of the data (make bench)
    .venv/bin/python benchmarks/mt_epoch_fairseq.py --size base --max-updates 100 --skip-decode
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    LEGOKIT_PYTHON,
    ROOT,
    benchmark_main,
    machine,
    matmul_gflops,
    peer_python,
    ratio,
    run_worker,
)

WORK = ROOT / "benchmarks" / "work" / "mt_epoch"
DATA_CANDIDATES = ["egs/debian_de_en/mt1/data", "egs/lego_reuse/lego1/data/de_en", "egs/espeak_en/asr1/data/text"]
SRC, TGT, VOCAB = "de", "en", 1000
SIZES = {"recipe": {"layers": 3, "dim": 256, "heads": 4, "ffn": 1024},
         "base": {"layers": 6, "dim": 512, "heads": 8, "ffn": 2048}}
BASELINE_CONFIG = ROOT / "egs" / "debian_de_en" / "mt1" / "conf" / "train_baseline.yaml"
QUICK_EVERY = {"train": 20, "valid": 5, "test": 10}  # --quick keeps every n-th pair of each set
FS_BOS, FS_PAD, FS_EOS, FS_UNK = 0, 1, 2, 3
# trained weights: each special token to its namesake (fairseq id -> legokit id)
FS_TO_LK_TRAINED = {FS_BOS: 2, FS_PAD: 0, FS_EOS: 3, FS_UNK: 1}


# --- timing of phases inside a worker -----------------------------------------------------------------------
class Phases:
    """Inclusive seconds and call counts per phase, from wrapped functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, owner: object, name: str, phase: str, when=None) -> None:
        """Replace owner.name by a timed wrapper; ``when(*args)`` decides whether a call counts."""
        original = getattr(owner, name)

        def timed_call(*args, **kwargs):
            if when is not None and not when(*args, **kwargs):
                return original(*args, **kwargs)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - start
                self.calls[phase] += 1

        setattr(owner, name, timed_call)

    def iterate(self, iterable, phase: str, record=None):
        """Yield from iterable, timing each next() under ``phase``; ``record(item)`` sees every item."""
        iterator = iter(iterable)
        while True:
            start = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.seconds[phase] += time.perf_counter() - start
                return
            self.seconds[phase] += time.perf_counter() - start
            self.calls[phase] += 1
            if record is not None:
                record(item)
            yield item

    def as_dict(self) -> dict:
        return {"seconds": dict(self.seconds), "calls": dict(self.calls)}


class BatchStats:
    """Sentences, real and padded positions of the source and target as the model sees them."""

    def __init__(self) -> None:
        self.batches = self.sentences = 0
        self.src_real = self.src_padded = self.tgt_real = self.tgt_padded = 0

    def add(self, sentences: int, src_real: int, src_max: int, tgt_real: int, tgt_max: int) -> None:
        self.batches += 1
        self.sentences += sentences
        self.src_real += src_real
        self.src_padded += sentences * src_max
        self.tgt_real += tgt_real
        self.tgt_padded += sentences * tgt_max

    def as_dict(self) -> dict:
        real, padded = self.src_real + self.tgt_real, self.src_padded + self.tgt_padded
        return {"batches": self.batches, "sentences": self.sentences, "src_tokens": self.src_real,
                "tgt_tokens": self.tgt_real, "src_padded": self.src_padded, "tgt_padded": self.tgt_padded,
                "padding_fraction": 1 - real / max(padded, 1),
                "tgt_padding_fraction": 1 - self.tgt_real / max(self.tgt_padded, 1),
                "padded_tokens_per_batch": padded / max(self.batches, 1)}


def rss() -> dict:
    """Peak RSS of this worker process, MB (not its children: a forked DataLoader worker shares the parent's
    pages, and a child's ru_maxrss counts them again)."""
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# --- data preparation (driver, legokit's Python) ------------------------------------------------------------
def find_data(args: argparse.Namespace) -> Path:
    """The prepared De-En data dir: --data, a recipe's copy, or `legokit prepare debian-mt` under benchmarks/work."""
    candidates = [Path(args.data)] if args.data else [ROOT / c for c in DATA_CANDIDATES]
    for path in candidates:
        if all((path / split / f"text.{lang}").is_file() for split in ("train", "valid", "test")
               for lang in (SRC, TGT)):
            return path
    if args.data:
        from legokit.errors import LegokitError

        raise LegokitError(f"--data {args.data}: expected train/, valid/ and test/ with text.{SRC} and text.{TGT}")
    out = WORK / "data"
    subprocess.run([str(ROOT / ".venv" / "bin" / "legokit"), "prepare", "debian-mt", "--pair", "de-en", "--out",
                    str(out), "--download-dir", str(WORK / "downloads")], check=True)
    return out


def digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def prepare(args: argparse.Namespace, fairseq: Path | None) -> dict:
    """Tokenizers, the (sub)sampled data dirs, sentencepiece-encoded text, fairseq dictionaries and binaries."""
    from legokit.data.datadir import read_text_dir
    from legokit.data.tokenizer import Tokenizer, train_tokenizer

    data = find_data(args)
    files = [data / s / f"text.{lang}" for s in ("train", "valid", "test") for lang in (SRC, TGT)]
    work = WORK / f"{digest(*files)}{'_quick' if args.quick else ''}"
    tok_dir = WORK / f"tok_{digest(*files[:2])}"
    tokenizers = {}
    for lang in (SRC, TGT):  # the recipe's stage 2, on the whole training set (also in --quick)
        model = tok_dir / f"{lang}.model"
        if not model.is_file():
            train_tokenizer([str(data / "train" / f"text.{lang}")], str(tok_dir / lang), VOCAB, "unigram",
                            kaldi_text=True)
        tokenizers[lang] = Tokenizer.load(model)
    info = {"data": str(data.relative_to(ROOT)) if data.is_relative_to(ROOT) else str(data), "work": str(work),
            "tokenizers": {lang: str(tok_dir / f"{lang}.model") for lang in (SRC, TGT)}, "sets": {}}
    done = work / ".prepared"
    for split in ("train", "valid", "test"):
        examples = read_text_dir(data / split, [SRC, TGT])
        if args.quick:
            examples = examples[::QUICK_EVERY[split]]
        info["sets"][split] = {"pairs": len(examples), "ids": [ex.utt_id for ex in examples]}
        if done.is_file():
            continue
        out = work / "data" / split
        out.mkdir(parents=True, exist_ok=True)
        (work / "spm").mkdir(parents=True, exist_ok=True)
        for lang in (SRC, TGT):
            texts = [ex.sentences[lang] for ex in examples]
            (out / f"text.{lang}").write_text("".join(f"{ex.utt_id} {t}\n" for ex, t in zip(examples, texts)))
            pieces = tokenizers[lang].sp.EncodeAsPieces(texts)
            (work / "spm" / f"{split}.{lang}").write_text("".join(" ".join(p) + "\n" for p in pieces))
    if not done.is_file():
        for lang in (SRC, TGT):  # fairseq dictionary: its 4 specials, then sentencepiece ids 4.. in order
            pieces = tokenizers[lang].pieces[4:]
            (work / f"dict.{lang}.txt").write_text("".join(f"{p} 1\n" for p in pieces))
        done.write_text("ok\n")
    binary = work / "fairseq-bin"
    if fairseq is not None and not (binary / ".done").is_file():
        shutil.rmtree(binary, ignore_errors=True)
        spm = work / "spm"
        subprocess.run([str(fairseq.parent / "fairseq-preprocess"), "--source-lang", SRC, "--target-lang", TGT,
                        "--trainpref", str(spm / "train"), "--validpref", str(spm / "valid"),
                        "--testpref", str(spm / "test"), "--destdir", str(binary),
                        "--srcdict", str(work / f"dict.{SRC}.txt"), "--tgtdict", str(work / f"dict.{TGT}.txt"),
                        "--workers", str(args.threads)], check=True, capture_output=True)
        (binary / ".done").write_text("ok\n")
    info["fairseq_bin"] = str(binary)
    for split in ("train", "valid"):
        info["sets"][split].pop("ids")
    return info


# --- legokit side -------------------------------------------------------------------------------------------
def legokit_overrides(args: argparse.Namespace, work: Path, out_dir: Path) -> list[str]:
    size = SIZES[args.size]
    over = ["data.task=mt", f"data.src_lang={SRC}", f"data.tgt_lang={TGT}",
            f"data.train_dir={work / 'data' / 'train'}", f"data.valid_dir={work / 'data' / 'valid'}",
            f"data.src_tokenizer={args.tok_src}", f"data.tgt_tokenizer={args.tok_tgt}",
            f"data.max_tokens={args.max_tokens}", "train.max_epochs=1", "train.device=cpu", "train.seed=1",
            f"train.log_interval={args.log_interval}"]
    if args.max_updates:
        over.append(f"train.max_steps={args.max_updates}")
    if args.valid_at:
        over.append(f"train.valid_interval={args.valid_at}")
    for side in ("model.encoder.encoder", "model.decoder"):
        over += [f"{side}.num_layers={size['layers']}", f"{side}.dim={size['dim']}",
                 f"{side}.num_heads={size['heads']}", f"{side}.ffn_dim={size['ffn']}"]
    return over


def legokit_count(args: argparse.Namespace) -> dict:
    """The batches of epoch 1 as `legokit train` makes them (its sampler, seed 1), without training."""
    from legokit.config import load_config
    from legokit.workflows.experiment import ExperimentConfig, load_data, make_loader

    work = Path(args.work)
    cfg = load_config(ExperimentConfig, str(BASELINE_CONFIG), legokit_overrides(args, work, work / "unused"))
    data = load_data(cfg.data)
    stats = BatchStats()
    lengths_s = [len(s) for s in data.train.sources]
    lengths_t = [len(t) for t in data.train.targets]
    loader = make_loader(data.train, cfg.data, True, cfg.train.seed, epoch=1)
    for batch in loader.batch_sampler:
        src = [lengths_s[i] for i in batch]
        tgt = [lengths_t[i] + 1 for i in batch]  # the decoder's U + 1 positions (bos + target / target + eos)
        stats.add(len(batch), sum(src), max(src), sum(tgt), max(tgt))
    return stats.as_dict()


def legokit_train(args: argparse.Namespace) -> dict:
    """`legokit train` in this process (experiment.train, what the command runs), with phase timers."""
    t0 = time.perf_counter()
    from legokit.train import trainer as trainer_mod
    from legokit.train.monitor import read_metrics
    from legokit.workflows import experiment

    phases, stats = Phases(), BatchStats()
    Trainer = trainer_mod.Trainer

    def record(batch: dict) -> None:
        src, tgt = batch["source_lengths"], batch["target_lengths"] + 1
        stats.add(len(src), int(src.sum()), int(src.max()), int(tgt.sum()), int(tgt.max()))

    fit = Trainer.fit

    def timed_fit(self, train_batches, valid_batches, resume=True):
        phases.seconds["startup"] = time.perf_counter() - t0
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return fit(self, lambda epoch: phases.iterate(train_batches(epoch), "data", record), valid_batches,
                       resume)
        finally:
            phases.seconds["epoch"] = time.perf_counter() - start
            phases.seconds["epoch_cpu"] = time.process_time() - cpu

    init = Trainer.__init__

    def timed_init(self, *a, **k):
        init(self, *a, **k)
        phases.wrap(self.optimizer, "step", "optimizer")

    Trainer.fit, Trainer.__init__ = timed_fit, timed_init
    phases.wrap(Trainer, "_forward", "forward", when=lambda self, model, batch: model.training)
    phases.wrap(Trainer, "_accumulate", "forward_backward")
    phases.wrap(Trainer, "_update", "update")
    phases.wrap(Trainer, "validate", "validation")
    phases.wrap(Trainer, "save", "checkpoint")
    out_dir = Path(args.out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    start = time.perf_counter()
    experiment.train(str(BASELINE_CONFIG), legokit_overrides(args, Path(args.work), out_dir), out_dir)
    total = time.perf_counter() - start
    valid = [r for r in read_metrics(out_dir / "metrics.jsonl") if r.get("event") == "valid"]
    return {"command_s": total, "since_start_s": time.perf_counter() - t0, "phases": phases.as_dict(),
            "batches": stats.as_dict(), "valid": [{"step": r["step"], "loss": r["loss"]} for r in valid],
            "model": str(out_dir / "model.pt"), **rss()}


def legokit_decode(args: argparse.Namespace) -> dict:
    """decode_dir (what `legokit decode` runs) with fairseq's trained weights, sources ending in eos."""
    t0 = time.perf_counter()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from mt_fairseq import fairseq_positions, fairseq_to_legokit, token_permutation

    from legokit.data.tokenizer import Tokenizer
    from legokit.lego.loading import load_bricks
    from legokit.workflows import decode as decode_mod

    start = time.perf_counter()  # like fairseq-generate's: loading the model (and mapping the weights) counts
    bricks = load_bricks(args.model)
    state = fairseq_to_legokit(torch.load(args.weights, weights_only=True),
                               perm=token_permutation(VOCAB, FS_TO_LK_TRAINED))
    encoder, decoder = bricks[0].module, bricks[-1].module
    if decoder.cfg.tie_embeddings:
        state.pop("decoder.output.weight")  # the same tensor as decoder.embed.weight (bos row = fairseq's eos)
    for module, prefix in ((encoder, "encoders.0."), (decoder, "decoder.")):
        part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        missing, unexpected = module.load_state_dict(part, strict=False)
        missing = [k for k in missing if "length_stats" not in k and not k.endswith("output.weight")]
        if missing or unexpected:
            raise RuntimeError(f"weight mapping ({prefix}): missing {missing}, unexpected {unexpected}")
        module.pos.pe = fairseq_positions(1024, module.pos.dim)
    encode = Tokenizer.encode_batch
    Tokenizer.encode_batch = lambda self, texts: [ids + [self.vocab.eos] for ids in encode(self, texts)]
    decode_mod.load_bricks = lambda path: bricks
    cfg = decode_mod.DecodeConfig()
    cfg.beam = decode_mod.BeamSearchConfig(beam_size=5, length_penalty=1.0, max_len_ratio=0.0,
                                           max_len_offset=args.max_len)
    for item in args.setting.split(","):
        if item and item != "default":
            key, value = item.split("=")
            setattr(cfg, key, int(value))
    out = Path(args.out_dir) / f"hyp.legokit.{args.setting}"
    stats = decode_mod.decode_dir(Path(args.model), Path(args.work) / "data" / "test", out, cfg, src_lang=SRC)
    seconds = time.perf_counter() - start
    hyps = dict(line.rstrip("\n").split(" ", 1) if " " in line else (line.strip(), "")
                for line in out.read_text().splitlines())
    return {"seconds": seconds, "loop_s": stats["seconds"], "since_start_s": time.perf_counter() - t0,
            "sentences": stats["utterances"], "hyps": hyps, **rss()}


# --- fairseq side (runs in benchmarks/venvs/fairseq) --------------------------------------------------------
def fairseq_argv(args: argparse.Namespace) -> list[str]:
    size = SIZES[args.size]
    argv = [args.bin, "--task", "translation", "--source-lang", SRC, "--target-lang", TGT, "--arch", "transformer",
            "--encoder-layers", str(size["layers"]), "--decoder-layers", str(size["layers"]),
            "--encoder-embed-dim", str(size["dim"]), "--decoder-embed-dim", str(size["dim"]),
            "--encoder-ffn-embed-dim", str(size["ffn"]), "--decoder-ffn-embed-dim", str(size["ffn"]),
            "--encoder-attention-heads", str(size["heads"]), "--decoder-attention-heads", str(size["heads"]),
            "--encoder-normalize-before", "--decoder-normalize-before", "--share-decoder-input-output-embed",
            "--dropout", "0.1", "--attention-dropout", "0.1", "--activation-dropout", "0.1",
            "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
            "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--adam-eps", "1e-9", "--lr", "1.5e-3",
            "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "200", "--clip-norm", "5.0",
            "--max-tokens", str(args.max_tokens), "--batch-size", "256", "--max-epoch", "1", "--seed", "1",
            "--cpu", "--log-format", "json", "--log-interval", str(args.log_interval), "--save-dir", args.out_dir]
    if args.max_updates:
        argv += ["--max-update", str(args.max_updates)]
    if args.valid_at:
        argv += ["--validate-interval-updates", str(args.valid_at)]
    return argv


def fairseq_count(args: argparse.Namespace) -> dict:
    """The batches of epoch 1 as fairseq-train makes them (task.get_batch_iterator with its options)."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    parser = options.get_training_parser()
    cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(parser, fairseq_argv(args)))
    task = tasks.setup_task(cfg.task)
    task.load_dataset("train", epoch=1)
    dataset = task.dataset("train")
    itr = task.get_batch_iterator(dataset, max_tokens=cfg.dataset.max_tokens, max_sentences=cfg.dataset.batch_size,
                                  max_positions=task.max_positions(), ignore_invalid_inputs=True,
                                  required_batch_size_multiple=cfg.dataset.required_batch_size_multiple,
                                  seed=cfg.common.seed, num_workers=0, epoch=1)
    stats = BatchStats()
    for batch in itr.frozen_batches:
        src = dataset.src_sizes[batch]
        tgt = dataset.tgt_sizes[batch]
        stats.add(len(batch), int(src.sum()), int(src.max()), int(tgt.sum()), int(tgt.max()))
    return stats.as_dict()


def fairseq_train(args: argparse.Namespace) -> dict:
    """fairseq-train (fairseq_cli.train.cli_main) in this process, with phase timers."""
    t0 = time.perf_counter()
    import fairseq_cli.train as fstrain
    from fairseq import checkpoint_utils
    from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion
    from fairseq.logging import progress_bar
    from fairseq.optim.fairseq_optimizer import FairseqOptimizer

    torch.autograd.set_detect_anomaly(False)  # some fairseq forks switch it on at import
    phases, stats, valid = Phases(), BatchStats(), []
    in_train, wrapped_bar = [False], []

    train_epoch = fstrain.train

    def timed_train(cfg, trainer, task, epoch_itr):
        phases.seconds.setdefault("startup", time.perf_counter() - t0)
        start, cpu = time.perf_counter(), time.process_time()
        in_train[0] = True
        try:
            return train_epoch(cfg, trainer, task, epoch_itr)
        finally:
            in_train[0] = False
            phases.seconds["epoch"] += time.perf_counter() - start
            phases.seconds["epoch_cpu"] += time.process_time() - cpu

    make_bar = progress_bar.progress_bar

    def timed_bar(iterator, *a, **k):
        bar = make_bar(iterator, *a, **k)
        if in_train[0] and not wrapped_bar:
            wrapped_bar.append(bar)
            iterate = bar.__iter__
            bar.__class__ = type("TimedBar", (bar.__class__,),
                                 {"__iter__": lambda self: phases.iterate(iterate(), "data")})
        return bar

    def record(samples) -> None:
        for sample in samples:
            if not sample:
                continue
            src, lengths, target = sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"], \
                sample["target"]
            stats.add(len(src), int(lengths.sum()), int(lengths.max()), int(sample["ntokens"]), target.size(1))

    get_valid_stats = fstrain.get_valid_stats

    def keep_valid_stats(*a, **k):
        out = get_valid_stats(*a, **k)
        valid.append({"step": int(out["num_updates"]), "loss_bits": float(out["loss"]),
                      "nll_bits": float(out["nll_loss"])})
        return out

    fstrain.train, fstrain.get_valid_stats = timed_train, keep_valid_stats
    progress_bar.progress_bar = timed_bar
    from fairseq.trainer import Trainer

    train_step = Trainer.train_step

    def recorded_step(self, samples, *a, **k):
        record(samples)
        return train_step(self, samples, *a, **k)

    Trainer.train_step = recorded_step
    phases.wrap(Trainer, "train_step", "update")
    phases.wrap(LabelSmoothedCrossEntropyCriterion, "forward", "forward",
                when=lambda self, model, *a, **k: model.training)
    phases.wrap(FairseqOptimizer, "backward", "backward")
    phases.wrap(FairseqOptimizer, "step", "optimizer")
    phases.wrap(fstrain, "validate", "validation")
    phases.wrap(checkpoint_utils, "save_checkpoint", "checkpoint")
    shutil.rmtree(args.out_dir, ignore_errors=True)
    sys.argv = ["fairseq-train", *fairseq_argv(args)]
    start = time.perf_counter()
    fstrain.cli_main()
    total = time.perf_counter() - start
    return {"command_s": total, "since_start_s": time.perf_counter() - t0, "phases": phases.as_dict(),
            "batches": stats.as_dict(), "valid": valid, **rss()}


def fairseq_decode(args: argparse.Namespace) -> dict:
    """fairseq-generate (fairseq_cli.generate.cli_main) on the test set; saves the weights for legokit."""
    t0 = time.perf_counter()
    import fairseq_cli.generate as fsgen
    from fairseq import checkpoint_utils

    checkpoint = Path(args.out_dir).parent / "fairseq_train" / "checkpoint_last.pt"
    if args.weights and not Path(args.weights).exists():
        torch.save(checkpoint_utils.load_checkpoint_to_cpu(str(checkpoint))["model"], args.weights)
    results = Path(args.out_dir) / f"fairseq.{args.setting}"
    shutil.rmtree(results, ignore_errors=True)
    argv = [args.bin, "--path", str(checkpoint), "--gen-subset", "test", "--source-lang", SRC, "--target-lang", TGT,
            "--beam", "5", "--lenpen", "1", "--max-len-a", "0", "--max-len-b", str(args.max_len), "--cpu",
            "--post-process", "sentencepiece", "--results-path", str(results),
            # fairseq-fixed 0.12.3.1 drops the last (n mod 8) sentences of a set under the default multiple of 8
            "--required-batch-size-multiple", "1"]
    for item in args.setting.split(","):
        if item and item != "default":
            key, value = item.split("=")
            argv += [f"--{key}", value]
    sys.argv = ["fairseq-generate", *argv]
    start = time.perf_counter()
    fsgen.cli_main()
    seconds = time.perf_counter() - start
    text = (results / "generate-test.txt").read_text()
    hyps = {int(line.split("\t")[0][2:]): line.split("\t")[2] if line.count("\t") >= 2 else ""
            for line in text.splitlines() if line.startswith("D-")}
    return {"seconds": seconds, "since_start_s": time.perf_counter() - t0, "sentences": len(hyps),
            "hyps": {str(k): v for k, v in hyps.items()}, **rss()}


WORKERS = {"legokit:count": legokit_count, "legokit:train": legokit_train, "legokit:decode": legokit_decode,
           "fairseq:count": fairseq_count, "fairseq:train": fairseq_train, "fairseq:decode": fairseq_decode}


# --- driver -------------------------------------------------------------------------------------------------
def worker_args(args: argparse.Namespace, info: dict, out_dir: Path, **extra) -> list[str]:
    argv = ["--size", args.size, "--threads", str(args.threads), "--max-tokens", str(args.max_tokens),
            "--log-interval", str(args.log_interval), "--work", info["work"],
            "--bin", info["fairseq_bin"], "--tok-src", info["tokenizers"][SRC], "--tok-tgt", info["tokenizers"][TGT],
            "--out-dir", str(out_dir), "--max-len", str(args.max_len)]
    if args.max_updates:
        argv += ["--max-updates", str(args.max_updates)]
    for key, value in extra.items():
        if value is not None:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def train_figures(run: dict | None) -> dict | None:
    """Epoch figures of a train worker: seconds, tokens/s, phases' shares."""
    if run is None:
        return None
    p, b = run["phases"]["seconds"], run["batches"]
    epoch = p["epoch"]
    figures = {"epoch_s": epoch, "epoch_cpu_s": p.get("epoch_cpu"), "command_s": run["command_s"],
               "updates": b["batches"],
               "sentences": b["sentences"], "tgt_tokens": b["tgt_tokens"], "tgt_tokens_per_s": b["tgt_tokens"] / epoch,
               "padding_fraction": b["padding_fraction"], "tgt_padding_fraction": b["tgt_padding_fraction"],
               "padded_tokens_per_batch": b["padded_tokens_per_batch"], "peak_rss_mb": run["peak_rss_mb"],
               "startup_s": p.get("startup")}
    fwd, opt = p.get("forward", 0.0), p.get("optimizer", 0.0)
    if "forward_backward" in p:  # legokit
        bwd = p["forward_backward"] - fwd
    else:
        bwd = p.get("backward", 0.0)
    rest = p.get("update", 0.0) - (p.get("forward_backward", fwd + bwd)) - opt
    figures["phases_s"] = {"data": p.get("data", 0.0), "forward": fwd, "backward": bwd, "optimizer": opt,
                           "rest of update": rest, "validation": p.get("validation", 0.0),
                           "checkpoint": p.get("checkpoint", 0.0)}
    figures["phases_s"]["other"] = epoch - sum(figures["phases_s"].values())
    return figures


def valid_loss_at(run: dict | None, side: str, step: int) -> float | None:
    """Validation loss (label-smoothed CE, nats per target token) at update ``step``."""
    if run is None:
        return None
    for entry in run["valid"]:
        if entry["step"] == step:
            return entry["loss"] if side == "legokit" else entry["loss_bits"] * 0.6931471805599453
    return None


def agreement(lk: dict, fs: dict, test_ids: list[str]) -> dict:
    """Identical detokenised best hypotheses, over the sentences both decoded."""
    both = [(utt, str(i)) for i, utt in enumerate(test_ids) if utt in lk["hyps"] and str(i) in fs["hyps"]]
    return {"identical": sum(lk["hyps"][a] == fs["hyps"][b] for a, b in both), "sentences": len(both),
            "test_set": len(test_ids)}


def drive(args: argparse.Namespace) -> dict:
    script, fairseq = Path(__file__).resolve(), peer_python("fairseq")
    record: dict = {"benchmark": "mt_epoch_fairseq", "machine": machine(), "args": vars(args),
                    "matmul_gflops_before": matmul_gflops(args.threads)}
    info = prepare(args, fairseq)
    test_ids = info["sets"]["test"].pop("ids")
    record["data"] = info
    out = Path(info["work"]) / f"runs_{args.size}"
    out.mkdir(parents=True, exist_ok=True)
    base = lambda name, **kw: worker_args(args, info, out / name, **kw)  # noqa: E731
    if args.decode_only:
        record["decode"] = decode_only(args, out, base, fairseq, test_ids)
        return finish(record, args)
    counts = {"legokit": run_worker(LEGOKIT_PYTHON, script, "legokit:count", base("count"), args.threads)}
    counts["fairseq"] = run_worker(fairseq, script, "fairseq:count", base("count"), args.threads) if fairseq else None
    record["batching"] = counts
    valid_at = args.max_updates or min(c["batches"] for c in counts.values() if c)
    record["valid_at"] = valid_at
    runs = {}
    for side in args.order.split(","):
        python = LEGOKIT_PYTHON if side == "legokit" else fairseq
        # an extra validation only inside the longer epoch (both validate at the end of an epoch or max_updates)
        extra = valid_at if not args.max_updates and counts[side] and counts[side]["batches"] > valid_at else None
        runs[side] = (run_worker(python, script, f"{side}:train", base(f"{side}_train", valid_at=extra),
                                 args.threads, timeout=6 * 3600) if python else None)
    record["train_runs"] = runs
    record["train"] = {side: train_figures(runs.get(side)) for side in ("legokit", "fairseq")}
    record["valid_loss_at_same_updates"] = {side: valid_loss_at(runs.get(side), side, valid_at)
                                            for side in ("legokit", "fairseq")}
    if not args.skip_decode and fairseq is not None and runs.get("legokit"):
        record["decode"] = decode_runs(args, out, base, fairseq, runs["legokit"]["model"], test_ids)
    return finish(record, args)


def finish(record: dict, args: argparse.Namespace) -> dict:
    """The record with the machine's state at the end, paths relative to the repository."""
    record["matmul_gflops_after"] = matmul_gflops(args.threads)
    record["machine"]["load_avg_end"] = os.getloadavg()
    return json.loads(json.dumps(record).replace(f"{ROOT}/", ""))


def decode_only(args: argparse.Namespace, out: Path, base, fairseq: Path | None, test_ids: list[str]) -> dict:
    """--decode-only: the test set decoded with the weights fairseq has at the end of an earlier training run of
    this script (runs_<size>/fairseq_train/checkpoint_last.pt; legokit's run gives the architecture)."""
    model, checkpoint = out / "legokit_train" / "model.pt", out / "fairseq_train" / "checkpoint_last.pt"
    if fairseq is None or not model.is_file() or not checkpoint.is_file():
        raise SystemExit(f"--decode-only needs the fairseq peer venv, {model} and {checkpoint}: run the benchmark "
                         "without --decode-only first")
    return decode_runs(args, out, base, fairseq, str(model), test_ids)


def decode_runs(args: argparse.Namespace, out: Path, base, fairseq: Path, model: str, test_ids: list[str]) -> dict:
    """Each side's decode settings on the test set with fairseq's trained weights; sentences/s and agreement
    with fairseq's first setting."""
    script = Path(__file__).resolve()
    weights = out / "fairseq_weights.pt"
    weights.unlink(missing_ok=True)
    decode: dict = {"legokit": {}, "fairseq": {}}
    for setting in args.decode_settings_fairseq.split(";"):
        decode["fairseq"][setting] = run_worker(fairseq, script, "fairseq:decode",
                                                base("decode", weights=weights, setting=setting), args.threads)
    for setting in args.decode_settings_legokit.split(";"):
        decode["legokit"][setting] = run_worker(LEGOKIT_PYTHON, script, "legokit:decode",
                                                base("decode", weights=weights, setting=setting,
                                                     model=model), args.threads)
    reference = decode["fairseq"][args.decode_settings_fairseq.split(";")[0]]
    for side in decode:
        for run in decode[side].values():
            run["sentences_per_s"] = run["sentences"] / run["seconds"]
            if side == "legokit":
                run["agreement"] = agreement(run, reference, test_ids)
    for side in decode:
        for run in decode[side].values():
            run.pop("hyps")
    return decode


def report(record: dict) -> str:
    train = record.get("train", {})  # none with --decode-only
    lk, fs = train.get("legokit"), train.get("fairseq")
    sets = ", ".join(f"{k} {v['pairs']}" for k, v in record["data"]["sets"].items())
    lines = [f"data: {record['data']['data']} ({sets} pairs); model size {record['args']['size']}; budget "
             f"{record['args']['max_tokens']} tokens"]
    rows = []

    def row(name, unit, a, b, higher=True, fmt="{:,.1f}"):
        r = ratio(a, b) if higher else ratio(b, a)
        show = lambda v: "n/a" if v is None else fmt.format(v)  # noqa: E731
        rows.append(f"| {name} | {unit} | {show(a)} | {show(b)} | {'n/a' if r is None else f'{r:.2f}×'} |")

    get = lambda side, key: side and side.get(key)  # noqa: E731
    rows.append("| metric | unit | legokit | fairseq | advantage legokit |")
    rows.append("|---|---|---:|---:|---:|")
    row("epoch (train + validation + checkpoint)", "wall s", get(lk, "epoch_s"), get(fs, "epoch_s"), False)
    row("same, process CPU time (main process)", "CPU s", get(lk, "epoch_cpu_s"), get(fs, "epoch_cpu_s"), False)
    row("whole command", "wall s", get(lk, "command_s"), get(fs, "command_s"), False)
    row("target tokens/s over the epoch", "tokens/s", get(lk, "tgt_tokens_per_s"), get(fs, "tgt_tokens_per_s"))
    row("updates in the epoch", "", get(lk, "updates"), get(fs, "updates"), True, "{:,.0f}")
    row("padding (source + target positions)", "fraction", get(lk, "padding_fraction"),
        get(fs, "padding_fraction"), False, "{:.3f}")
    row("peak RSS (worker process)", "MB", get(lk, "peak_rss_mb"), get(fs, "peak_rss_mb"), False, "{:,.0f}")
    same = record.get("valid_loss_at_same_updates")
    if same:
        row(f"validation loss after {record['valid_at']} updates", "nats/token", same["legokit"], same["fairseq"],
            False, "{:.3f}")
    if train:
        lines += rows
    if lk and fs:
        lines.append("")
        lines.append("| phase (wall s) | legokit | fairseq |")
        lines.append("|---|---:|---:|")
        for phase in lk["phases_s"]:
            lines.append(f"| {phase} | {lk['phases_s'][phase]:.1f} | {fs['phases_s'][phase]:.1f} |")
    if "decode" in record:
        lines.append("")
        lines.append("| decode (beam 5, test set) | setting | sentences | sentences/s | whole call s | "
                     "identical to fairseq default |")
        lines.append("|---|---|---:|---:|---:|---:|")
        for side in ("fairseq", "legokit"):
            for setting, run in record["decode"][side].items():
                agree = run.get("agreement")
                same = "-" if not agree else f"{agree['identical']}/{agree['sentences']}"
                lines.append(f"| {side} | {setting} | {run['sentences']} | {run['sentences_per_s']:.1f} | "
                             f"{run['seconds']:.1f} | {same} |")
        best = {side: max(r["sentences_per_s"] for r in record["decode"][side].values())
                for side in ("legokit", "fairseq")}
        default = {side: next(iter(record["decode"][side].values()))["sentences_per_s"] for side in best}
        lines.append(f"decode legokit/fairseq: defaults {default['legokit'] / default['fairseq']:.2f}×, fastest "
                     f"{best['legokit'] / best['fairseq']:.2f}×")
    lines.append(f"fp32 matmul ceiling {record['matmul_gflops_before']:.0f} / {record['matmul_gflops_after']:.0f} "
                 f"GFLOP/s (before / after); load average {record['machine']['load_avg']} at start, "
                 f"{record['machine'].get('load_avg_end')} at end")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every 20th training pair (make bench)")
    parser.add_argument("--data", help="prepared De-En data dir (train/valid/test with text.de, text.en)")
    parser.add_argument("--size", choices=sorted(SIZES), default="recipe", help="model size on both sides")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on every side")
    parser.add_argument("--max-tokens", type=int, default=6000, help="batch budget on both sides (the recipe's)")
    parser.add_argument("--max-updates", type=int, default=0, help="stop both after this many updates (0: epoch)")
    parser.add_argument("--max-len", type=int, default=200, help="max output tokens in decoding (fairseq's default)")
    parser.add_argument("--log-interval", type=int, default=50, help="training log interval on both sides")
    parser.add_argument("--order", default="fairseq,legokit", help="order of the training runs")
    parser.add_argument("--skip-decode", action="store_true", help="train only")
    parser.add_argument("--decode-only", action="store_true",
                        help="no training: decode with the weights of this script's last training run of --size "
                             "(record <name>_decode.json)")
    parser.add_argument("--decode-settings-fairseq", default="default;batch-size=64",
                        help="';'-separated fairseq-generate settings (first = the reference for agreement)")
    parser.add_argument("--decode-settings-legokit", default="default;max_batch_size=256,max_tokens=16000",
                        help="';'-separated legokit decode settings (DecodeConfig keys)")
    for hidden in ("worker", "work", "bin", "tok-src", "tok-tgt", "out-dir", "weights", "setting", "model",
                   "valid-at"):
        parser.add_argument(f"--{hidden}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.valid_at = int(args.valid_at) if args.valid_at else 0
    if args.quick and not args.worker:
        args.max_len = 60
        args.decode_settings_fairseq, args.decode_settings_legokit = "default", "default"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = "mt_epoch_fairseq" + ("" if args.size == "recipe" else f"_{args.size}") + \
        ("_decode" if args.decode_only else "")
    return benchmark_main(name, args, WORKERS, drive, report)


if __name__ == "__main__":
    sys.exit(main())
