"""Recipe bookkeeping that the egs/ shell scripts call: stage fingerprints, done-markers, run locks.

The shell side (egs/TEMPLATE/utils/stage.sh) stays thin; everything that decides whether a stage runs
lives here so it is tested in Python. Subcommands (all paths relative to the recipe directory)::

  python -m legokit.recipe check  MARKER [--log L] [--file F]... [--var K=V]... [--function F=BODY]... -- CMD
  python -m legokit.recipe done   MARKER --start EPOCH [same options] -- CMD...
  python -m legokit.recipe lock   DIR --pid PID [--fd FD] [--what TEXT]
  python -m legokit.recipe unlock DIR --pid PID
  python -m legokit.recipe status EXPDIR

``check`` exits 0 when the stage is done with the same options (skip it), NEEDS_RUN (10) with the
reason on stdout when it must run, 2 on a user error (anything else is a crash, not "run it").
A marker ``stageN.<name>.done`` is JSON (see :func:`write_marker`).
"""

from __future__ import annotations

import argparse
import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from legokit.errors import LegokitError
from legokit.fileio import write_atomic

#: arguments with these suffixes that name an existing file are hashed into the fingerprint
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
MARKER_RE = re.compile(r"^stage(\d+)\.(.+)\.done$")
PIDFILE_NAME = ".lock.pid"
#: exit status of ``check`` for "the stage must run" (distinct from Python's own 1 on a crash)
NEEDS_RUN = 10


