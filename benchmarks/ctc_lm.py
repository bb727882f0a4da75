"""Greedy CTC vs CTC prefix beam search with a word n-gram LM (shallow fusion) on a CTC-only speech model.

Steps, all in one run (records the load average and the fp32 matmul ceiling before and after):
1. `legokit lm train` equivalent (legokit.lm.train_arpa) on the LM text, leaving out every sentence whose ASR
   scoring form is one of the valid or test references (so the LM has not seen the evaluation sentences).
2. The model's CTC log-posteriors of the valid and test sets, computed once.
3. Greedy CTC, prefix beam search without LM, and a grid of LM weights alpha x word bonuses beta on the
   **valid** set; the best (alpha, beta) on valid is then used once on the test set.
4. WER with both sides in the ASR scoring form (legokit.corpora.text.asr_normalise), per voice too, and a paired
   bootstrap (legokit score wer --compare) of LM vs greedy on test.

    .venv/bin/python benchmarks/ctc_lm.py                 # the egs/espeak_en/asr1 model (see --recipe)
    .venv/bin/python benchmarks/ctc_lm.py --quick         # 20 valid / 20 test utterances, a 2 x 2 grid
    .venv/bin/python benchmarks/ctc_lm.py --peer          # also pyctcdecode 0.5.0 (own venv, made on first use)

--peer: pyctcdecode needs a vocabulary whose words its KenLM scores directly, so both decoders then also run on
the posteriors folded into lower-case characters (each label's probability is the sum over the pieces that
asr_normalise maps to it; punctuation becomes the word boundary, other symbols the blank), with the same LM,
beam and a small alpha x beta grid (--peer-alphas x --peer-betas) tuned on valid for each decoder separately.

Record: benchmarks/results/ctc_lm.json (ctc_lm_quick.json with --quick); hypotheses in --out-dir.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, matmul_gflops, set_threads, write_record  # noqa: E402

from legokit.corpora.text import asr_normalise  # noqa: E402
from legokit.data.batching import SpeechCollator  # noqa: E402
from legokit.data.datadir import read_kaldi_map  # noqa: E402
from legokit.decode.ctc import ctc_greedy  # noqa: E402
from legokit.decode.ctc_lm import CTCLMConfig, CTCLMDecoder  # noqa: E402
from legokit.lego.loading import load_bricks  # noqa: E402
from legokit.lm.ngram import ArpaLM, train_arpa  # noqa: E402
from legokit.score.metrics import wer  # noqa: E402
from legokit.score.significance import format_results, paired_bootstrap  # noqa: E402
from legokit.workflows.decode import DecodeConfig, _dataset, output_tokenizer, ready_model  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", type=Path, default=ROOT / "egs" / "espeak_en" / "asr1",
                   help="the recipe dir the default paths below are relative to")
    p.add_argument("--model", help="CTC-only model (default: <recipe>/exp/ctc_char_1000/model.pt)")
    p.add_argument("--valid-dir", help="default <recipe>/data/valid (text, utt2spk)")
    p.add_argument("--valid-feats", help="default <recipe>/dump/valid/feats.scp")
    p.add_argument("--test-dir", help="default <recipe>/data/test")
    p.add_argument("--test-feats", help="default <recipe>/dump/test/feats.scp")
    p.add_argument("--lm-text", nargs="+", help="LM training text, Kaldi format (default: <recipe>/data/text/"
                   "train/text.en, the English side of the MT training text the ASR sentences come from)")
    p.add_argument("--lm-plain-text", action="store_true", help="--lm-text files are plain text, no id column")
    p.add_argument("--order", type=int, default=3)
    p.add_argument("--alphas", type=float, nargs="+", default=[0.2, 0.35, 0.5, 0.7])
    p.add_argument("--betas", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    p.add_argument("--beam", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "work" / "ctc_lm" / "run")
    p.add_argument("--quick", action="store_true", help="20 valid and 20 test utterances, a 2 x 2 grid")
    p.add_argument("--peer", action="store_true", help="also pyctcdecode on lower-cased posteriors (see above)")
    p.add_argument("--peer-alphas", type=float, nargs="+", default=[0.2, 0.35, 0.5])
    p.add_argument("--peer-betas", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    args = p.parse_args()
    r = args.recipe
    args.model = Path(args.model or r / "exp" / "ctc_char_1000" / "model.pt")
    args.valid_dir = Path(args.valid_dir or r / "data" / "valid")
    args.valid_feats = Path(args.valid_feats or r / "dump" / "valid" / "feats.scp")
    args.test_dir = Path(args.test_dir or r / "data" / "test")
    args.test_feats = Path(args.test_feats or r / "dump" / "test" / "feats.scp")
    args.lm_text = [Path(t) for t in (args.lm_text or [r / "data" / "text" / "train" / "text.en"])]
    if args.quick:
        args.alphas, args.betas = args.alphas[1:3], args.betas[1:3]
    return args


def subset_dir(src: Path, dst: Path, n: int | None) -> Path:
    """A data dir with the first n utterances of src's text (all with n None) and its utt2spk."""
    dst.mkdir(parents=True, exist_ok=True)
    text = read_kaldi_map(src / "text")
    ids = sorted(text)[:n] if n else sorted(text)
    (dst / "text").write_text("".join(f"{u} {text[u]}\n" for u in ids), encoding="utf-8")
    spk = read_kaldi_map(src / "utt2spk") if (src / "utt2spk").is_file() else {u: "all" for u in ids}
    (dst / "utt2spk").write_text("".join(f"{u} {spk[u]}\n" for u in ids), encoding="utf-8")
    return dst


