"""Restricted (±w sliding-window) attention vs full attention vs the PyPI ``local-attention`` package.

Forward + backward time and peak memory, B = 1, H = 4, Dh = 64 (d = 256), w = 40, T = 1k..32k, 2 threads.

    .venv/bin/pip install local-attention==1.11.2   # benchmark only, not a legokit dependency
    .venv/bin/python benchmarks/restricted_attention.py            # T = 1k..32k
    .venv/bin/python benchmarks/restricted_attention.py --quick    # T = 1k..4k

Methods, all computing the same function (checked at start: query i attends to keys i-w..i+w):
  legokit  legokit.nn.restricted_attention (blocks of w queries, fused sdpa over ±1 neighbour block).
  local    local_attention.LocalAttention(window_size=w, look_backward=1, look_forward=1,
           exact_windowsize=True): its buckets of w see the bucket before and after (3w keys) and
           exact_windowsize masks them to exactly ±w, i.e. the same receptive field as ours.
  full     torch scaled_dot_product_attention over all T keys with the (T, T) band mask: O(T²) time
           and a T² mask; skipped above --full-max-t (default 16k: at 32k a single repeat takes
           minutes and the mask alone is 1 GB).

Memory: each (method, T) runs one forward+backward in a fresh subprocess; its peak RSS minus the RSS
just before it is the reported memory (torch's CPU allocator is invisible to tracemalloc; the RSS
high-water mark sees every allocation, including the saved activations). Time: one subprocess per T
runs the methods round-robin (one warm-up each, then --repeats rounds), so that the load of a shared
machine hits every method alike; the median is reported.
Writes results/restricted_attention.{json,png} and prints a table with ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEADS, HEAD_DIM, WINDOW = 4, 64, 40
METHODS = ("legokit", "local", "full")
RESULTS = Path(__file__).resolve().parent / "results"


def _attention_fn(method: str):
    """The (q, k, v) (1, H, T, Dh) -> (1, H, T, Dh) function of one method."""
    import torch
    import torch.nn.functional as F

    if method == "legokit":
        from legokit.nn.attention import restricted_attention

        return lambda q, k, v: restricted_attention(q, k, v, WINDOW)
    if method == "local":
        from local_attention import LocalAttention

        local = LocalAttention(window_size=WINDOW, look_backward=1, look_forward=1, exact_windowsize=True,
                               autopad=True)
        return local

    def full(q, k, v):
        pos = torch.arange(q.size(2))
        band = (pos[:, None] - pos[None, :]).abs() <= WINDOW
        return F.scaled_dot_product_attention(q, k, v, attn_mask=band)

    return full


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _inputs(length: int):
    import torch

    torch.manual_seed(0)
    return [torch.randn(1, HEADS, length, HEAD_DIM, requires_grad=True) for _ in range(3)]


def _step(fn, q, k, v) -> float:
    """One forward+backward; returns its wall time in ms."""
    q.grad = k.grad = v.grad = None
    start = time.perf_counter()
    fn(q, k, v).sum().backward()
    return (time.perf_counter() - start) * 1000


def measure_memory(method: str, length: int, threads: int) -> float:
    """Peak RSS growth (MB) of one forward+backward; meant to run in a fresh process."""
    import torch

    torch.set_num_threads(threads)
    fn, (q, k, v) = _attention_fn(method), _inputs(length)
    before = _rss_mb()
    _step(fn, q, k, v)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before


def measure_time(methods: list[str], length: int, repeats: int, threads: int) -> dict[str, list[float]]:
    """Forward+backward times (ms) per method, methods interleaved round-robin after one warm-up each,
    so that load changes on a shared machine hit every method alike."""
    import torch

    torch.set_num_threads(threads)
    fns, (q, k, v) = {m: _attention_fn(m) for m in methods}, _inputs(length)
    for fn in fns.values():
        _step(fn, q, k, v)
    times: dict[str, list[float]] = {m: [] for m in methods}
    for _ in range(repeats):
        for m, fn in fns.items():
            times[m].append(_step(fn, q, k, v))
    return times


def check_equal(length: int = 400) -> dict[str, float]:
    """Max |output difference| of each method against ``full`` on one random input.

    length is a multiple of the window: local-attention's autopad attends to its zero padding (without an
    input mask); the benchmark lengths are all multiples of 40.
    """
    import torch

    torch.manual_seed(0)
    q, k, v = (torch.randn(1, HEADS, length, HEAD_DIM) for _ in range(3))
    ref = _attention_fn("full")(q, k, v)
    return {m: (_attention_fn(m)(q, k, v) - ref).abs().max().item() for m in METHODS[:2]}


def _machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import torch

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "load_average_start": os.getloadavg()}


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method in METHODS:
        pts = [(r["T"], r[method]) for r in rows if r.get(method)]
        for ax, key in zip(axes, ("ms", "peak_mb")):
            ax.loglog([t for t, _ in pts], [max(c[key], 1e-1) for _, c in pts], "o-", label=method)
    for ax, label in zip(axes, ("forward+backward time (ms)", "peak memory, RSS delta (MB)")):
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"restricted attention w={WINDOW}, B=1, H={HEADS}, Dh={HEAD_DIM}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _table(rows: list[dict]) -> str:
    head = (f"{'T':>6} | {'legokit ms':>10} {'local ms':>9} {'full ms':>9} | {'local/ours':>10} {'full/ours':>9} | "
            f"{'legokit MB':>10} {'local MB':>9} {'full MB':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        ours, local, full = r["legokit"], r["local"], r.get("full")

        def cell(c, key, width, fmt=".1f"):
            return f"{c[key]:{width}{fmt}}" if c else f"{'skipped':>{width}}"

        ratio_full = f"{full['ms'] / ours['ms']:9.2f}" if full else f"{'-':>9}"
        lines.append(
            f"{r['T']:>6} | {ours['ms']:10.1f} {local['ms']:9.1f} {cell(full, 'ms', 9)} | "
            f"{local['ms'] / ours['ms']:10.2f} {ratio_full} | "
            f"{ours['peak_mb']:10.0f} {local['peak_mb']:9.0f} {cell(full, 'peak_mb', 8, '.0f')}"
        )
    return "\n".join(lines)


def _subprocess(args: list[str]):
    """Run this script with ``args`` in a fresh interpreter and parse the JSON it prints."""
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only T = 1k, 2k, 4k")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per case (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--full-max-t", type=int, default=16000, help="skip full attention above this T")
    parser.add_argument("--memory", nargs=2, metavar=("METHOD", "T"), help=argparse.SUPPRESS)
    parser.add_argument("--time", nargs="+", metavar="T_OR_METHOD", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        print(json.dumps(measure_memory(args.memory[0], int(args.memory[1]), args.threads)))
        return 0
    if args.time:
        print(json.dumps(measure_time(args.time[1:], int(args.time[0]), args.repeats, args.threads)))
        return 0

    lengths = [1000, 2000, 4000] if args.quick else [1000, 2000, 4000, 8000, 16000, 32000]
    machine = _machine()
    diffs = check_equal()
    print(f"max |out - full| at T=400: {diffs}", flush=True)
    rows = []
    for length in lengths:
        methods = [m for m in METHODS if m != "full" or length <= args.full_max_t]
        common = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
        times = _subprocess(["--time", str(length), *methods, *common])
        row: dict = {"T": length}
        for m in methods:
            row[m] = {"ms": statistics.median(times[m]), "all_ms": times[m],
                      "peak_mb": _subprocess(["--memory", m, str(length), *common])}
            print(f"T={length} {m}: {row[m]['ms']:.1f} ms, {row[m]['peak_mb']:.0f} MB", flush=True)
        rows.append(row)
    machine["load_average_end"] = os.getloadavg()
    table = _table(rows)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    name = "restricted_attention_quick" if args.quick else "restricted_attention"
    report = {"config": {"B": 1, "H": HEADS, "Dh": HEAD_DIM, "window": WINDOW, "threads": args.threads,
                         "repeats": args.repeats, "full_max_t": args.full_max_t},
              "machine": machine, "max_abs_diff_vs_full": diffs, "rows": rows, "table": table}
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=1))
    _plot(rows, RESULTS / f"{name}.png")
    print(f"wrote {RESULTS / name}.json and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
