"""Recipe bookkeeping that the egs/ shell scripts call: stage fingerprints, done-markers, run locks.

The shell side (egs/TEMPLATE/utils/stage.sh) stays thin; everything that decides whether a stage runs
lives here so it is tested in Python. Subcommands (all paths relative to the recipe directory)::

  python -m legokit.recipe check  MARKER [--log L] [--file F]... [--var K=V]... [--function F=BODY]...
                                  [--upstream DONE_DIR]... -- CMD
  python -m legokit.recipe fresh  MARKER [--dir DIR]... [--force] [same options] -- CMD...
  python -m legokit.recipe done   MARKER --start EPOCH [same options] -- CMD...
  python -m legokit.recipe lock   DIR --pid PID [--fd FD] [--what TEXT]
  python -m legokit.recipe unlock DIR --pid PID
  python -m legokit.recipe status EXPDIR

``check`` exits 0 when the stage is done with the same options (skip it), NEEDS_RUN (10) with the
reason on stdout when it must run, 2 on a user error (anything else is a crash, not "run it").
A marker ``stageN.<name>.done`` is JSON (see :func:`write_marker`). ``fresh`` moves a stage's output
dirs aside (never deletes them) when it must start afresh (see :func:`start_afresh`). The fingerprint
leaves out what never changes a result: NEUTRAL_OPTIONS, NEUTRAL_FLAGS, NEUTRAL_VARIABLES, QUEUES and LAUNCHERS.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import socket
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from legokit import lock
from legokit.errors import LegokitError
from legokit.fileio import write_atomic
from legokit.provenance import git_hash

#: arguments with these suffixes that name an existing file are hashed into the fingerprint
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
MARKER_RE = re.compile(r"^stage(\d+)\.(.+)\.done$")
#: exit status of ``check`` for "the stage must run" (distinct from Python's own 1 on a crash)
NEEDS_RUN = 10

# What never changes a stage's result, so never its fingerprint (docs/recipes.md, "What never counts"):
# process and thread counts, multi-node launch settings, progress and logging. `_` and `-` are the same.
#: command-line options (with their value) left out of the fingerprint
NEUTRAL_OPTIONS = frozenset({"--nj", "--nproc", "--nproc-per-node", "--ngpu", "--nnodes", "--node-rank",
                             "--rdzv-endpoint", "--rdzv-backend", "--rdzv-id", "--master-addr", "--master-port",
                             "--log-level"})
#: command-line flags (no value) left out of the fingerprint
NEUTRAL_FLAGS = frozenset({"--standalone"})
#: ``run_stage --env`` variables left out of the fingerprint
NEUTRAL_VARIABLES = frozenset({"nj", "nproc", "ngpu", "nnodes", "node_rank", "rdzv_endpoint", "log_level",
                               "cmd", "cluster_conf", "dry_run",
                               "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                               "LEGOKIT_NO_TQDM", "LEGOKIT_PROGRESS_INTERVAL"})
#: process launchers: `torchrun [OPTS] -m legokit.cli train ...` counts as `legokit train ...`
LAUNCHERS = (("torchrun",), ("-m", "torch.distributed.run"), ("-m", "torch.distributed.launch"))
#: job queues: `queue KIND LOG [OPTS] -- CMD` (egs/TEMPLATE/utils/common.sh) and `legokit queue ... -- CMD` count
#: as CMD (where and in how many jobs a command runs never changes what it computes)
QUEUES = (("queue",), ("legokit", "queue"))
#: launcher options without a value (all others take one)
LAUNCHER_FLAGS = frozenset({"--standalone", "--no-python", "--run-path", "-m", "--module"})


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

    def counted(self) -> StageOptions:
        """These options without the launcher and what never counts (``NEUTRAL_*``): what the fingerprint sees."""
        variables = {k: v for k, v in self.variables.items() if k not in NEUTRAL_VARIABLES}
        return StageOptions(counted_command(self.command), self.files, variables, self.functions)

    def fingerprint(self) -> str:
        """sha256 over the canonical JSON of the counted options."""
        return _sha256(json.dumps(asdict(self.counted()), sort_keys=True))


def _option_key(token: str) -> str:
    return token.split("=", 1)[0].replace("_", "-") if token.startswith("--") else token


def _unwrap_launcher(command: list[str]) -> list[str]:
    """The program a launcher (torchrun, ``python -m torch.distributed.run``) starts, as a plain command."""
    head = (Path(command[0]).name,) if command else ()
    if head == LAUNCHERS[0]:
        rest = command[1:]
    elif tuple(command[1:3]) in LAUNCHERS and Path(command[0]).name.startswith("python"):
        rest = command[3:]
    else:
        return command
    module, i = False, 0
    while i < len(rest) and rest[i].startswith("-"):
        key = _option_key(rest[i])
        module = module or key in ("-m", "--module")
        i += 1 if key in LAUNCHER_FLAGS or "=" in rest[i] else 2
    return ["python", "-m", *rest[i:]] if module else rest[i:]


def _unwrap_queue(command: list[str]) -> list[str]:
    """The command a job queue (:data:`QUEUES`) runs: what follows its ``--``."""
    if any(tuple(command[:len(queue)]) == queue for queue in QUEUES) and "--" in command:
        return command[command.index("--") + 1:]
    return command


def counted_command(command: Sequence[str]) -> list[str]:
    """``command`` as the fingerprint sees it: a job queue or launcher replaced by what it runs, ``python -m
    legokit.cli`` spelled ``legokit``, and the options of NEUTRAL_OPTIONS / NEUTRAL_FLAGS dropped."""
    command = _unwrap_launcher(_unwrap_queue(list(command)))
    if len(command) >= 3 and Path(command[0]).name.startswith("python") and command[1:3] == ["-m", "legokit.cli"]:
        command = ["legokit", *command[3:]]
    counted, i = [], 0
    while i < len(command):
        key = _option_key(command[i])
        if key in NEUTRAL_FLAGS:
            i += 1
        elif key in NEUTRAL_OPTIONS:
            i += 1 if "=" in command[i] else 2
        else:
            counted.append(command[i])
            i += 1
    return counted


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


def upstream_runs(marker: Path, upstream_dirs: Sequence[Path] = ()) -> dict[str, str]:
    """Run ids of the done-markers of all earlier stages (lower stage number): those next to ``marker``
    (keyed by file name) and those in ``upstream_dirs``, the done-dirs of the recipe's earlier stages when
    they keep their markers elsewhere (e.g. data stages in exp/.done, an experiment's in exp/TAG/.done;
    keyed by path)."""
    number = _stage_number(marker)
    if number is None:
        return {}
    runs = {}
    for directory in dict.fromkeys([marker.parent, *upstream_dirs]):
        for other in sorted(directory.glob("stage*.done")) if directory.is_dir() else ():
            other_number = _stage_number(other)
            data = read_marker(other)
            if other_number is not None and other_number < number and data is not None:
                runs[other.name if directory == marker.parent else str(other)] = data.get("run_id", "")
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


def describe_changes(recorded: dict, new: StageOptions) -> str:
    """One line saying which counted options differ between a marker's recorded options and ``new``."""
    old = StageOptions(list(recorded.get("command", [])), dict(recorded.get("files", {})),
                       dict(recorded.get("variables", {})), dict(recorded.get("functions", {}))).counted()
    new = new.counted()
    changes = _command_changes(old.command, new.command)
    changes += _dict_changes("config", old.files, new.files, show_values=False)
    changes += _dict_changes("variable", old.variables, new.variables, show_values=True)
    changes += _dict_changes("function", old.functions, new.functions, show_values=False)
    return "; ".join(changes) or "options changed"


