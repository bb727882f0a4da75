"""Every command that writes an output directory locks it (legokit/lock.py): a second run into the same
directory is refused with one line naming the holder and touches nothing; flock and pid-file locks see
each other; a SIGKILLed holder does not block; under torchrun only rank 0 locks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from robustness.cases import write_wav
from robustness.conftest import tiny_overrides

from legokit import lock
from legokit.cli import main
from legokit.train.checkpoint import load_checkpoint


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LEGOKIT_LOCK", "RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "LEGOKIT_NO_TQDM": "1", "OMP_NUM_THREADS": "1", **extra}


def _legokit(*args: str) -> list[str]:
    return [sys.executable, "-m", "legokit.cli", "--log-level", "WARNING", *args]


def _start(command: list[str], **env: str) -> subprocess.Popen:
    return subprocess.Popen(command, env=_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _hold_when_locked(proc: subprocess.Popen, out: Path) -> None:
    """Wait until ``proc`` holds the lock of ``out`` (its record names it), then freeze it (SIGSTOP)."""
    deadline = time.monotonic() + 120
    while True:
        for name in (lock.LOCK_NAME, lock.PIDFILE_NAME):
            try:
                if json.loads((out / name).read_text()).get("pid") == proc.pid:
                    proc.send_signal(signal.SIGSTOP)
                    return
            except (OSError, ValueError):
                pass
        assert proc.poll() is None, f"the first run ended before it was seen holding the lock: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.01)


def _refusal(out: Path, holder: int, stderr: str, command: str) -> None:
    """The second run's whole output is one line naming the holder: pid, host, command, start time."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"legokit {command}: error: output directory {out} is in use: pid {holder} on "
                               f"{socket.gethostname()} holds {out}/"), lines[0]
    assert f"legokit --log-level WARNING {command}" in lines[0] and " since 20" in lines[0]


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    """A speech data dir of 40 one-second utterances."""
    data = tmp_path / "speech"
    data.mkdir()
    ids = [f"u{i:02d}" for i in range(40)]
    for utt in ids:
        write_wav(tmp_path / f"{utt}.wav")
    (data / "wav.scp").write_text("".join(f"{u} {tmp_path}/{u}.wav\n" for u in ids))
    (data / "text").write_text("".join(f"{u} hello world\n" for u in ids))
    (data / "utt2spk").write_text("".join(f"{u} s1\n" for u in ids))
    return data


def _features(data: Path, out: Path) -> list[str]:
    return _legokit("features", "--data-dir", str(data), "--out-dir", str(out))


@pytest.mark.slow
def test_second_train_into_one_out_dir_is_refused_and_the_first_finishes(toy_tokenizers: Path, tmp_path: Path):
    out = tmp_path / "exp"
    command = _legokit("train", "--out-dir", str(out), *tiny_overrides(toy_tokenizers), "train.max_epochs=2")
    first = _start(command)
    _hold_when_locked(first, out)
    try:
        before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
        second = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
        assert second.returncode == 2
        _refusal(out, first.pid, second.stderr, "train")
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # nothing touched
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=600) == 0, first.stderr.read()[-3000:]
    assert load_checkpoint(out / "checkpoints" / "checkpoint_last.pt")["loop"]["step"] == 12
    assert (out / "model.pt").is_file()
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)  # one writer: no second run's records interleaved


@pytest.mark.parametrize("first_mode", ["flock", "pidfile"])
@pytest.mark.parametrize("second_mode", ["flock", "pidfile"])
def test_second_features_run_is_refused_in_every_lock_mode(speech: Path, tmp_path: Path, first_mode: str,
                                                           second_mode: str):
    out = tmp_path / "dump"
    first = _start(_features(speech, out), LEGOKIT_LOCK=first_mode)
    _hold_when_locked(first, out)
    try:
        second = subprocess.run(_features(speech, out), env=_env(LEGOKIT_LOCK=second_mode), capture_output=True,
                                text=True, timeout=120)
        assert second.returncode == 2
        _refusal(out, first.pid, second.stderr, "features")
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=300) == 0, first.stderr.read()[-3000:]
    assert len((out / "feats.scp").read_text().splitlines()) == 40
    assert not (out / lock.PIDFILE_NAME).exists()  # released at exit


def test_a_pid_file_without_flock_still_refuses_a_flock_run(speech: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    """A pid-file holder on a file system without flock (here: it took only the pid file) is seen by flock runs."""
    out = tmp_path / "dump"
    out.mkdir()
    monkeypatch.setenv("LEGOKIT_LOCK", "pidfile")
    assert lock.acquire(out, os.getpid(), None, what="the test") == "pidfile"
    second = subprocess.run(_features(speech, out), env=_env(), capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and f"is in use: pid {os.getpid()} " in second.stderr
    assert f"holds {out / lock.PIDFILE_NAME}" in second.stderr
    assert not (out / "feats.scp").exists()
    lock.release(out, os.getpid())
    assert subprocess.run(_features(speech, out), env=_env(), capture_output=True, timeout=120).returncode == 0


@pytest.mark.parametrize("mode", ["flock", "pidfile"])
def test_a_sigkilled_holder_does_not_block(speech: Path, tmp_path: Path, mode: str):
    out = tmp_path / "dump"
    first = _start(_features(speech, out), LEGOKIT_LOCK=mode)
    _hold_when_locked(first, out)
    first.kill()
    first.wait()
    again = subprocess.run(_features(speech, out), env=_env(LEGOKIT_LOCK=mode), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert ("removing stale lock" in again.stderr) == (mode == "pidfile")
    assert len((out / "feats.scp").read_text().splitlines()) == 40


def test_in_process_cli_refuses_a_held_dir_and_frees_it_after(speech: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture):
    out = tmp_path / "dump"
    with lock.lock_dir(out, what="another features run"):
        assert main(["features", "--data-dir", str(speech), "--out-dir", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"is in use: pid {os.getpid()} " in err and "(another features run)" in err
        assert not (out / "feats.scp").exists()
    assert main(["--log-level", "WARNING", "features", "--data-dir", str(speech), "--out-dir", str(out)]) == 0


@pytest.mark.parametrize("rank", ["0", "1"])
def test_only_global_rank_0_takes_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rank: str):
    monkeypatch.setenv("RANK", rank)
    with lock.lock_dir_rank0(tmp_path / "exp"):
        assert (tmp_path / "exp" / lock.LOCK_NAME).exists() == (rank == "0")


@pytest.mark.slow
def test_two_process_torchrun_train_runs_under_one_lock(toy_tokenizers: Path, tmp_path: Path):
    """All ranks of one torchrun job write one out-dir: rank 0 locks it, the others must not be refused."""
    out = tmp_path / "exp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
               "legokit.cli", "--log-level", "WARNING", "train", "--out-dir", str(out),
               *tiny_overrides(toy_tokenizers), "train.max_epochs=1"]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert load_checkpoint(out / "checkpoints" / "checkpoint_last.pt")["world_size"] == 2
    assert (out / "model.pt").is_file()
    assert json.loads((out / lock.LOCK_NAME).read_text())["what"].startswith("legokit --log-level WARNING train")
