"""Real processes: SIGKILL mid-run and SIGTERM, then resume; both must end on the uninterrupted weights."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from legokit.train import load_checkpoint

TOY_PATH = Path(__file__).with_name("toy.py")
ARGS = ["--max-epochs", "3", "--save-interval", "3"]


def _start(out_dir, *extra):
    env = {**os.environ, "LEGOKIT_NO_TQDM": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(TOY_PATH), str(out_dir), *ARGS, *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def _weights(out_dir):
    return load_checkpoint(out_dir / "checkpoints" / "checkpoint_last.pt")["model"]


@pytest.fixture(scope="module")
def reference(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    toy.main([str(out), *ARGS])
    return _weights(out)


def _assert_same(reference, out_dir):
    resumed = _weights(out_dir)
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)


@pytest.mark.slow
def test_sigkill_then_resume_reaches_the_uninterrupted_weights(toy, reference, tmp_path):
    proc = _start(tmp_path, "--sleep", "0.1")
    _wait_for(tmp_path / "checkpoints" / "ckpt-3.pt", proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(tmp_path / "checkpoints" / "checkpoint_last.pt")["loop"]["step"]
    assert 3 <= killed_at < 24
    toy.main([str(tmp_path), *ARGS])
    _assert_same(reference, tmp_path)


@pytest.mark.slow
def test_sigterm_finishes_the_step_writes_checkpoint_last_and_exits_cleanly(toy, reference, tmp_path):
    proc = _start(tmp_path, "--sleep", "0.1")
    _wait_for(tmp_path / "checkpoints" / "ckpt-3.pt", proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert json.loads(out.splitlines()[-1])["reason"] == "interrupted"
    assert "stopping on signal 15" in err
    stopped_at = load_checkpoint(tmp_path / "checkpoints" / "checkpoint_last.pt")["loop"]["step"]
    assert 3 <= stopped_at < 24
    toy.main([str(tmp_path), *ARGS])
    _assert_same(reference, tmp_path)
