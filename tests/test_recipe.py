"""Tests for legokit/recipe.py: stage fingerprints, done-markers, change reports, locks."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from legokit import lock, recipe
from legokit.errors import LegokitError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _done(n: int, name: str, command: list[str], **kw) -> Path:
    marker = Path(f"exp/.done/stage{n}.{name}.done")
    recipe.write_marker(marker, recipe.stage_options(command, **kw), start=0.0)
    return marker


def test_fingerprint_is_sha256_of_canonical_options():
    options = recipe.stage_options(["train", "--lr", "0.1"], variables=["A=1"])
    canonical = json.dumps({"command": ["train", "--lr", "0.1"], "files": {}, "functions": {},
                            "variables": {"A": "1"}}, sort_keys=True)
    assert options.fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()


def test_fingerprint_covers_command_files_variables_functions():
    Path("a.yaml").write_text("x: 1\n")
    base = recipe.stage_options(["cmd", "a.yaml"], variables=["V=1"], functions=["f=f () { true; }"])
    assert base.files == {"a.yaml": hashlib.sha256(b"x: 1\n").hexdigest()}
    same = recipe.stage_options(["cmd", "a.yaml"], variables=["V=1"], functions=["f=f () { true; }"])
    assert same.fingerprint() == base.fingerprint()
    others = [
        recipe.stage_options(["cmd", "a.yaml", "x"], variables=["V=1"], functions=["f=f () { true; }"]),
        recipe.stage_options(["cmd", "a.yaml"], variables=["V=2"], functions=["f=f () { true; }"]),
        recipe.stage_options(["cmd", "a.yaml"], variables=["V=1"], functions=["f=f () { false; }"]),
    ]
    Path("a.yaml").write_text("x: 2\n")
    others.append(recipe.stage_options(["cmd", "a.yaml"], variables=["V=1"], functions=["f=f () { true; }"]))
    assert len({o.fingerprint() for o in [base, *others]}) == 5


def test_config_files_found_on_command_line():
    Path("conf").mkdir()
    Path("conf/train.yaml").write_text("a: 1\n")
    Path("conf/extra.json").write_text("{}")
    command = ["train", "--config", "conf/train.yaml", "--x=conf/extra.json", "missing.yaml", "a=1"]
    assert recipe.config_files_in(command) == ["conf/train.yaml", "conf/extra.json"]


def test_named_config_file_must_exist():
    with pytest.raises(LegokitError, match="nope.sh.*run_stage --config"):
        recipe.stage_options(["cmd"], files=["nope.sh"])


def test_variable_needs_name_value():
    with pytest.raises(LegokitError, match="--var expects NAME=VALUE"):
        recipe.stage_options(["cmd"], variables=["JUSTNAME"])


def test_check_states_and_marker_contents():
    marker = Path("exp/.done/stage2.train.done")
    options = recipe.stage_options(["train", "--lr", "0.1"])
    assert recipe.check_stage(marker, options) == "not done yet"
    log = Path("exp/logs/stage2.train.log")
    log.parent.mkdir(parents=True)
    log.write_text("half done\n")
    assert "failed or was interrupted" in recipe.check_stage(marker, options, log)
    data = recipe.write_marker(marker, options, start=0.0)
    assert recipe.check_stage(marker, options, log) is None
    on_disk = json.loads(marker.read_text())
    assert on_disk == data
    assert on_disk["stage"] == 2 and on_disk["name"] == "train"
    assert on_disk["options"]["command"] == ["train", "--lr", "0.1"]
    assert on_disk["fingerprint"] == options.fingerprint()
    assert on_disk["duration_s"] > 0 and on_disk["time"] and on_disk["run_id"]
    assert list(marker.parent.iterdir()) == [marker]  # no temporary file left behind


def test_changed_option_is_named():
    marker = _done(3, "train", ["train", "--lr", "0.1", "--epochs", "3"], variables=["NJ=4"])
    changed = recipe.stage_options(["train", "--lr", "0.2", "--epochs", "3"], variables=["NJ=8"])
    reason = recipe.check_stage(marker, changed)
    assert reason == "options changed: '--lr 0.1' -> '--lr 0.2'; variable NJ: '4' -> '8'"
    positional = recipe.stage_options(["train", "--lr", "0.1", "--epochs", "3", "out"], variables=["NJ=4"])
    assert recipe.check_stage(marker, positional) == "options changed: added 'out'"
    marker = _done(4, "decode", ["decode", "in", "0.5"])
    assert recipe.check_stage(marker, recipe.stage_options(["decode", "in", "0.7"])).endswith("'0.5' -> '0.7'")


def test_added_removed_and_config_changes_are_named():
    Path("c.yaml").write_text("a: 1\n")
    marker = _done(1, "x", ["run", "c.yaml", "--debug"])
    Path("c.yaml").write_text("a: 2\n")
    reason = recipe.check_stage(marker, recipe.stage_options(["run", "c.yaml", "--beam", "-1"]))
    assert reason == "options changed: removed '--debug'; added '--beam -1'; config c.yaml changed"


def test_reordered_arguments_rerun():
    marker = _done(1, "x", ["cp", "a", "b"])
    reason = recipe.check_stage(marker, recipe.stage_options(["cp", "b", "a"]))
    assert reason == "options changed: argument order changed"


def test_rerun_of_earlier_stage_invalidates_later_ones():
    _done(1, "prep", ["prep"])
    later = _done(2, "train", ["train"])
    _done(3, "score", ["score"])  # a later stage does not matter to stage 2
    train = recipe.stage_options(["train"])
    assert recipe.check_stage(later, train) is None
    _done(1, "prep", ["prep"])  # stage 1 ran again (same options, new run)
    assert recipe.check_stage(later, train) == "earlier stages re-ran since: stage1.prep"
    Path("exp/.done/stage1.prep.done").unlink()  # a removed marker alone is no reason to re-run
    assert recipe.check_stage(later, train) is None


def test_cli_check_exit_codes(capsys: pytest.CaptureFixture[str]):
    marker = "exp/.done/stage1.a.done"
    assert recipe.main(["check", marker, "--", "echo", "hi"]) == recipe.NEEDS_RUN == 10
    assert capsys.readouterr().out.strip() == "not done yet"
    assert recipe.main(["done", marker, "--start", "0", "--", "echo", "hi"]) == 0
    assert float(capsys.readouterr().out) > 1e9  # the duration since epoch 0, in seconds
    assert recipe.main(["check", marker, "--", "echo", "hi"]) == 0
    assert recipe.main(["check", marker, "--", "echo", "ho"]) == recipe.NEEDS_RUN
    assert "'hi' -> 'ho'" in capsys.readouterr().out
    assert recipe.main(["check", marker, "--file", "gone.yaml", "--", "echo"]) == 2
    assert "gone.yaml" in capsys.readouterr().err
    assert recipe.main(["check", marker]) == 2
    assert "-- CMD ARGS" in capsys.readouterr().err


def test_status_lists_markers_in_stage_order(capsys: pytest.CaptureFixture[str]):
    _done(10, "score", ["s"])
    _done(2, "train", ["t"])
    assert recipe.main(["status", "exp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["stage2.train.done", "stage10.score.done"]


def test_marker_records_the_git_hash_of_the_working_directory(tmp_path: Path):
    assert json.loads(_done(2, "train", ["t"]).read_text())["git"] == "unknown"  # tmp_path is not a checkout


# ----------------------------------------------------------------------------------------------- locks

def test_flock_refuses_second_holder_and_names_pid():
    first = os.open(".lock", os.O_RDWR | os.O_CREAT)
    second = os.open(".lock", os.O_RDWR | os.O_CREAT)  # another open file, as another shell would have
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        assert lock.acquire(Path("."), pid=dead.pid, fd=first, what="./run.sh") == "flock"
        with pytest.raises(LegokitError, match=rf"in use: pid {dead.pid} .*\./run\.sh.*fuser -v \.lock`"):
            lock.acquire(Path("."), pid=99, fd=second)  # the holder exited: a child holds it
        me = os.getpid()
        assert lock.acquire(Path("."), pid=me, fd=first) == "flock"  # flock again: same file, fine
        with pytest.raises(LegokitError, match=f"in use: pid {me} .*kill -- -{os.getpgid(me)}"):
            lock.acquire(Path("."), pid=99, fd=second)
    finally:
        os.close(first)
    assert lock.acquire(Path("."), pid=99, fd=second) == "flock"  # freed when the holder closed
    os.close(second)


def test_pidfile_lock_refuses_live_holder_and_takes_over_stale(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LEGOKIT_LOCK", "pidfile")
    me = os.getpid()
    assert lock.acquire(Path("."), pid=me, fd=None) == "pidfile"
    with pytest.raises(LegokitError, match=f"in use: pid {me}"):
        lock.acquire(Path("."), pid=me + 1, fd=None)
    lock.release(Path("."), pid=me + 1)  # not the holder: nothing happens
    assert Path(lock.PIDFILE_NAME).exists()
    lock.release(Path("."), pid=me)
    assert not Path(lock.PIDFILE_NAME).exists()

    dead = subprocess.Popen(["true"])
    dead.wait()
    assert lock.acquire(Path("."), pid=dead.pid, fd=None) == "pidfile"
    assert lock.acquire(Path("."), pid=me, fd=None) == "pidfile"  # the dead holder's lock is stale
    assert json.loads(Path(lock.PIDFILE_NAME).read_text())["pid"] == me


def test_pidfile_with_reused_pid_is_stale():
    """A live pid whose start time differs from the recorded one is another process: the lock is stale."""
    record = lock._lock_record(os.getpid(), "x")
    assert lock._is_alive(record)
    assert not lock._is_alive({**record, "start": "1"})


def test_falls_back_to_pidfile_where_flock_is_unsupported(monkeypatch: pytest.MonkeyPatch):
    def no_flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(lock.fcntl, "flock", no_flock)
    fd = os.open(".lock", os.O_RDWR | os.O_CREAT)
    try:
        assert lock.acquire(Path("."), pid=os.getpid(), fd=fd) == "pidfile"
    finally:
        os.close(fd)
    assert json.loads(Path(lock.PIDFILE_NAME).read_text())["pid"] == os.getpid()
