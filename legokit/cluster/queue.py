"""Run a ``JOB=1:N`` array of one command, locally or as one SLURM job array, with retries of the failed jobs.

    run_array(JobArray(log="exp/log/decode.JOB.log", command=[...], indices=[1, 2, 3, 4], kind="decode",
                       resources=load_cluster_config("conf/cluster.yaml").resources("decode")), cmd="slurm")

Each job runs in :mod:`legokit.cluster.job`, which writes its exit status into its log. After a round, the
jobs that failed (or left no status) are run again, alone, up to ``retries`` times; if some still fail, the
tail of the first one's log is printed and a :class:`LegokitError` names it.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from legokit.cluster.config import Resources
from legokit.cluster.job import launch, read_status, substitute
from legokit.errors import LegokitError
from legokit.fileio import split_lines, write_atomic

log = logging.getLogger(__name__)
_JOBS = re.compile(r"^JOB=(\d+):(\d+)$")
TAIL_LINES = 20
POLL_SECONDS = 2.0


@dataclass
class JobArray:
    """One command run as jobs ``indices``; ``JOB`` in ``log`` and ``command`` is replaced by the index."""

    log: str
    command: list[str]
    indices: list[int]
    kind: str
    resources: Resources
    nproc: int = 1
    max_parallel: int | None = None  # None: local = CPU count, SLURM = no limit
    nodes: int | None = None  # train: nodes (None: the kind's ``nodes`` on SLURM, 1 locally)
    node_rank: int = 0  # train, local, several nodes: this node's rank
    rdzv_endpoint: str | None = None  # train, local, several nodes: HOST:PORT of the c10d rendezvous

    def log_of(self, index: int) -> Path:
        return Path(substitute([self.log], index)[0])

    def train_nodes(self, slurm: bool) -> int:
        """Nodes of a training job: ``nodes`` if given, else the kind's on SLURM and 1 locally."""
        return self.nodes or (self.resources.nodes if slurm else 1)

    def launch_line(self, index: int) -> list[str]:
        """What local job ``index`` runs (``legokit train`` under torchrun as the wrapper launches it)."""
        command = substitute(self.command, index)
        if self.kind != "train":
            return command
        return launch(command, self.nproc, self.train_nodes(False), self.resources.port, self.node_rank,
                      self.rdzv_endpoint)

    def wrapper(self, index: int | None, slurm: bool) -> list[str]:
        """The job wrapper's command line for job ``index`` (None: the SLURM array task's index)."""
        train = ["--nproc", str(self.nproc), "--nodes", str(self.train_nodes(slurm)),
                 "--port", str(self.resources.port)] if self.kind == "train" else []
        if self.kind == "train" and not slurm and self.rdzv_endpoint:
            train += ["--node-rank", str(self.node_rank), "--rdzv-endpoint", self.rdzv_endpoint]
        requeue = ["--requeue"] if slurm and self.kind == "train" else []
        where = ["--index", str(index)] if index is not None else []
        return [sys.executable, "-m", "legokit.cluster.job", *where, "--log", self.log, *train, *requeue, "--",
                *self.command]


def parse_jobs(spec: str | None) -> list[int]:
    """``JOB=1:N`` -> [1..N]; None -> [1] (one job)."""
    if spec is None:
        return [1]
    match = _JOBS.match(spec)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise LegokitError(f"--jobs '{spec}': expected JOB=FIRST:LAST with 1 <= FIRST <= LAST, e.g. JOB=1:4")
    return list(range(int(match.group(1)), int(match.group(2)) + 1))


def threads_per_job(parallel: int) -> dict[str, str]:
    """The environment of ``parallel`` local jobs sharing this machine: OMP_NUM_THREADS = CPUs / jobs (at least
    1) unless the user set it. Each torch process would otherwise start one thread per CPU: N jobs x N threads
    on N cores spin-wait on each other and an update or a decode can take 10x longer (docs/cluster.md, Threads)."""
    env = dict(os.environ)
    if parallel > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // parallel))
    return env


def run_local(array: JobArray, indices: list[int], dry_run: bool = False) -> None:
    """Run the jobs ``indices`` as local processes, at most ``max_parallel`` at a time."""
    limit = array.max_parallel or os.cpu_count() or 1
    if dry_run:
        for index in indices:
            print(f"JOB={index}: {shlex.join(array.launch_line(index))} > {array.log_of(index)}")
        return
    pending, running = list(indices), []
    env = threads_per_job(min(limit, len(indices)))
    try:
        while pending or running:
            while pending and len(running) < limit:
                running.append(subprocess.Popen(array.wrapper(pending.pop(0), slurm=False), env=env))
            time.sleep(0.05)
            running = [proc for proc in running if proc.poll() is None]
    finally:
        for proc in running:  # interrupted: stop the jobs still running (the wrapper forwards the SIGTERM)
            proc.terminate()
        for proc in running:
            proc.wait()


