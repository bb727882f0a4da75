"""Directory locks: one run at a time per recipe directory or output directory.

A lock is ``flock(2)`` on ``<dir>/.lock`` (the file also holds a JSON record of the holder: pid, host,
command, start time), or, where flock is unsupported or ``LEGOKIT_LOCK=pidfile`` is set, an O_EXCL pid
file ``<dir>/.lock.pid``. The two modes exclude each other: a flock holder refuses to start while a live
pid file exists, and a pid-file holder also takes (or, if it cannot keep it, tests) the flock. A lock
of a killed process goes away with it (flock) or is taken over (a pid file whose process is gone).
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import shlex
import socket
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from legokit.errors import LegokitError

LOCK_NAME = ".lock"
PIDFILE_NAME = ".lock.pid"
#: errno values of a file system without flock support
_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL)


def _process_start(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat), None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _lock_record(pid: int, what: str) -> dict:
    try:
        pgid = os.getpgid(pid)
    except OSError:
        pgid = None
    return {"pid": pid, "pgid": pgid, "host": socket.gethostname(), "start": _process_start(pid),
            "what": what, "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def _holder_text(record: dict | None, lock_path: Path) -> str:
    if not record:
        return f"another run holds {lock_path}"
    return (f"pid {record.get('pid')} on {record.get('host')} holds {lock_path} since {record.get('since')}"
            f" ({record.get('what') or 'unknown command'})")


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _is_alive(record: dict) -> bool:
    """Whether the process in a lock record still runs (records from other hosts count as alive)."""
    if record.get("host") != socket.gethostname():
        return True
    try:
        pid = int(record.get("pid", 0))
        os.kill(pid, 0)
    except (ProcessLookupError, ValueError, TypeError, OverflowError):
        return False
    except PermissionError:
        return True
    start = _process_start(pid)
    return record.get("start") is None or start is None or start == record["start"]


def _busy_error(directory: Path, kind: str, record: dict | None, lock_path: Path) -> LegokitError:
    """The refusal: who holds the lock and how to stop it (the whole process group, stages included)."""
    if record and not _is_alive(record):
        todo = (f"that run has exited but processes it started still hold the lock; "
                f"list them with `fuser -v {lock_path}`")
    elif record and record.get("pgid"):
        todo = f"wait for it to finish, or stop the run and its stages with `kill -- -{record['pgid']}`"
    else:
        todo = "wait for it to finish"
    return LegokitError(f"{kind} {directory} is in use: {_holder_text(record, lock_path)}; {todo}")


def _flock(fd: int, directory: Path, kind: str) -> bool:
    """flock ``fd`` (of ``<dir>/.lock``) without waiting; False where the file system has no flock."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_path = directory / LOCK_NAME
        raise _busy_error(directory, kind, _read_record(lock_path), lock_path) from None
    except OSError as err:
        if err.errno in _NO_FLOCK:
            return False
        raise
    return True


def _write_record(fd: int, pid: int, what: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(_lock_record(pid, what)) + "\n").encode(), 0)


def _refuse_live_pidfile(directory: Path, kind: str) -> None:
    path = directory / PIDFILE_NAME
    record = _read_record(path)
    if record is not None and _is_alive(record):
        raise _busy_error(directory, kind, record, path)


def _create_pidfile(directory: Path, pid: int, what: str, kind: str) -> None:
    """Create ``<dir>/.lock.pid`` with O_EXCL; a file left by a dead process is taken over."""
    path = directory / PIDFILE_NAME
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            record = _read_record(path)
            if record is not None and _is_alive(record):
                raise _busy_error(directory, kind, record, path) from None
            print(f"legokit: removing stale lock {path} ({_holder_text(record, path)}, not running)",
                  file=sys.stderr)
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(_lock_record(pid, what)) + "\n")
        return
    raise LegokitError(f"could not create the lock file {path}; another run keeps recreating it")


def acquire(directory: Path, pid: int, fd: int | None, what: str = "", kind: str = "directory") -> str:
    """Lock ``directory`` for process ``pid``; ``fd`` is ``<dir>/.lock`` opened read-write (the lock lives
    as long as that open file). Returns the method: "flock", or "pidfile" (``LEGOKIT_LOCK=pidfile``, no
    ``fd``, or a file system without flock; release it with :func:`release`)."""
    if fd is not None and os.environ.get("LEGOKIT_LOCK", "flock") != "pidfile":
        if _flock(fd, directory, kind):
            try:
                _refuse_live_pidfile(directory, kind)
            except LegokitError:
                fcntl.flock(fd, fcntl.LOCK_UN)
                raise
            _write_record(fd, pid, what)
            return "flock"
    _create_pidfile(directory, pid, what, kind)
    probe = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644) if fd is None else fd
    try:
        if _flock(probe, directory, kind):  # a flock holder must see us: hold (or at least test) the flock
            _write_record(probe, pid, what)
    except LegokitError:
        release(directory, pid)
        raise
    finally:
        if fd is None:
            os.close(probe)
    return "pidfile"


def release(directory: Path, pid: int) -> None:
    """Remove the pid-file lock if ``pid`` holds it (flock locks go away with their open file)."""
    path = directory / PIDFILE_NAME
    record = _read_record(path)
    if record is not None and record.get("pid") == pid and record.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


@contextmanager
def lock_dir(directory: Path | str, what: str | None = None, kind: str = "output directory") -> Iterator[str]:
    """Hold the lock of ``directory`` (created if missing) for the ``with`` block; a second holder is refused
    with one line naming this one. ``what`` (default: ``legokit`` and this process's arguments) is shown to it."""
    directory = Path(directory)
    if what is None:
        what = shlex.join(["legokit", *sys.argv[1:]])
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise LegokitError(f"cannot lock {kind} {directory}: {err.strerror}") from err
    pid = os.getpid()
    try:
        method = acquire(directory, pid, fd, what, kind)
        try:
            yield method
        finally:
            release(directory, pid)
    finally:
        os.close(fd)


def lock_dir_rank0(directory: Path | str, what: str | None = None) -> AbstractContextManager:
    """:func:`lock_dir` for commands that torchrun starts once per rank: only global rank 0 (torchrun's
    RANK) takes the lock, before any process group exists; the other ranks run under it."""
    return lock_dir(directory, what) if int(os.environ.get("RANK", "0") or 0) == 0 else nullcontext()
