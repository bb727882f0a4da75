"""Run every benchmark one after the other and print their tables (``make bench`` runs ``--quick``).

Peers are compared only where their venv is built (benchmarks/peers/setup_peers.sh; add --setup-peers to
build missing ones first, about 7 minutes); otherwise the legokit figures are still measured and the peer
columns read n/a. Records go to benchmarks/results/*.json.

Usage:
    .venv/bin/python benchmarks/run_all.py --quick
    .venv/bin/python benchmarks/run_all.py --setup-peers      # full sizes, build peers if needed
    .venv/bin/python benchmarks/run_all.py --precision bf16   # the peer comparisons in bfloat16 on both sides
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["mt_fairseq.py", "mt_epoch_fairseq.py", "asr_espnet.py", "asr_epoch_espnet.py", "asr_encoder_espnet.py",
              "restricted_attention.py", "scaling.py"]  # asr_encoder_espnet reads the models asr_epoch_espnet trains
PRECISION_AWARE = {"mt_fairseq.py", "asr_espnet.py"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the short version of every benchmark")
    parser.add_argument("--setup-peers", action="store_true", help="build the peer venvs first (idempotent)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these scripts")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="precision of the peer comparisons (mt_fairseq, asr_espnet) on both sides")
    args = parser.parse_args(argv)
    if args.setup_peers:
        subprocess.run([str(HERE / "peers" / "setup_peers.sh")], check=True)
    failed = []
    for script in args.only or BENCHMARKS:
        start = time.perf_counter()
        print(f"== {script}", flush=True)
        extra = ["--quick"] if args.quick else []
        if script in PRECISION_AWARE:
            extra += ["--precision", args.precision]
        code = subprocess.run([sys.executable, str(HERE / script), *extra]).returncode
        print(f"== {script}: exit {code}, {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