def sbatch_command(array: JobArray, indices: list[int], script: Path) -> list[str]:
    """The sbatch command line submitting ``indices`` of ``array`` as one job array and waiting for it."""
    res = array.resources
    spec = ",".join(map(str, indices)) + (f"%{array.max_parallel}" if array.max_parallel else "")
    cmd = ["sbatch", "--parsable", "--wait", f"--job-name=legokit-{array.kind}", f"--array={spec}",
           f"--output={script.with_suffix('')}.%a.out", f"--cpus-per-task={res.cpus_per_task}"]
    cmd += [f"--partition={res.partition}"] if res.partition else []
    cmd += [f"--mem={res.mem}"] if res.mem else []
    cmd += [f"--time={res.time}"] if res.time else []
    cmd += [f"--gres=gpu:{res.gpus}"] if res.gpus else []
    if array.kind == "train":
        cmd += [f"--nodes={res.nodes}", "--ntasks-per-node=1", "--requeue", f"--signal=B:TERM@{res.grace}"]
    return [*cmd, *res.extra, str(script)]


def run_slurm(array: JobArray, indices: list[int], dry_run: bool = False) -> None:
    """Submit the jobs ``indices`` as one SLURM job array and wait until all have ended (requeues included)."""
    first = array.log_of(indices[0])
    script = first.parent / ".queue" / (Path(array.log).name.replace("JOB", "array") + ".sbatch")
    # the recipes' path.sh exports OMP_NUM_THREADS=1 for local jobs side by side, and sbatch passes the submitting
    # environment on: each task's (or each torchrun process's) share of --cpus-per-task instead
    per_process = array.nproc if array.kind == "train" else 1
    threads = max(1, (array.resources.cpus_per_task or 1) // per_process)
    body = (f"#!/bin/sh\n# legokit queue: {array.kind} jobs of {array.log}\n"
            f"export OMP_NUM_THREADS={threads}\n"
            f"exec {shlex.join(array.wrapper(None, slurm=True))}\n")
    cmd = sbatch_command(array, indices, script)
    if dry_run:
        print(f"{shlex.join(cmd)}\n{script}:\n{body}", end="")
        return
    if shutil.which("sbatch") is None:
        raise LegokitError("--cmd slurm: sbatch not found; install SLURM's client (Debian: apt-get install "
                           "slurm-client) and point SLURM_CONF at the cluster's slurm.conf, or use --cmd local")
    write_atomic(body, script)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job_id = (proc.stdout.readline().strip().split(";") or [""])[0]
    try:
        _, err = proc.communicate()
        while job_id and _queued(job_id):  # `sbatch --wait` returns when a requeued train job leaves the node
            time.sleep(POLL_SECONDS)
    except BaseException:  # interrupted: do not leave the array running
        if job_id:
            subprocess.run(["scancel", job_id], check=False)
        raise
    if not job_id:
        problem = (split_lines(err.strip()) or [f"exit code {proc.returncode}"])[-1]
        raise LegokitError(f"sbatch refused the {array.kind} jobs of {array.log}: {problem}")
    log.info("SLURM job array %s (%s) ended", job_id, ",".join(map(str, indices)))


def _queued(job_id: str) -> bool:
    """True while some task of SLURM job ``job_id`` is pending or running (requeued ones included)."""
    found = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True)
    return found.returncode == 0 and bool(found.stdout.split())


RUNNERS: dict[str, Callable[[JobArray, list[int], bool], None]] = {"local": run_local, "slurm": run_slurm}


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log: the job never started)\n"
    return "".join(line + "\n" for line in split_lines(text)[-lines:])


def run_array(array: JobArray, cmd: str, retries: int = 1, dry_run: bool = False) -> None:
    """Run every job of ``array`` with runner ``cmd`` (local or slurm); re-run the failed ones alone up to
    ``retries`` times. Raises :class:`LegokitError` naming the first failing job's log if some still fail."""
    runner = RUNNERS[cmd]
    indices = list(array.indices)
    for attempt in range(retries + 1):
        if not dry_run:
            for index in indices:
                array.log_of(index).unlink(missing_ok=True)  # no status from an older run
        runner(array, indices, dry_run)
        if dry_run:
            return
        failed = [index for index in indices if read_status(array.log_of(index)) != 0]
        if not failed:
            return
        if attempt < retries:
            log.warning("%d of %d %s job(s) failed (JOB=%s); running them again (retry %d of %d)", len(failed),
                        len(indices), array.kind, ",".join(map(str, failed)), attempt + 1, retries)
        indices = failed
    first = array.log_of(indices[0])
    status = read_status(first)
    how = f"exit code {status}" if status is not None else "no exit status: killed (time limit, memory, node?)"
    print(f"==> {first} (last {TAIL_LINES} lines) <==\n{_tail(first)}", end="", file=sys.stderr)
    raise LegokitError(f"{len(indices)} of {len(array.indices)} {array.kind} job(s) failed (JOB="
                       f"{','.join(map(str, indices))}) after {retries} retr{'y' if retries == 1 else 'ies'}; "
                       f"first: {first} ({how})")