@torch.no_grad()
def posteriors(model, bricks, data_dir: Path, feats: Path) -> tuple[dict[str, torch.Tensor], float, float]:
    """{id: (T', V) CTC log-posteriors}, seconds of audio, wall seconds of the encoder."""
    cfg = DecodeConfig()
    items = _dataset(bricks, data_dir, feats, "de", cfg, {})
    order = sorted(range(len(items)), key=lambda i: items.lengths[i])
    collate, out, start = SpeechCollator(None), {}, time.perf_counter()
    for k in range(0, len(order), 16):
        batch = collate([items[i] for i in order[k:k + 16]])
        last = model.encode(batch)[-1]
        log_probs = torch.log_softmax(last.logits.float(), -1)
        for b, utt in enumerate(batch["ids"]):
            out[utt] = log_probs[b, :int(last.lengths[b])].clone()
    return out, sum(items.lengths) / 100, time.perf_counter() - start


def score(refs: dict[str, str], hyps: dict[str, str], spk: dict[str, str]) -> dict:
    ids = sorted(refs)
    by_voice: dict[str, list[str]] = {}
    for u in ids:
        by_voice.setdefault(spk[u], []).append(u)
    return {"wer": wer([refs[u] for u in ids], [hyps[u] for u in ids]),
            "voices": {v: round(wer([refs[u] for u in us], [hyps[u] for u in us]), 2) for v, us in by_voice.items()}}


def search(decoder: CTCLMDecoder, lp: dict[str, torch.Tensor], tokenizer) -> tuple[dict[str, str], float]:
    """{id: normalised hypothesis}, CPU seconds of the search."""
    start, hyps = time.process_time(), {}
    for utt, x in lp.items():
        tokens, _, _ = decoder.decode(x.numpy())
        hyps[utt] = asr_normalise(tokenizer.decode(tokens))
    return hyps, time.process_time() - start


def write(path: Path, hyps: dict[str, str]) -> None:
    path.write_text("".join(f"{u} {hyps[u]}\n" for u in sorted(hyps)), encoding="utf-8")


PEER_VENV = ROOT / "benchmarks" / "venvs" / "pyctcdecode"


def peer_python() -> Path:
    """benchmarks/venvs/pyctcdecode (pyctcdecode 0.5.0 + kenlm 0.3.0, numpy<2), made on first use."""
    python = PEER_VENV / "bin" / "python"
    if not (PEER_VENV / ".ready").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "pyctcdecode==0.5.0", "kenlm==0.3.0"], check=True)
        (PEER_VENV / ".ready").touch()
    return python


def fold_lowercase(pieces: list[str], blank: int) -> tuple[list[str], torch.Tensor]:
    """Labels ("" blank, " " boundary, lower-case letters, digits, apostrophe) and the (V, V') 0/1 matrix that
    sums each piece's probability into its label: the lower-cased piece, " " for punctuation (asr_normalise
    makes it a space), the blank for anything else."""
    def label(i: int, piece: str) -> str:
        if i == blank:
            return ""
        text = piece.replace("\u2581", " ").replace("\u2019", "'").lower()
        if text.isspace():
            return " "
        if len(text) != 1:
            return ""
        if text == "'" or text.isalnum():
            return text
        return " " if unicodedata.category(text).startswith("P") else ""

    per_piece = [label(i, p) for i, p in enumerate(pieces)]
    labels = ["", " "] + sorted({x for x in per_piece if x.strip()})
    fold = torch.zeros(len(pieces), len(labels), dtype=torch.float64)
    for i, x in enumerate(per_piece):
        fold[i, labels.index(x)] = 1.0
    return labels, fold


