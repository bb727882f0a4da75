"""The wrapper every queued job runs in: ``python -m legokit.cluster.job --index I --log LOG -- CMD ...``.

It replaces ``JOB`` by the job index in LOG and CMD, writes a header to LOG, runs CMD with its output in LOG,
and ends LOG with the status line ``# ended (exit code N) at ...`` that :func:`read_status` reads; a job killed
outright (time limit, memory, node failure) leaves no status line and counts as failed.

``legokit train`` is launched under torchrun when ``--nproc`` > 1 (``--standalone``) or ``--nodes`` > 1: under
SLURM ``srun`` starts one torchrun per node (c10d rendezvous on the first node); with ``--rdzv-endpoint`` this
job is one node (``--node-rank``) of a run whose other nodes are started by hand.
SIGTERM is forwarded to the command (the trainer finishes its update, writes checkpoint_last.pt and exits);
with ``--requeue`` under SLURM the wrapper then runs ``scontrol requeue $SLURM_JOB_ID``, and the requeued job
resumes from the checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from legokit.fileio import split_lines

STATUS = re.compile(r"^# ended \(exit code (-?\d+)\)")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]  # what the `torchrun` script runs


def substitute(items: list[str], index: int) -> list[str]:
    """``items`` with every ``JOB`` replaced by ``index`` (ESPnet's run.pl convention)."""
    return [item.replace("JOB", str(index)) for item in items]


def is_legokit_train(command: list[str]) -> bool:
    """True for ``legokit [--log-level L] train ...``."""
    return bool(command) and Path(command[0]).name == "legokit" and "train" in command[1:4]


def launch(command: list[str], nproc: int, nodes: int, port: int, node_rank: int = 0,
           endpoint: str | None = None) -> list[str]:
    """The command line that runs ``legokit train ...`` on ``nodes`` nodes x ``nproc`` processes (unchanged for
    1 x 1 or another command). On several nodes with an ``endpoint`` (HOST:PORT) it is this node's torchrun
    (rank ``node_rank``; every node runs the same command, so the rendezvous id derived from it agrees);
    without one, one torchrun per node is started by ``srun``, each reads its node rank from SLURM_NODEID, and
    all meet at the first node of the job (c10d rendezvous)."""
    if not is_legokit_train(command) or (nproc <= 1 and nodes <= 1):
        return command
    args = ["-m", "legokit.cli", *command[1:]]
    if nodes <= 1:
        return [*TORCHRUN, "--standalone", "--nproc_per_node", str(nproc), *args]
    if endpoint:
        rdzv_id = "legokit-" + hashlib.sha256(shlex.join(command).encode()).hexdigest()[:12]
        return [*TORCHRUN, "--nnodes", str(nodes), "--node_rank", str(node_rank), "--rdzv_backend", "c10d",
                "--rdzv_endpoint", endpoint, "--rdzv_id", rdzv_id, "--nproc_per_node", str(nproc), *args]
    torchrun = shlex.join(TORCHRUN)
    per_node = (f'exec {torchrun} --nnodes "$SLURM_NNODES" --node_rank "$SLURM_NODEID" --rdzv_backend c10d '
                f'--rdzv_endpoint "$0" --rdzv_id "$SLURM_JOB_ID" --nproc_per_node {nproc} "$@"')
    return ["srun", "--nodes", str(nodes), "--ntasks-per-node", "1", "--kill-on-bad-exit=1", "sh", "-c", per_node,
            f"{first_node()}:{port}", *args]


def first_node() -> str:
    """The first host of this SLURM job (the rendezvous host); this host outside SLURM."""
    nodelist = os.environ.get("SLURM_JOB_NODELIST")
    if not nodelist:
        return socket.gethostname()
    hosts = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
    return hosts.stdout.split()[0]


def read_status(log: Path) -> int | None:
    """The exit code in the last status line of ``log``; None when the job left none (never ran or was killed)."""
    try:
        lines = split_lines(log.read_bytes().decode("utf-8", errors="replace"))
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        match = STATUS.match(line)
        if match:
            return int(match.group(1))
    return None


def run_job(index: int, log_pattern: str, command: list[str], nproc: int = 1, nodes: int = 1, port: int = 29500,
            requeue: bool = False, node_rank: int = 0, endpoint: str | None = None) -> int:
    """Run job ``index``: its output and final status go to its log. Returns the command's exit code."""
    log = Path(substitute([log_pattern], index)[0])
    command = launch(substitute(command, index), nproc, nodes, port, node_rank, endpoint)
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    log.parent.mkdir(parents=True, exist_ok=True)
    received: list[int] = []
    start = time.time()
    with open(log, "ab" if restarts else "wb", buffering=0) as out:
        slurm_job = os.environ.get("SLURM_JOB_ID")
        where = f"{socket.gethostname()}, job {index}" + (f", SLURM job {slurm_job}" if slurm_job else "")
        where += f", restart {restarts}" if restarts else ""
        out.write(f"# {shlex.join(command)}\n# started at {time.strftime('%F %T')} on {where}\n".encode())
        try:
            child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        except OSError as err:
            out.write(f"legokit queue: cannot run {command[0]}: {err.strerror}\n".encode())
            out.write(f"# ended (exit code 127) at {time.strftime('%F %T')}\n".encode())
            return 127

        def forward(signum: int, _frame: object) -> None:
            received.append(signum)
            child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, lambda *_: None)  # Ctrl-C reaches the command itself (same process group)
        code = child.wait()
        elapsed = time.time() - start
        if received and requeue and slurm_job:
            out.write(f"# SIGTERM forwarded; the command exited with code {code}; requeueing SLURM job {slurm_job} "
                      f"at {time.strftime('%F %T')} after {elapsed:.0f} s\n".encode())
            done = subprocess.run(["scontrol", "requeue", slurm_job], stdout=out, stderr=subprocess.STDOUT)
            if done.returncode == 0:
                return 0
            code = code or done.returncode
        out.write(f"# ended (exit code {code}) at {time.strftime('%F %T')} after {elapsed:.1f} s\n".encode())
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m legokit.cluster.job", description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=int, default=os.environ.get("SLURM_ARRAY_TASK_ID"),
                        help="job index (replaces JOB); default: $SLURM_ARRAY_TASK_ID")
    parser.add_argument("--log", required=True, help="log file, with JOB for the index")
    parser.add_argument("--nproc", type=int, default=1, help="legokit train: processes per node")
    parser.add_argument("--nodes", type=int, default=1, help="legokit train: nodes (srun, under SLURM)")
    parser.add_argument("--port", type=int, default=29500, help="rendezvous port on the first node")
    parser.add_argument("--node-rank", type=int, default=0, help="legokit train: this node's rank (--rdzv-endpoint)")
    parser.add_argument("--rdzv-endpoint", help="legokit train: HOST:PORT of the c10d rendezvous of nodes started "
                                                "by hand (without it, several nodes need SLURM's srun)")
    parser.add_argument("--requeue", action="store_true", help="after a SIGTERM, scontrol requeue this SLURM job")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.index is None or not command:
        parser.error("give --index (or run as a SLURM array task) and -- CMD ARGS...")
    return run_job(args.index, args.log, command, args.nproc, args.nodes, args.port, args.requeue, args.node_rank,
                   args.rdzv_endpoint)


if __name__ == "__main__":
    sys.exit(main())