@dataclass(frozen=True)
class StageOptions:
    """Everything a stage ran with; its hash is the stage's fingerprint."""

    command: list[str]
    #: config file path -> sha256 of its contents (named with --file, or found on the command line)
    files: dict[str, str] = field(default_factory=dict)
    #: variables the caller listed (shell or environment), name -> value
    variables: dict[str, str] = field(default_factory=dict)
    #: shell functions used by the command, name -> sha256 of their body (`declare -f`)
    functions: dict[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """sha256 over the canonical JSON of all fields."""
        return _sha256(json.dumps(asdict(self), sort_keys=True))


def _sha256(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def _split_pair(item: str, flag: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise LegokitError(f"{flag} expects NAME=VALUE, got {item!r}")
    return name, value


def config_files_in(command: list[str]) -> list[str]:
    """Arguments of ``command`` (or the value of ``--opt=FILE``) naming existing .yaml/.yml/.json files."""
    found = []
    for token in command:
        candidate = token.split("=", 1)[-1]
        if candidate.endswith(CONFIG_SUFFIXES) and Path(candidate).is_file():
            found.append(candidate)
    return found


def stage_options(command: Sequence[str], files: Sequence[str] = (), variables: Sequence[str] = (),
                  functions: Sequence[str] = ()) -> StageOptions:
    """Collect a stage's options: hash the named config files and those on the command line.

    ``variables`` and ``functions`` are ``NAME=VALUE`` strings as the shell passes them.
    """
    hashes = {}
    for path in [*files, *config_files_in(command)]:
        try:
            hashes[path] = _sha256(Path(path).read_bytes())
        except OSError as err:
            raise LegokitError(f"config file {path} named for this stage cannot be read ({err.strerror}); "
                               "fix the path given to run_stage --config") from err
    return StageOptions(
        command=list(command), files=hashes,
        variables=dict(_split_pair(v, "--var") for v in variables),
        functions={name: _sha256(body) for name, body in (_split_pair(f, "--function") for f in functions)},
    )


def read_marker(marker: Path) -> dict | None:
    """The marker's JSON, or None if it is missing or unreadable (it is then simply redone)."""
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _stage_number(marker: Path) -> int | None:
    match = MARKER_RE.match(marker.name)
    return int(match.group(1)) if match else None


def _stage_name(marker: Path) -> str:
    match = MARKER_RE.match(marker.name)
    return match.group(2) if match else marker.stem


def upstream_runs(marker: Path) -> dict[str, str]:
    """Run ids of the done-markers of all earlier stages (lower stage number) next to ``marker``."""
    number = _stage_number(marker)
    if number is None or not marker.parent.is_dir():
        return {}
    runs = {}
    for other in sorted(marker.parent.glob("stage*.done")):
        other_number = _stage_number(other)
        data = read_marker(other)
        if other_number is not None and other_number < number and data is not None:
            runs[other.name] = data.get("run_id", "")
    return runs


def _option_items(command: list[str]) -> list[str]:
    """Group ``--opt value`` pairs so a changed value reads as one item."""
    items, i = [], 0
    while i < len(command):
        token = command[i]
        has_value = i + 1 < len(command) and not _is_flag(command[i + 1])
        if _is_flag(token) and "=" not in token and has_value:
            items.append(f"{token} {command[i + 1]}")
            i += 2
        else:
            items.append(token)
            i += 1
    return items


def _is_flag(token: str) -> bool:
    return token.startswith("-") and not re.fullmatch(r"-[\d.]+(e-?\d+)?", token)


def _dict_changes(kind: str, old: dict[str, str], new: dict[str, str], show_values: bool) -> list[str]:
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if key not in old:
            changes.append(f"{kind} {key} added")
        elif key not in new:
            changes.append(f"{kind} {key} removed")
        elif old[key] != new[key]:
            changes.append(f"{kind} {key}: {old[key]!r} -> {new[key]!r}" if show_values
                           else f"{kind} {key} changed")
    return changes


def _command_changes(old: list[str], new: list[str]) -> list[str]:
    """Items of two command lines that differ: same option with another value as ``a -> b``."""
    old_items, new_items = _option_items(old), _option_items(new)
    removed = [item for item in old_items if item not in new_items]
    added = [item for item in new_items if item not in old_items]
    changes = []
    for item in list(removed):
        key = item.split(" ", 1)[0]
        match = next((a for a in added if _is_flag(key) and a.split(" ", 1)[0] == key), None)
        if match is None:
            continue
        changes.append(f"{item!r} -> {match!r}")
        removed.remove(item)
        added.remove(match)
    if len(removed) == len(added) and not any(_is_flag(i) for i in removed + added):
        changes += [f"{a!r} -> {b!r}" for a, b in zip(removed, added)]
    else:
        changes += [f"removed {item!r}" for item in removed] + [f"added {item!r}" for item in added]
    if not changes and old_items != new_items:
        changes.append("argument order changed")
    return changes


def describe_changes(old: dict, new: StageOptions) -> str:
    """One line saying which options differ between a marker's recorded options and ``new``."""
    changes = _command_changes(old.get("command", []), new.command)
    changes += _dict_changes("config", old.get("files", {}), new.files, show_values=False)
    changes += _dict_changes("variable", old.get("variables", {}), new.variables, show_values=True)
    changes += _dict_changes("function", old.get("functions", {}), new.functions, show_values=False)
    return "; ".join(changes) or "options changed"


def check_stage(marker: Path, options: StageOptions, log: Path | None = None) -> str | None:
    """None if ``marker`` records a finished run with these options and unchanged upstream stages,
    else the reason the stage must run."""
    data = read_marker(marker)
    if data is None:
        if log is not None and log.exists():
            return f"no done-marker: the last attempt failed or was interrupted (log: {log})"
        return "not done yet"
    if data.get("fingerprint") != options.fingerprint():
        return "options changed: " + describe_changes(data.get("options", {}), options)
    recorded = data.get("upstream", {})
    rerun = [name for name, run_id in upstream_runs(marker).items() if recorded.get(name) != run_id]
    if rerun:
        return "earlier stages re-ran since: " + ", ".join(n.removesuffix(".done") for n in rerun)
    return None


def git_hash(directory: Path = Path(".")) -> str | None:
    """HEAD of the git checkout holding ``directory`` (with ``-dirty`` if it has local changes)."""
    try:
        head = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def write_marker(marker: Path, options: StageOptions, start: float) -> dict:
    """Atomically write the done-marker of a stage that started at epoch ``start`` and just succeeded."""
    now = time.time()
    data = {
        "stage": _stage_number(marker),
        "name": _stage_name(marker),
        "fingerprint": options.fingerprint(),
        "options": asdict(options),
        "upstream": upstream_runs(marker),
        "run_id": uuid.uuid4().hex,
        "time": datetime.datetime.fromtimestamp(now).astimezone().isoformat(timespec="seconds"),
        "duration_s": round(now - start, 3),
        "git": git_hash(),
        "host": socket.gethostname(),
    }
    write_atomic(json.dumps(data, indent=2, sort_keys=True) + "\n", marker)
    return data


# ----------------------------------------------------------------------------------------------- locks

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
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _is_alive(record: dict) -> bool:
    """Whether the process in a pid-file record still runs (records from other hosts count as alive)."""
    if record.get("host") != socket.gethostname():
        return True
    pid = int(record.get("pid", 0))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    start = _process_start(pid)
    return record.get("start") is None or start is None or start == record["start"]


def _busy_error(directory: Path, record: dict | None, lock_path: Path) -> LegokitError:
    """The refusal: who holds the lock and how to stop it (the whole process group, stages included)."""
    if record and not _is_alive(record):
        todo = (f"that run has exited but processes it started still hold the lock; "
                f"list them with `fuser -v {lock_path}`")
    elif record and record.get("pgid"):
        todo = f"wait for it to finish, or stop the run and its stages with `kill -- -{record['pgid']}`"
    else:
        todo = "wait for it to finish"
    return LegokitError(f"recipe directory {directory} is in use: {_holder_text(record, lock_path)}; {todo}")


def lock_with_flock(directory: Path, fd: int, pid: int, what: str) -> None:
    """flock(2) the open file ``fd`` (``<dir>/.lock``, opened read-write by the shell, which keeps it).

    The lock belongs to the shell's open file, which the stage commands inherit: it lasts until the run
    and every process it started have exited, however they exit.
    """
    lock_path = directory / ".lock"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _busy_error(directory, _read_record(lock_path), lock_path) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(_lock_record(pid, what)) + "\n").encode(), 0)


def lock_with_pidfile(directory: Path, pid: int, what: str) -> None:
    """Create ``<dir>/.lock.pid`` with O_EXCL; a file left by a dead process is taken over."""
    path = directory / PIDFILE_NAME
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            record = _read_record(path)
            if record is not None and _is_alive(record):
                raise _busy_error(directory, record, path) from None
            print(f"legokit.recipe: removing stale lock {path} ({_holder_text(record, path)}, not running)",
                  file=sys.stderr)
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(_lock_record(pid, what)) + "\n")
        return
    raise LegokitError(f"could not create the lock file {path}; another run keeps recreating it")