def peer_comparison(args, out: Path, lp: dict, refs: dict, spk: dict, pieces: list[str], blank: int, lm: ArpaLM,
                    arpa: Path) -> dict:
    """Ours vs pyctcdecode on the same lower-cased posteriors, LM, beam; each tuned on valid over the peer grid."""
    labels, fold = fold_lowercase(pieces, blank)
    folded = {name: {u: (x.double().exp() @ fold).log().float() for u, x in per.items()} for name, per in lp.items()}
    ours_pieces = ["\u2581" if x == " " else "<blank>" if x == "" else x for x in labels]
    grid = [[a, b] for a in args.peer_alphas for b in args.peer_betas]
    (out / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    result: dict = {"labels": len(labels), "grid": []}
    peer_runs: dict[str, list] = {}
    for name in ("valid", "test"):
        np.savez(out / f"{name}.posteriors.npz", **{u: x.numpy() for u, x in folded[name].items()})
    python = peer_python()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONWARNINGS": "ignore"}

    def run_peer(name: str, configs: list) -> list:
        cmd = [str(python), str(Path(__file__).parent / "peers" / "pyctcdecode_decode.py"), "--posteriors",
               str(out / f"{name}.posteriors.npz"), "--labels", str(out / "labels.json"), "--arpa", str(arpa),
               "--grid", json.dumps(configs), "--beam", str(args.beam)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        lines = [line[6:] for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
        if proc.returncode != 0 or not lines:
            sys.stderr.write(proc.stderr[-4000:])
            raise RuntimeError(f"pyctcdecode worker failed (exit {proc.returncode})")
        return json.loads(lines[-1])["runs"]

    peer_runs["valid"] = run_peer("valid", grid)
    for (alpha, beta), peer in zip(grid, peer_runs["valid"], strict=True):
        ours = CTCLMDecoder(ours_pieces, 0, CTCLMConfig(arpa="-", alpha=alpha, beta=beta, beam=args.beam), lm)
        start = time.process_time()
        hyps = {u: asr_normalise("".join(ours_pieces[t] for t in ours.decode(x.numpy())[0]).replace("\u2581", " "))
                for u, x in folded["valid"].items()}
        cpu = time.process_time() - start
        n = len(hyps)
        result["grid"].append({"alpha": alpha, "beta": beta,
                               "ours_valid_wer": score(refs["valid"], hyps, spk["valid"])["wer"],
                               "peer_valid_wer": score(refs["valid"], {u: asr_normalise(h) for u, h in
                                                                       peer["hyps"].items()}, spk["valid"])["wer"],
                               "ours_cpu_s_per_utt": cpu / n, "peer_cpu_s_per_utt": peer["cpu_s"] / n})
        print(f"lower-case valid alpha {alpha} beta {beta}: ours {result['grid'][-1]['ours_valid_wer']:.2f}, "
              f"pyctcdecode {result['grid'][-1]['peer_valid_wer']:.2f}", flush=True)
    for side in ("ours", "peer"):
        best = min(result["grid"], key=lambda g, side=side: (g[f"{side}_valid_wer"], g["alpha"], g["beta"]))
        result[f"{side}_best"] = {"alpha": best["alpha"], "beta": best["beta"]}
    alpha, beta = result["ours_best"]["alpha"], result["ours_best"]["beta"]
    ours = CTCLMDecoder(ours_pieces, 0, CTCLMConfig(arpa="-", alpha=alpha, beta=beta, beam=args.beam), lm)
    start = time.process_time()
    hyps = {u: asr_normalise("".join(ours_pieces[t] for t in ours.decode(x.numpy())[0]).replace("\u2581", " "))
            for u, x in folded["test"].items()}
    result["ours_test_cpu_s_per_utt"] = (time.process_time() - start) / len(hyps)
    result["ours_test_wer"] = score(refs["test"], hyps, spk["test"])["wer"]
    peer = run_peer("test", [[result["peer_best"]["alpha"], result["peer_best"]["beta"]]])[0]
    peer_hyps = {u: asr_normalise(h) for u, h in peer["hyps"].items()}
    result["peer_test_wer"] = score(refs["test"], peer_hyps, spk["test"])["wer"]
    result["peer_test_cpu_s_per_utt"] = peer["cpu_s"] / len(peer_hyps)
    write(out / "test.lower_ours.hyp", hyps)
    write(out / "test.lower_pyctcdecode.hyp", peer_hyps)
    return result


def main() -> int:
    args = parse_args()
    set_threads(args.threads)
    os.environ.setdefault("LEGOKIT_NO_TQDM", "1")
    out = args.out_dir / ("quick" if args.quick else "full")
    out.mkdir(parents=True, exist_ok=True)
    record: dict = {"machine_before": machine(), "matmul_gflops_before": matmul_gflops(args.threads),
                    "threads": args.threads, "model": str(args.model), "order": args.order, "beam": args.beam}
    n = 20 if args.quick else None
    sets = {"valid": (subset_dir(args.valid_dir, out / "valid", n), args.valid_feats),
            "test": (subset_dir(args.test_dir, out / "test", n), args.test_feats)}
    refs = {name: {u: asr_normalise(t) for u, t in read_kaldi_map(d / "text").items()} for name, (d, _) in sets.items()}
    spk = {name: read_kaldi_map(d / "utt2spk") for name, (d, _) in sets.items()}

    # 1. the LM, without the evaluation sentences (read from the full valid/test dirs, not the subsets)
    held = {asr_normalise(t) for d in (args.valid_dir, args.test_dir) for t in read_kaldi_map(d / "text").values()}
    lm_text, kept, dropped = out / "lm_train.txt", 0, 0
    with open(lm_text, "w", encoding="utf-8") as f:
        for path in args.lm_text:
            for line in path.read_text(encoding="utf-8").splitlines():
                sentence = line if args.lm_plain_text else (line.split(maxsplit=1) + [""])[1]
                if asr_normalise(sentence) in held:
                    dropped += 1
                else:
                    kept += 1
                    f.write(sentence + "\n")
    start = time.perf_counter()
    kn = train_arpa([lm_text], out / "lm.arpa", order=args.order)
    record["lm"] = {"sentences": kn.sentences, "words": kn.tokens - kn.sentences, "vocab": len(kn.vocab),
                    "ngrams": [len(kn.counts[k]) for k in range(1, args.order + 1)],
                    "left_out_as_evaluation_sentences": dropped, "train_s": time.perf_counter() - start,
                    "discounts": kn.discounts[1:]}
    start = time.perf_counter()
    lm = ArpaLM(out / "lm.arpa")
    record["lm"]["load_s"] = time.perf_counter() - start

    # 2. posteriors
    bricks = load_bricks(args.model)
    model, _, _ = ready_model(bricks, DecodeConfig(num_threads=args.threads))
    tokenizer = output_tokenizer(bricks, args.model)
    vocab = tokenizer.vocab
    lp, audio = {}, {}
    for name, (d, feats) in sets.items():
        lp[name], audio[name], seconds = posteriors(model, bricks, d, feats)
        record[f"{name}_utterances"], record[f"{name}_audio_s"], record[f"{name}_encoder_s"] = (
            len(lp[name]), audio[name], seconds)

    def make(alpha: float, beta: float, with_lm: bool = True) -> CTCLMDecoder:
        cfg = CTCLMConfig(arpa="-", alpha=alpha, beta=beta, beam=args.beam)
        return CTCLMDecoder(tokenizer.pieces, vocab.blank, cfg, lm if with_lm else None,
                            skip=(vocab.unk, vocab.bos, vocab.eos))

    # 3. greedy, beam without LM, the grid on valid
    systems: dict[str, dict[str, dict[str, str]]] = {"greedy": {}, "beam_no_lm": {}}
    for name in sets:
        systems["greedy"][name] = {}
        for utt, x in lp[name].items():
            tokens = ctc_greedy(x[None], torch.tensor([x.shape[0]]), vocab.blank)[0]
            systems["greedy"][name][utt] = asr_normalise(tokenizer.decode(tokens))
        systems["beam_no_lm"][name], _ = search(make(0.0, 0.0, with_lm=False), lp[name], tokenizer)
    grid = []
    for alpha in args.alphas:
        for beta in args.betas:
            hyps, cpu = search(make(alpha, beta), lp["valid"], tokenizer)
            grid.append({"alpha": alpha, "beta": beta, "valid_wer": score(refs["valid"], hyps, spk["valid"])["wer"],
                         "search_cpu_s_per_utt": cpu / len(hyps)})
            print(f"valid alpha {alpha} beta {beta}: WER {grid[-1]['valid_wer']:.2f} "
                  f"({grid[-1]['search_cpu_s_per_utt']:.3f} CPU s/utt)", flush=True)
    best = min(grid, key=lambda g: (g["valid_wer"], g["alpha"], g["beta"]))
    if best["alpha"] in (min(args.alphas), max(args.alphas)) or best["beta"] in (min(args.betas), max(args.betas)):
        print(f"note: the best valid point (alpha {best['alpha']}, beta {best['beta']}) is on the grid's edge",
              flush=True)
    record["grid"], record["best"] = grid, {"alpha": best["alpha"], "beta": best["beta"]}
    systems["lm"] = {}
    for name in sets:
        systems["lm"][name], cpu = search(make(best["alpha"], best["beta"]), lp[name], tokenizer)
        record[f"{name}_lm_search_cpu_s"] = cpu

    # 4. scores
    record["scores"] = {system: {name: score(refs[name], hyps[name], spk[name]) for name in sets}
                        for system, hyps in systems.items()}
    for system, per_set in systems.items():
        for name, hyps in per_set.items():
            write(out / f"{name}.{system}.hyp", hyps)
    for name in sets:
        write(out / f"{name}.ref", refs[name])
    ids = sorted(refs["test"])
    results = paired_bootstrap([refs["test"][u] for u in ids], [systems["lm"]["test"][u] for u in ids],
                               [systems["greedy"]["test"][u] for u in ids], ["wer"])
    record["test_lm_vs_greedy"] = [r.as_dict() for r in results]
    if args.peer:
        record["peer"] = peer_comparison(args, out, lp, refs, spk, tokenizer.pieces, vocab.blank, lm, out / "lm.arpa")
    record["machine_after"], record["matmul_gflops_after"] = machine(), matmul_gflops(args.threads)
    path = write_record("ctc_lm", record, args.quick)
    print(report(record))
    print(format_results(results, "LM", "greedy"))
    print(f"record: {path}\nhypotheses: {out}")
    return 0


def report(r: dict) -> str:
    s = r["scores"]
    lines = [f"LM: {r['lm']['sentences']} sentences, {r['lm']['words']} words, vocabulary {r['lm']['vocab']}, "
             f"n-grams {r['lm']['ngrams']} ({r['lm']['left_out_as_evaluation_sentences']} evaluation sentences left "
             f"out); best on valid: alpha {r['best']['alpha']}, beta {r['best']['beta']}, beam {r['beam']}",
             "| system | valid WER | test WER |", "|---|---:|---:|"]
    for system in ("greedy", "beam_no_lm", "lm"):
        lines.append(f"| {system} | {s[system]['valid']['wer']:.2f} | {s[system]['test']['wer']:.2f} |")
    voices = s["lm"]["test"]["voices"]
    lines.append("test WER per voice, greedy -> LM: " + "; ".join(
        f"{v}: {s['greedy']['test']['voices'][v]} -> {voices[v]}" for v in voices))
    lines.append(f"LM search: {r['test_lm_search_cpu_s'] / r['test_utterances']:.3f} CPU s per test utterance "
                 f"(RTF {r['test_lm_search_cpu_s'] / r['test_audio_s']:.3f}); encoder {r['test_encoder_s']:.1f} s wall "
                 f"for {r['test_audio_s']:.0f} s of audio")
    if "peer" in r:
        p = r["peer"]
        lines.append(f"lower-cased posteriors ({p['labels']} labels), test WER: ours {p['ours_test_wer']:.2f} "
                     f"(alpha {p['ours_best']['alpha']}, beta {p['ours_best']['beta']}; "
                     f"{p['ours_test_cpu_s_per_utt']:.3f} CPU s/utt) vs pyctcdecode {p['peer_test_wer']:.2f} "
                     f"(alpha {p['peer_best']['alpha']}, beta {p['peer_best']['beta']}; "
                     f"{p['peer_test_cpu_s_per_utt']:.3f} CPU s/utt)")
    lines.append(f"load average {r['machine_before']['load_avg']} -> {r['machine_after']['load_avg']}; fp32 matmul "
                 f"{r['matmul_gflops_before']:.0f} / {r['matmul_gflops_after']:.0f} GFLOP/s ({r['threads']} thread)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
