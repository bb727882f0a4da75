"""`legokit train` SIGKILLed at random moments, several times in a row, then run again: every checkpoint
left behind loads, the last run completes the schedule, and the exported model loads and decodes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from robustness.conftest import tiny_overrides

from legokit.lego.loading import load_bricks
from legokit.train.checkpoint import list_checkpoints, load_checkpoint
from legokit.workflows.decode import DecodeConfig, decode_dir

EPOCHS = 20  # 600 toy sentences / 700-token batches = 6 updates per epoch; long enough that no kill lands late
SCHEDULE = [f"train.max_epochs={EPOCHS}", "train.save_interval_steps=2", "train.keep_last_checkpoints=3"]


def _command(tokenizers: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "legokit.cli", "--log-level", "WARNING", "train", "--out-dir", str(out),
            *tiny_overrides(tokenizers), *SCHEDULE]


def _env() -> dict[str, str]:
    return {**os.environ, "LEGOKIT_NO_TQDM": "1", "OMP_NUM_THREADS": "1"}


def _step(out: Path) -> int:
    last = out / "checkpoints" / "checkpoint_last.pt"
    return load_checkpoint(last)["loop"]["step"] if last.is_file() else 0


def _kill_after_progress(command: list[str], out: Path, rng: random.Random) -> None:
    """Start a run, wait until it has written a checkpoint beyond the current one, then SIGKILL it after a
    random extra delay (so the kill lands anywhere: in a forward pass, in a checkpoint write, ...)."""
    start_step = _step(out)
    last = out / "checkpoints" / "checkpoint_last.pt"
    stamp = last.stat().st_mtime_ns if last.exists() else 0
    proc = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (last.exists() and last.stat().st_mtime_ns != stamp):
        assert proc.poll() is None, f"run ended before it was killed: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.5))
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run finished before the kill: lengthen the schedule"
    assert _step(out) >= start_step  # never goes back, and checkpoint_last always loads
    for path in list_checkpoints(out / "checkpoints").values():
        load_checkpoint(path)  # raises on a half-written file


@pytest.mark.slow
def test_sigkilled_training_resumes_to_completion(toy_tokenizers: Path, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    command = _command(toy_tokenizers, out)
    rng = random.Random(10)
    for _ in range(3):
        _kill_after_progress(command, out, rng)
    assert not (out / "model.pt").exists()
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _step(out) == EPOCHS * 6
    bricks = load_bricks(out / "model.pt")
    assert [b.kind for b in bricks] == ["encoder", "decoder"]
    hyp = tmp_path / "hyp.txt"
    decode_dir(out / "model.pt", Path(__file__).parents[1] / "fixtures" / "lego" / "test", hyp,
               DecodeConfig(), src_lang="de")
    assert len(hyp.read_text().splitlines()) == 100