def acquire_lock(directory: Path, pid: int, fd: int | None = None, what: str = "") -> str:
    """Lock ``directory`` for the run of process ``pid``; returns the method used: "flock" or "pidfile".

    flock is used when the shell passes the fd of ``<dir>/.lock`` and the file system supports it
    (``LEGOKIT_LOCK=pidfile`` forces the pid file, e.g. for NFS without lock support).
    """
    if fd is not None and os.environ.get("LEGOKIT_LOCK", "flock") != "pidfile":
        try:
            lock_with_flock(directory, fd, pid, what)
            return "flock"
        except OSError as err:
            if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                raise
    lock_with_pidfile(directory, pid, what)
    return "pidfile"


def release_lock(directory: Path, pid: int) -> None:
    """Remove the pid-file lock if ``pid`` holds it (flock locks go away with the shell's file)."""
    path = directory / PIDFILE_NAME
    record = _read_record(path)
    if record is not None and record.get("pid") == pid and record.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- status

def stage_durations(expdir: Path) -> list[tuple[int, str, float]]:
    """(stage, name, seconds) of every readable done-marker under ``expdir/.done``, in stage order."""
    rows = []
    for marker in (expdir / ".done").glob("stage*.done"):
        number, data = _stage_number(marker), read_marker(marker)
        if number is not None and data is not None and "duration_s" in data:
            rows.append((number, _stage_name(marker), float(data["duration_s"])))
    return sorted(rows)


