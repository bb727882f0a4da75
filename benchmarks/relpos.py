"""Relative vs absolute positional self-attention in legokit's Conformer: CPU time of forward + backward.

A 4-layer Conformer (d 256, 4 heads, FFN 1024, kernel 15), B = 2, T = 1000, with full attention and with
restricted attention (w = 40), `pos_enc` abs vs rel, round-robin so that a shared machine's load hits both
alike; the median of --repeats is reported with the ratio rel / abs.

    .venv/bin/python benchmarks/relpos.py [--threads 1] [--repeats 3] [--length 1000]

Writes results/relpos.json.
"""

from __future__ import annotations

import argparse
import json

import torch
from common import ROOT, machine, set_threads, summary, timed

from legokit.nn.conformer import ConformerEncoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=3, help="timed forward+backward passes per setting")
    parser.add_argument("--length", type=int, default=1000, help="frames T")
    args = parser.parse_args()
    set_threads(args.threads)
    x = torch.randn(2, args.length, 256)
    rows = []
    for window in (None, 40):
        seconds = {}
        for pos_enc in ("abs", "rel"):
            torch.manual_seed(0)
            enc = ConformerEncoder(4, 256, 4, 1024, kernel_size=15, dropout=0.1, window=window, pos_enc=pos_enc)
            seconds[pos_enc] = summary(timed(lambda enc=enc: enc(x).sum().backward(), args.repeats))["median_s"]
        rows.append({"window": window, "abs_s": seconds["abs"], "rel_s": seconds["rel"],
                     "ratio": seconds["rel"] / seconds["abs"]})
        print(f"T={args.length} B=2 w={window}: abs {seconds['abs']:.3f} s/step, rel {seconds['rel']:.3f} s/step "
              f"(rel/abs x{seconds['rel'] / seconds['abs']:.2f})")
    out = ROOT / "benchmarks" / "results" / "relpos.json"
    out.write_text(json.dumps({"machine": machine(), "args": vars(args), "rows": rows}, indent=1) + "\n")
    print(f"record: {out}")


if __name__ == "__main__":
    main()