def check_stage(marker: Path, options: StageOptions, log: Path | None = None,
                upstream_dirs: Sequence[Path] = ()) -> str | None:
    """None if ``marker`` records a finished run with these options and unchanged upstream stages (see
    :func:`upstream_runs`), else the reason the stage must run."""
    data = read_marker(marker)
    if data is None:
        if log is not None and log.exists():
            return f"no done-marker: the last attempt failed or was interrupted (log: {log})"
        return "not done yet"
    if data.get("fingerprint") != options.fingerprint():
        return "options changed: " + describe_changes(data.get("options", {}), options)
    recorded = data.get("upstream", {})
    rerun = [name for name, run_id in upstream_runs(marker, upstream_dirs).items() if recorded.get(name) != run_id]
    if rerun:
        return "earlier stages re-ran since: " + ", ".join(n.removesuffix(".done") for n in rerun)
    return None


def move_aside(path: Path) -> Path:
    """Rename ``path`` to the first free ``path.1``, ``path.2``, ...; returns the new name."""
    n = 1
    while (target := path.with_name(f"{path.name}.{n}")).exists() or target.is_symlink():
        n += 1
    path.rename(target)
    return target


def start_afresh(marker: Path, options: StageOptions, outputs: Sequence[Path], force: bool = False,
                 upstream_dirs: Sequence[Path] = ()) -> str | None:
    """Before a stage with output dirs ``outputs`` (``run_stage --fresh``) runs: keep them when the stage's
    last attempt had the same fingerprint and upstream runs (it was interrupted or failed: it resumes),
    else move each aside to ``DIR.N`` (never delete). Records this attempt; returns what was moved, or None."""
    attempt = marker.with_name(marker.name.removesuffix(".done") + ".attempt")
    current = {"fingerprint": options.fingerprint(), "upstream": upstream_runs(marker, upstream_dirs)}
    if force:
        reason = "forced (force=true)"
    elif attempt.exists():  # unreadable (an older legokit's) counts as different
        reason = None if read_marker(attempt) == current else "options or inputs changed since its last attempt"
    else:
        reason = "options or inputs changed since its last run" if marker.exists() else None
    moved = []
    for path in outputs if reason else ():
        if path.is_dir():
            with lock.lock_dir(path, what="python -m legokit.recipe fresh (moving it aside)"):
                moved.append(f"{path} to {move_aside(path)}")
        elif path.exists() or path.is_symlink():
            moved.append(f"{path} to {move_aside(path)}")
    write_atomic(json.dumps(current, sort_keys=True) + "\n", attempt)
    return f"{reason}: starting afresh; moved {', '.join(moved)}" if moved else None