def status_lines(expdir: Path) -> list[str]:
    """One line per done-marker under ``expdir/.done``: stage, name, finish time, duration, git hash."""
    lines = []
    markers = [(m, _stage_number(m)) for m in (expdir / ".done").glob("stage*.done")]
    for marker, _ in sorted(markers, key=lambda mn: (mn[1] is None, mn[1] or 0, mn[0].name)):
        data = read_marker(marker) or {}
        head, _, dirty = (data.get("git") or "-").partition("-")
        lines.append(f"{marker.name:<40} {data.get('time', '?'):<26} {data.get('duration_s', 0):>10.1f}s "
                     f"{head[:12]}{'-' + dirty if dirty else ''}")
    return lines


# ------------------------------------------------------------------------------------------------- CLI

def _add_fingerprint_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("marker", type=Path, help="done-marker path, exp/.done/stageN.<name>.done")
    parser.add_argument("--file", action="append", default=[], help="config file whose contents count")
    parser.add_argument("--var", action="append", default=[], help="NAME=VALUE of a variable that counts")
    parser.add_argument("--function", action="append", default=[], help="NAME=BODY of a shell function")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m legokit.recipe", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help=f"exit 0 if the stage is done with the same options, {NEEDS_RUN} if "
                                         "it must run")
    _add_fingerprint_args(check)
    check.add_argument("--log", type=Path, help="the stage's log, to tell an interrupted stage apart")
    done = sub.add_parser("done", help="write the done-marker of a stage that succeeded; print its duration")
    _add_fingerprint_args(done)
    done.add_argument("--start", type=float, required=True, help="epoch seconds when the stage started")
    lock = sub.add_parser("lock", help="lock a recipe directory for one run")
    lock.add_argument("directory", type=Path, help="recipe directory")
    lock.add_argument("--pid", type=int, required=True, help="pid of the run (the shell's $$)")
    lock.add_argument("--fd", type=int, help="fd of <directory>/.lock opened read-write by the shell")
    lock.add_argument("--what", default="", help="command line of the run, shown to a refused run")
    unlock = sub.add_parser("unlock", help="release a pid-file lock")
    unlock.add_argument("directory", type=Path, help="recipe directory")
    unlock.add_argument("--pid", type=int, required=True, help="pid that took the lock")
    status = sub.add_parser("status", help="list the done-markers of a recipe")
    status.add_argument("expdir", type=Path, nargs="?", default=Path("exp"), help="the recipe's exp dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args, command = build_parser().parse_args(argv[:split]), argv[split + 1:]
    try:
        if args.action in ("check", "done"):
            if not command:
                raise LegokitError(f"no command for {args.marker}: end the options with `-- CMD ARGS...`")
            options = stage_options(command, args.file, args.var, args.function)
            if args.action == "done":
                print(f"{write_marker(args.marker, options, args.start)['duration_s']:.1f}")
                return 0
            reason = check_stage(args.marker, options, args.log)
            print(reason or "up to date")
            return 0 if reason is None else NEEDS_RUN
        if args.action == "lock":
            print(acquire_lock(args.directory, args.pid, args.fd, args.what))
        elif args.action == "unlock":
            release_lock(args.directory, args.pid)
        else:
            print("\n".join(status_lines(args.expdir)) or f"no done-markers under {args.expdir}/.done")
        return 0
    except LegokitError as err:
        print(f"legokit.recipe {args.action}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
