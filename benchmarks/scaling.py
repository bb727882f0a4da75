"""How legokit's cost grows: training step vs sequence length and batch size, beam search vs beam size and batch.

The MT Transformer of benchmarks/mt_fairseq.py (6+6, d 512, 8 heads, FFN 2048, vocabulary 8k) on random
tokens, one process, legokit only. Every point is the median of --repeats timed runs; the load average is
recorded with each point. Writes benchmarks/results/scaling[_quick].json and a PNG with three panels.

Usage:
    .venv/bin/python benchmarks/scaling.py            # full sweep
    .venv/bin/python benchmarks/scaling.py --quick    # 3 points per curve, 1 repeat
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, set_threads, summary, timed, write_record  # noqa: E402
from mt_fairseq import build_legokit, legokit_batch, legokit_ids  # noqa: E402

# What the plot shows: process CPU seconds (all threads), steadier than wall time on a shared machine.
TIME = "median_cpu_s"


def train_point(model, optimizer, batch: int, length: int, repeats: int) -> dict:
    """Median seconds of one training step on batch × length source and target tokens."""
    data = legokit_batch(batch, length, length, seed=1)

    def step() -> None:
        model(data)["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return {**summary(timed(step, repeats)), "load_avg": os.getloadavg()[0]}


def decode_point(model, sentences: int, beam: int, length: int, repeats: int) -> dict:
    """Median seconds of a forced-length beam search of sentences × length tokens."""
    from legokit.decode import BeamSearchConfig, beam_search

    data = legokit_batch(sentences, length, length, seed=2)
    cfg = BeamSearchConfig(beam_size=beam, max_len_ratio=0.0, max_len_offset=length, min_len_ratio=1.0)

    @torch.no_grad()
    def search() -> None:
        last = model.encode(data)[-1]
        memory, mask = model.decoder.ingest(model.decoder_input(last), last.lengths)
        beam_search(model.decoder, memory, mask, data["source_lengths"], cfg, legokit_ids())

    return {**summary(timed(search, repeats)), "load_avg": os.getloadavg()[0]}


def sweep(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    model = build_legokit()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    grid = _grid(args.quick)
    out: dict = {"train_length": {}, "train_batch": {}, "beam": {}, "decode_batch": {}}
    model.train()
    for length in grid["length"]:
        out["train_length"][length] = train_point(model, optimizer, grid["batch"][1], length, args.repeats)
    for batch in grid["batch"]:
        out["train_batch"][batch] = train_point(model, optimizer, batch, 30, args.repeats)
    model.eval()
    for beam in grid["beam"]:
        out["beam"][beam] = decode_point(model, grid["sentences"][1], beam, 30, args.repeats)
    for sentences in grid["sentences"]:
        out["decode_batch"][sentences] = decode_point(model, sentences, 5, 30, args.repeats)
    return out


def _grid(quick: bool) -> dict[str, list[int]]:
    if quick:
        return {"length": [15, 30, 60], "batch": [4, 8, 16], "beam": [1, 5, 10], "sentences": [1, 4, 16]}
    return {"length": [15, 30, 60, 120], "batch": [8, 16, 32, 64], "beam": [1, 2, 5, 10, 20],
            "sentences": [1, 4, 16, 64]}


def plot(points: dict, grid: dict[str, list[int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    panels = [
        (axes[0], "train_length", "tokens per sentence (source = target)", "CPU ms per training step"),
        (axes[1], "train_batch", "sentences per batch (30 + 30 tokens)", "CPU ms per training step"),
        (axes[2], "beam", "beam size / sentences per batch", "CPU ms per output token"),
    ]
    for ax, key, xlabel, ylabel in panels:
        xs = sorted(points[key], key=int)
        ms = [1000 * points[key][x][TIME] for x in xs]
        if key == "beam":
            ms = [m / (grid["sentences"][1] * 30) for m in ms]
            xs_b = sorted(points["decode_batch"], key=int)
            ax.plot([int(x) for x in xs_b], [1000 * points["decode_batch"][x][TIME] / (int(x) * 30)
                                            for x in xs_b], "s--", label="sentences in batch (beam 5)")
        label = f"beam size ({grid['sentences'][1]} sentences)" if key == "beam" else xlabel
        ax.plot([int(x) for x in xs], ms, "o-", label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("legokit MT Transformer (6+6, d512): cost vs length, batch size, beam size")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 points per curve, 1 repeat (make bench)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per point (median reported)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    set_threads(args.threads)
    record = {"benchmark": "scaling", "machine": machine(), "args": vars(args), "points": sweep(args)}
    path = write_record("scaling", record, args.quick)
    png = RESULTS / f"scaling{'_quick' if args.quick else ''}.png"
    plot(record["points"], _grid(args.quick), png)
    print(f"record: {path}\nplot: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