def write_marker(marker: Path, options: StageOptions, start: float, upstream_dirs: Sequence[Path] = ()) -> dict:
    """Atomically write the done-marker of a stage that started at epoch ``start`` and just succeeded."""
    now = time.time()
    data = {
        "stage": _stage_number(marker),
        "name": _stage_name(marker),
        "fingerprint": options.fingerprint(),
        "options": asdict(options),
        "upstream": upstream_runs(marker, upstream_dirs),
        "run_id": uuid.uuid4().hex,
        "time": datetime.datetime.fromtimestamp(now).astimezone().isoformat(timespec="seconds"),
        "duration_s": round(now - start, 3),
        "git": git_hash(Path(".")),
        "host": socket.gethostname(),
    }
    write_atomic(json.dumps(data, indent=2, sort_keys=True) + "\n", marker)
    return data


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
    parser.add_argument("--upstream", action="append", type=Path, default=[],
                        help="done-dir of earlier stages besides the marker's own (their re-runs count)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m legokit.recipe", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help=f"exit 0 if the stage is done with the same options, {NEEDS_RUN} if "
                                         "it must run")
    _add_fingerprint_args(check)
    check.add_argument("--log", type=Path, help="the stage's log, to tell an interrupted stage apart")
    fresh = sub.add_parser("fresh", help="before a stage runs: move its output dirs aside (DIR.N) unless its last "
                                         "attempt had the same options; print what was moved")
    _add_fingerprint_args(fresh)
    fresh.add_argument("--dir", action="append", type=Path, default=[], help="output dir of the stage")
    fresh.add_argument("--force", action="store_true", help="start afresh whatever the last attempt was")
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
        if args.action in ("check", "fresh", "done"):
            if not command:
                raise LegokitError(f"no command for {args.marker}: end the options with `-- CMD ARGS...`")
            options = stage_options(command, args.file, args.var, args.function)
            if args.action == "fresh":
                print(start_afresh(args.marker, options, args.dir, args.force, args.upstream) or "", end="")
                return 0
            if args.action == "done":
                print(f"{write_marker(args.marker, options, args.start, args.upstream)['duration_s']:.1f}")
                return 0
            reason = check_stage(args.marker, options, args.log, args.upstream)
            print(reason or "up to date")
            return 0 if reason is None else NEEDS_RUN
        if args.action == "lock":
            print(lock.acquire(args.directory, args.pid, args.fd, args.what, kind="recipe directory"))
        elif args.action == "unlock":
            lock.release(args.directory, args.pid)
        else:
            print("\n".join(status_lines(args.expdir)) or f"no done-markers under {args.expdir}/.done")
        return 0
    except LegokitError as err:
        print(f"legokit.recipe {args.action}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
