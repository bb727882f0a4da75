"""SIGTERM before the time limit -> checkpoint -> requeue -> resume, for `legokit train` run by `legokit queue
--cmd slurm --kind train` on a real SLURM: the batch step gets SIGTERM (as `--signal=B:TERM@grace` sends it),
the wrapper forwards it, the trainer writes checkpoint_last.pt and exits, the job is requeued and the second
run resumes to the end of the schedule."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from robustness.conftest import tiny_overrides

from legokit.train.checkpoint import load_checkpoint

EPOCHS = 20  # 6 updates per epoch on the toy fixture


def _squeue(*fields: str) -> list[list[str]]:
    out = subprocess.run(["squeue", "-h", "-n", "legokit-train", "-o", " ".join(fields)], capture_output=True,
                         text=True, check=True).stdout
    return [line.split() for line in out.splitlines()]


def _wait(check: callable, proc: subprocess.Popen, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"legokit queue ended before {what}: {proc.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.2)


@pytest.mark.long
def test_sigterm_checkpoints_requeues_and_resumes(slurm: Path, toy_tokenizers: Path, tmp_path: Path) -> None:
    exp, log = tmp_path / "exp", tmp_path / "log" / "train.log"
    last = exp / "checkpoints" / "checkpoint_last.pt"
    conf = tmp_path / "cluster.yaml"
    conf.write_text("train: {cpus_per_task: 1, grace: 60}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "legokit.cli", "queue", "--cmd", "slurm", "--conf", str(conf), "--kind", "train",
         "--retries", "0", str(log), "--", "legokit", "--log-level", "WARNING", "train", "--out-dir", str(exp),
         *tiny_overrides(toy_tokenizers), f"train.max_epochs={EPOCHS}", "train.save_interval_steps=2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(last.exists, proc, "checkpoint")
    (job,) = _squeue("%A")
    subprocess.run(["scancel", "--signal=TERM", "--batch", job[0]], check=True)  # what --signal=B:TERM@grace does
    _wait(lambda: _squeue("%A", "%T") == [[job[0], "PENDING"]], proc, "requeued job")
    stopped_at = load_checkpoint(last)["loop"]["step"]
    assert 0 < stopped_at < EPOCHS * 6
    # SLURM holds a requeued job back (BeginTime = now + the credential lifetime, ~2 min): slurmd refuses to start
    # it earlier ("Job credential revoked": the job would end with no status line), so the test waits it out
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    text = log.read_text()
    assert f"# SIGTERM forwarded; the command exited with code 0; requeueing SLURM job {job[0]}" in text
    assert "restart 1" in text and text.rstrip().splitlines()[-1].startswith("# ended (exit code 0)")
    assert load_checkpoint(last)["loop"]["step"] == EPOCHS * 6 and (exp / "model.pt").is_file()
