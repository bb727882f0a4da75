"""Compressed bricks side by side: size, CPU decoding speed and BLEU/WER of fp32 vs int8 PTQ vs int8 QAT vs pruned.

MT part: the encoder and the decoder brick of one De->En LegoNN experiment, each compressed alone with its
partner kept fp32 (``--de-test``), and composed models mixing full and compressed bricks: a Ro->En encoder
trained alone on the same interface (fp32, ``--ro-encoder``) in front of the compressed De->En decoder. Either
set of rows can be measured alone (the decoder's QAT always uses ``--de-train``).

ASR part (``--asr-encoder``): an English speech encoder brick (CTC only, same English interface) compressed,
scored alone (CTC greedy WER) and composed zero-shot with the fp32 De->En decoder (the lego_reuse recipe's
``asr_zeroshot`` model). QAT fine-tunes each brick against its own interface loss (CTC for an encoder, the
decoder's CE with the encoder frozen) on the training data given.

Decoding uses ``--mt-decode-config`` / ``--asr-decode-config`` (the recipe's conf/<preset>/decode_*.yaml) with
``--threads`` torch threads. Speed: wall utterances/s and ms per output token from ``decode_dir`` (best of
``--repeats``), and the process CPU ms per utterance (model load and scoring included), which a loaded
machine disturbs much less. Writes OUT (JSON record: rows, command, machine) and OUT with suffix .md (table).

    E=egs/lego_reuse/lego1                  # run from the repository root
    python benchmarks/compressed_bricks.py --exp $E/exp/de_en_lego \\
        --de-train $E/data/de_en/train --de-test $E/data/de_en/test \\
        --ro-encoder $E/exp/ro_en_encoder/bricks/encoder.brick --ro-test $E/data/ro_en/test \\
        --mt-decode-config $E/conf/long/decode_mt_lego.yaml --max-test 200 \\
        --out benchmarks/results/compress_lego_reuse_mt.json
    python benchmarks/compressed_bricks.py --exp $E/exp/de_en_lego \\
        --asr-encoder $E/exp/asr_encoder/bricks/encoder.brick --asr-test $E/data/en_speech/test \\
        --asr-feats $E/dump/en_speech/test/feats.scp --asr-train $E/data/en_speech/train \\
        --asr-train-feats $E/dump/en_speech/train/feats.scp --asr-decode-config $E/conf/long/decode_asr.yaml \\
        --out benchmarks/results/compress_lego_reuse_asr.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from legokit.config import load_config
from legokit.errors import LegokitError
from legokit.lego.bricks import Brick, compose
from legokit.lego.loading import load_brick
from legokit.workflows.compress import ChainData, CompressConfig, brick_size, compress_brick, evaluate_chain
from legokit.workflows.decode import DecodeConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, peak_rss_mb, set_threads  # noqa: E402

METHODS = {"fp32": (None, 0.5), "int8 PTQ": ("int8-dynamic", 0.5), "int8 QAT": ("int8-qat", 0.5),
           "pruned 50%": ("prune", 0.5), "pruned 80%": ("prune", 0.8)}
Chain = tuple[list[Brick], Brick, ChainData]  # bricks to decode with, the brick the row is about, test data


def first_utterances(data: ChainData, count: int | None, out: Path) -> ChainData:
    """The first ``count`` utterances of ``data`` (all if None), as a data dir (and feature dump) under ``out``.

    The feature dump's shards are symlinked, so the capped ``feats.scp`` reads the same features.
    """
    if count is None:
        return data
    out.mkdir(parents=True)
    index = Path(data.feats) if data.feats else Path(data.data_dir) / f"text.{data.src_lang}"
    ids = {line.split(maxsplit=1)[0] for line in index.read_text(encoding="utf-8").splitlines()[:count]}
    names = ["text"] if data.feats else [f"text.{data.src_lang}", f"text.{data.tgt_lang}"]
    for name in names:
        lines = (Path(data.data_dir) / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (out / name).write_text("".join(x for x in lines if x.split(maxsplit=1)[0] in ids), encoding="utf-8")
    feats = None
    if data.feats:
        dump = out / "dump"
        dump.mkdir()
        for path in index.parent.iterdir():
            if path.name != index.name:
                (dump / path.name).symlink_to(path.resolve())
        feats = str(dump / index.name)
        lines = index.read_text(encoding="utf-8").splitlines()[:count]
        (dump / index.name).write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
    return ChainData(str(out), data.src_lang, data.tgt_lang, feats, data.max_tokens)


@torch.no_grad()
def test_loss(chain: list[Brick], data: ChainData) -> float:
    """Teacher-forced loss per target token (nats) on ``data``: the decoder's CE, or for an encoder alone
    its interface CTC. Finer than BLEU/WER."""
    model = compose(chain, length_rate=None).eval()
    totals = [model(batch) for batch in data.loader(chain, seed=0)(0)]
    key = "ce" if model.decoder is not None else "ctc"
    return float(sum(t[key] for t in totals) / sum(t["weight"] for t in totals))


def compressed(brick: Brick, method: str, upstream: list[Brick], qat_data: ChainData | None,
               args: argparse.Namespace) -> Brick:
    """``brick`` compressed with ``METHODS[method]`` (itself for fp32); QAT fine-tunes on ``qat_data``."""
    kind, sparsity = METHODS[method]
    if kind is None:
        return brick
    if kind == "int8-qat" and qat_data is None:
        raise LegokitError(f"int8 QAT of {brick.path} needs training data: give --de-train / --asr-train")
    cfg = CompressConfig(method=kind, sparsity=sparsity, qat_steps=args.qat_steps, qat_lr=args.qat_lr)
    return compress_brick(brick, cfg, upstream, qat_data)


def measure(chain: list[Brick], data: ChainData, decode: DecodeConfig, repeats: int) -> dict[str, float]:
    """Score and speed of decoding ``data`` with ``chain``: the fastest of ``repeats`` runs (the least
    disturbed by the machine's load), with its process CPU ms per utterance."""
    runs = []
    for _ in range(repeats):
        cpu = time.process_time()
        scores = evaluate_chain(chain, data, decode)
        runs.append({**scores, "cpu_ms_per_utt": 1000 * (time.process_time() - cpu) / len(data.references(chain))})
    best = max(runs, key=lambda r: r["utterances_per_s"])
    return {**best, "cpu_ms_per_utt": min(r["cpu_ms_per_utt"] for r in runs), "test_loss": test_loss(chain, data)}


def row(what: str, method: str, brick: Brick, scores: dict[str, float]) -> dict:
    """One table row: the compressed brick's size (file, and weights without its tokenizers) and the scores."""
    record = brick.manifest.get("compression", {})
    size = record["size_bytes"]["after"] if record else brick_size(brick)
    tokenizers = sum(len(t.model_bytes) for t in brick.tokenizers.values())
    extra = {"qat_loss": [record["qat"]["loss_first"], record["qat"]["loss_last"]]} if "qat" in record else {}
    if "sparsity" in record:
        extra["sparsity"] = record["sparsity"]
    return {"brick": what, "method": method, "size_bytes": size, "weights_bytes": size - tokenizers, **scores,
            **extra}


def mt_chains(method: str, encoder: Brick, decoder: Brick, ro_encoder: Brick | None, args: argparse.Namespace,
              data: dict[str, ChainData]) -> dict[str, Chain]:
    """The MT rows of one method: De->En encoder and decoder (with ``data["de"]``), Ro encoder fp32 + that
    decoder (with ``ro_encoder``)."""
    train = ChainData(str(args.de_train), "de", "en", max_tokens=args.qat_max_tokens) if args.de_train else None
    dec = compressed(decoder, method, [encoder], train, args)
    chains = {}
    if "de" in data:
        enc = compressed(encoder, method, [], train, args)
        chains["De->En encoder brick"] = ([enc, decoder], enc, data["de"])
        chains["De->En decoder brick"] = ([encoder, dec], dec, data["de"])
    if ro_encoder is not None:
        chains["Ro encoder fp32 + this De->En decoder"] = ([ro_encoder, dec], dec, data["ro"])
    return chains


def asr_chains(method: str, encoder: Brick, decoder: Brick, args: argparse.Namespace,
               test: ChainData) -> dict[str, Chain]:
    """The ASR rows of one method: the speech encoder alone (CTC greedy) and with the fp32 De->En decoder."""
    train = (ChainData(str(args.asr_train), feats=str(args.asr_train_feats), max_tokens=args.asr_qat_max_frames)
             if args.asr_train else None)
    enc = compressed(encoder, method, [], train, args)
    return {"ASR encoder alone (CTC greedy)": ([enc], enc, test),
            "ASR encoder + fp32 De->En decoder (zero-shot)": ([enc, decoder], enc, test)}


def run_rows(chains_of: dict[str, dict[str, Chain]], decode: DecodeConfig, repeats: int) -> list[dict]:
    """Measure every (method, chain); a chain made of the same bricks as an earlier one is not decoded again."""
    rows, done = [], {}
    for method, chains in chains_of.items():
        for what, (chain, brick, data) in chains.items():
            key = (tuple(id(b) for b in chain), data.data_dir)
            done[key] = done.get(key) or measure(chain, data, decode, repeats)
            rows.append(row(what, method, brick, done[key]))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table of the rows."""
    out = ["| brick | method | file (kB) | weights (kB) | BLEU | WER | test loss (nats/token) | utterances/s "
           "| ms/token | CPU ms/utterance |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        bleu = f"{r['bleu']:.1f}" if "bleu" in r else ""
        wer = f"{r['wer']:.1f}" if "wer" in r else ""
        out.append(f"| {r['brick']} | {r['method']} | {r['size_bytes'] / 1e3:.0f} | {r['weights_bytes'] / 1e3:.0f} | "
                   f"{bleu} | {wer} | {r['test_loss']:.4f} | {r['utterances_per_s']:.1f} | {r['ms_per_token']:.2f} | "
                   f"{r['cpu_ms_per_utt']:.1f} |")
    return "\n".join(out) + "\n"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=Path, required=True,
                   help="De->En LegoNN experiment dir (bricks/encoder.brick, bricks/decoder.brick)")
    p.add_argument("--de-train", type=Path, help="De->En QAT data dir (text.de, text.en)")
    p.add_argument("--de-test", type=Path, help="De->En test dir (text.de, text.en); enables the De->En rows")
    p.add_argument("--ro-encoder", type=Path, help="Ro->En encoder brick trained alone (mixed-model rows)")
    p.add_argument("--ro-test", type=Path, help="Ro->En test dir (text.ro, text.en) for --ro-encoder")
    p.add_argument("--asr-encoder", type=Path, help="English speech encoder brick (CTC); enables the ASR rows")
    p.add_argument("--asr-test", type=Path, help="speech test dir (text)")
    p.add_argument("--asr-feats", type=Path, help="feats.scp of the --asr-test feature dump")
    p.add_argument("--asr-train", type=Path, help="speech QAT data dir (text)")
    p.add_argument("--asr-train-feats", type=Path, help="feats.scp of the --asr-train feature dump")
    p.add_argument("--max-test", type=int, help="decode only the first N utterances of each test set")
    p.add_argument("--mt-decode-config", help="YAML DecodeConfig for the MT chains (default: DecodeConfig())")
    p.add_argument("--asr-decode-config", help="YAML DecodeConfig for the ASR chains (default: DecodeConfig())")
    p.add_argument("--qat-steps", type=int, default=100, help="QAT updates")
    p.add_argument("--qat-lr", type=float, default=1e-4, help="QAT learning rate")
    p.add_argument("--qat-max-tokens", type=int, default=2000, help="MT QAT batch budget (padded tokens)")
    p.add_argument("--asr-qat-max-frames", type=int, default=8000, help="speech QAT batch budget (frames)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (compression and decoding)")
    p.add_argument("--repeats", type=int, default=1, help="decode each chain this often; keep the fastest")
    p.add_argument("--out", type=Path, required=True, help="JSON record to write (the table goes to OUT.md)")
    args = p.parse_args()
    if not (args.de_test or args.ro_encoder or args.asr_encoder):
        p.error("nothing to measure: give --de-test, --ro-encoder (MT rows) and/or --asr-encoder (ASR rows)")
    if args.ro_encoder and not args.ro_test:
        p.error("--ro-encoder needs --ro-test")
    if args.asr_encoder and not (args.asr_test and args.asr_feats):
        p.error("--asr-encoder needs --asr-test and --asr-feats")
    if bool(args.asr_train) != bool(args.asr_train_feats):
        p.error("--asr-train and --asr-train-feats go together")
    return args


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    encoder, decoder = (load_brick(args.exp / "bricks" / f"{k}.brick") for k in ("encoder", "decoder"))
    rows, started = [], time.time()
    with tempfile.TemporaryDirectory() as tmp:
        if args.de_test or args.ro_encoder:
            decode = load_config(DecodeConfig, args.mt_decode_config, [f"num_threads={args.threads}"])
            data = {lang: first_utterances(ChainData(str(test), lang, "en"), args.max_test, Path(tmp) / lang)
                    for lang, test in (("de", args.de_test), ("ro", args.ro_test)) if test}
            ro = load_brick(args.ro_encoder) if args.ro_encoder else None
            rows += run_rows({m: mt_chains(m, encoder, decoder, ro, args, data) for m in METHODS}, decode,
                             args.repeats)
        if args.asr_encoder:
            decode = load_config(DecodeConfig, args.asr_decode_config, [f"num_threads={args.threads}"])
            test = first_utterances(ChainData(str(args.asr_test), feats=str(args.asr_feats)), args.max_test,
                                    Path(tmp) / "asr")
            asr = load_brick(args.asr_encoder)
            rows += run_rows({m: asr_chains(m, asr, decoder, args, test) for m in METHODS}, decode, args.repeats)
    git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    record = {"command": " ".join(sys.argv), "git": git, "machine": machine(), "wall_s": time.time() - started,
              "peak_rss_mb": peak_rss_mb(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
