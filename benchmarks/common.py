"""Helpers shared by the peer benchmarks; imports only the standard library and torch, so the worker
processes can run it inside the peers' own virtualenvs (benchmarks/venvs/*) as well as legokit's.

A benchmark script is both a *driver* (run with legokit's Python; starts one worker subprocess per
toolkit and task, collects their JSON lines, writes the record and the table) and a *worker*
(``--worker SIDE:TASK``; prints one JSON line on stdout).
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
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / "benchmarks" / "venvs"
RESULTS = ROOT / "benchmarks" / "results"
LEGOKIT_PYTHON = ROOT / ".venv" / "bin" / "python"


def set_threads(threads: int) -> None:
    """Pin torch's intra-op threads (inter-op to 1) so every side runs on the same cores."""
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Start the peak-RSS count afresh from the current RSS (Linux: /proc/self/clear_refs 5; else a no-op)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[tuple[float, float]]:
    """(wall, process CPU) seconds of ``repeats`` calls of fn after ``warmup`` untimed calls.

    CPU time (all threads of this process) is the steadier figure on a loaded machine: waiting for a core
    costs wall time but no CPU time. The peak RSS is reset first, so a worker's reported ``peak_rss_mb`` is
    the peak while fn runs (model and data resident, plus fn's working memory), not a transient of the
    set-up before it (e.g. a state dict loaded beside the model it fills).
    """
    reset_peak_rss()
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def summary(times: list[tuple[float, float]]) -> dict[str, float]:
    """Median, min and max wall seconds and the median CPU seconds (the machine is shared: report the spread)."""
    wall = [w for w, _ in times]
    return {"median_s": statistics.median(wall), "min_s": min(wall), "max_s": max(wall),
            "median_cpu_s": statistics.median(c for _, c in times), "n": len(times)}


def matmul_gflops(threads: int, size: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """The matmul ceiling: median GFLOP/s of a size³ matrix product in ``dtype`` on ``threads`` threads."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    return 2 * size**3 / summary(timed(lambda: a @ b, repeats))["median_s"] / 1e9


def machine() -> dict[str, object]:
    """Where a record was measured: CPU model, cores, torch version, load average at the time."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu": model, "nproc": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "load_avg": os.getloadavg()}


def emit(record: dict) -> None:
    """Worker side: the one JSON line the driver reads."""
    record.setdefault("peak_rss_mb", peak_rss_mb())
    record.setdefault("load_avg", os.getloadavg())
    print("BENCH " + json.dumps(record), flush=True)


def run_worker(python: Path, script: Path, worker: str, args: list[str], threads: int,
               timeout: float = 3600) -> dict:
    """Driver side: run ``script --worker worker args`` with ``python``; return its JSON record."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [str(python), str(script), "--worker", worker, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    lines = [line[6:] for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"worker {worker} failed (exit {proc.returncode}): {' '.join(cmd)}")
    return json.loads(lines[-1])


def peer_python(name: str) -> Path | None:
    """The peer venv's Python if benchmarks/peers/setup_peers.sh finished building it, else None."""
    venv = VENVS / name
    return venv / "bin" / "python" if (venv / ".ready").exists() else None


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs, or None when either is missing."""
    return None if ours is None or not theirs else ours / theirs


def table(rows: list[tuple[str, str, float | None, float | None, bool]]) -> str:
    """Markdown table of (metric, unit, legokit, peer, higher_is_better) with the legokit/peer ratio."""
    out = ["| metric | unit | legokit | peer | legokit/peer |", "|---|---|---:|---:|---:|"]
    for metric, unit, ours, theirs, higher in rows:
        r = ratio(ours, theirs)
        note = "" if r is None else f"{r:.2f}×" + (" (higher is better)" if higher else " (lower is better)")
        out.append(f"| {metric} | {unit} | {_fmt(ours)} | {_fmt(theirs)} | {note} |")
    return "\n".join(out)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def write_record(name: str, record: dict, quick: bool) -> Path:
    """benchmarks/results/<name>[_quick].json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}{'_quick' if quick else ''}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def benchmark_main(name: str, args: argparse.Namespace, workers: dict[str, Callable[[argparse.Namespace], dict]],
                   drive: Callable[[argparse.Namespace], dict], report: Callable[[dict], str]) -> int:
    """Entry point of a benchmark script: a worker prints its JSON line; the driver runs the workers,
    writes the record under benchmarks/results/ and prints the table."""
    set_threads(args.threads)
    if args.worker:
        emit(workers[args.worker](args))
        return 0
    record = drive(args)
    path = write_record(name, record, args.quick)
    print(report(record))
    print(f"record: {path}")
    return 0
