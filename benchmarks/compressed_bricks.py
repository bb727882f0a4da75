"""Compressed bricks side by side: size, CPU decoding speed and BLEU of fp32 vs int8 PTQ vs int8 QAT vs pruned.

For an encoder brick and a decoder brick of one De->En LegoNN experiment (each compressed alone, its partner
kept fp32), and for a composed model mixing them: a Ro->En encoder trained alone on the same interface
(fp32) in front of the compressed De->En decoder (zero-shot reuse). Prints a markdown table, writes JSON.

    python benchmarks/compressed_bricks.py --exp exp/de_en --ro-encoder exp/ro_enc/bricks/encoder.brick \\
        --train-data tests/fixtures/lego/train --test-data tests/fixtures/lego/test --out benchmarks/results/compress
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from legokit.decode.runner import DecodeConfig
from legokit.lego.bricks import Brick, compose, load_brick
from legokit.lego.compress import ChainData, CompressConfig, brick_size, compress_brick, evaluate_chain

METHODS = {"fp32": (None, 0.0), "int8 PTQ": ("int8-dynamic", 0.0), "int8 QAT": ("int8-qat", 0.0),
           "pruned 50%": ("prune", 0.5), "pruned 80%": ("prune", 0.8)}


@torch.no_grad()
def test_ce(chain: list[Brick], data: ChainData) -> float:
    """Teacher-forced decoder cross-entropy per target token (nats) on ``data``: finer than BLEU."""
    model = compose(chain, length_rate=None).eval()
    totals = [model(batch) for batch in data.loader(chain, seed=0)(0)]
    return float(sum(t["ce"] for t in totals) / sum(t["weight"] for t in totals))


def compressed(brick: Brick, method: tuple[str | None, float], upstream: list[Brick],
               args: argparse.Namespace) -> Brick:
    if method[0] is None:
        return brick
    cfg = CompressConfig(method=method[0], sparsity=method[1] or 0.5, qat_steps=args.qat_steps, qat_lr=args.qat_lr)
    return compress_brick(brick, cfg, upstream, ChainData(args.train_data, "de", "en", max_tokens=700))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp", type=Path, required=True, help="De->En experiment dir with bricks/")
    parser.add_argument("--ro-encoder", type=Path, help="Ro->En encoder brick trained alone (mixed-model rows)")
    parser.add_argument("--train-data", required=True, help="QAT data dir (text.de, text.en)")
    parser.add_argument("--test-data", required=True, help="evaluation data dir (text.de/ro, text.en)")
    parser.add_argument("--qat-steps", type=int, default=100, help="QAT updates")
    parser.add_argument("--qat-lr", type=float, default=1e-4, help="QAT learning rate")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for decoding")
    parser.add_argument("--repeats", type=int, default=3, help="decode each chain this often; keep the fastest")
    parser.add_argument("--out", type=Path, required=True, help="output directory (JSON + table)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    encoder, decoder = (load_brick(args.exp / "bricks" / f"{k}.brick") for k in ("encoder", "decoder"))
    decode = DecodeConfig(num_threads=args.threads)
    data = {lang: ChainData(args.test_data, lang, "en") for lang in ("de", "ro")}
    rows = []
    for name, method in METHODS.items():
        enc = compressed(encoder, method, [], args)
        dec = compressed(decoder, method, [encoder], args)
        chains = {"encoder brick (De->En)": ([enc, decoder], enc, "de"),
                  "decoder brick (De->En)": ([encoder, dec], dec, "de")}
        if args.ro_encoder:
            chains["Ro encoder fp32 + this De->En decoder"] = ([load_brick(args.ro_encoder), dec], dec, "ro")
        for what, (chain, brick, lang) in chains.items():
            record = brick.manifest.get("compression", {})
            size = record["size_bytes"]["after"] if record else brick_size(brick)
            runs = [evaluate_chain(chain, data[lang], decode) for _ in range(args.repeats)]
            scores = max(runs, key=lambda r: r["utterances_per_s"])  # least disturbed by the machine's load
            tokenizers = sum(len(t.model_bytes) for t in brick.tokenizers.values())
            rows.append({"brick": what, "method": name, "size_bytes": size, "weights_bytes": size - tokenizers,
                         "test_ce": test_ce(chain, data[lang]), **scores,
                         **({"qat_loss": [record["qat"]["loss_first"], record["qat"]["loss_last"]]}
                            if "qat" in record else {})})
            print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compressed_bricks.json").write_text(json.dumps(rows, indent=1))
    table = ["| brick | method | file (kB) | weights (kB) | BLEU | test CE (nats/token) | utterances/s | ms/token |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    table += [f"| {r['brick']} | {r['method']} | {r['size_bytes'] / 1e3:.0f} | {r['weights_bytes'] / 1e3:.0f} | "
              f"{r['bleu']:.1f} | {r['test_ce']:.4f} | "
              f"{r['utterances_per_s']:.1f} | {r['ms_per_token']:.2f} |" for r in rows]
    (args.out / "compressed_bricks.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
