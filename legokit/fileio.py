"""Atomic file writes: readers see the old file or the complete new one, never a part.

Every file legokit writes that a later step trusts (checkpoints, bricks, done-markers, indexes) goes
through :func:`write_atomic` or :func:`atomic_output`: a temporary file in the same directory, fsync,
``os.replace``, and an fsync of the directory so the rename survives a crash. :func:`check_outputs` refuses,
before anything is written, an output that would overwrite one of the command's inputs. :func:`load_plain`
is the one way legokit reads a torch file: plain data only, so loading a file never runs code from it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def write_atomic(data: bytes | str, path: str | Path) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically; no partial file is ever left."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` to write; when the block succeeds it is fsynced and renamed to
    ``path``. On any failure (an exception, Ctrl-C, disk full, ``ulimit -f``) the temporary file is removed and
    ``path`` is untouched; an OSError without a file name gets ``path`` as its name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make outputs private
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename is None:
            err.filename = str(path)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_outputs(inputs: Iterable[str | Path | None], outputs: Iterable[str | Path | None]) -> None:
    """Refuse outputs that would overwrite an input, before anything is touched (one-line LegokitError).

    An input that is a directory stands for the files directly in it (a data dir: ``text``, ``text.de`` ...).
    Paths are compared after resolving symlinks and ``..``, and by inode when both exist (hard links). An
    output that is an existing directory, lies under a regular file, or whose nearest existing directory is not
    writable (read-only file system, immutable or no permission) is refused too. ``None`` is skipped.
    """
    from legokit.errors import LegokitError

    files: list[Path] = []
    for item in inputs:
        if item is not None:
            path = Path(item)
            files.extend(sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path])
    for item in outputs:
        if item is None:
            continue
        out = Path(item)
        if out.is_dir():
            raise LegokitError(f"{out}: is a directory; give a file name to write")
        blocker = next((p for p in out.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise LegokitError(f"{out}: cannot be written: {blocker} is a file, not a directory")
        if blocker is not None and not os.access(blocker, os.W_OK | os.X_OK):
            raise LegokitError(f"{out}: cannot be written: directory {blocker} is read-only")
        for src in files:
            same = os.path.realpath(out) == os.path.realpath(src)
            if same or (out.exists() and src.exists() and os.path.samefile(out, src)):
                raise LegokitError(f"{out}: refusing to overwrite the input {src}; choose another output path")


def load_plain(path: str | Path, what: str, remedy: str, keys: tuple[str, ...] = ()) -> Any:
    """``torch.load`` of plain data only (tensors, numbers, strings, lists, dicts), never pickled objects.

    A file that is missing, unreadable or holds pickled objects or code raises a one-line LegokitError naming
    ``path`` as a ``what`` and ending in ``remedy``; with ``weights_only=True`` torch refuses any pickled
    callable before calling it, so nothing from the file runs. With ``keys`` the content must be a dict
    holding them.
    """
    import pickle

    import torch

    from legokit.errors import LegokitError

    path = Path(path)
    if not path.is_file():
        raise LegokitError(f"{path}: {what} not found; {remedy}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickled objects or code (refused before anything is called), truncated zip ...
        found = re.search(r"GLOBAL ([\w.]+)", str(err)) if isinstance(err, pickle.UnpicklingError) else None
        detail = (f"holds a pickled Python object {found.group(1)}, which legokit never loads"
                  if found else (str(err).splitlines() or [""])[0][:200])
        raise LegokitError(f"{path}: not a readable {what} ({type(err).__name__}: {detail}); {remedy}") from None
    return require_keys(payload, path, what, remedy, keys)


def require_keys(payload: Any, path: str | Path, what: str, remedy: str, keys: tuple[str, ...]) -> Any:
    """``payload`` (read from ``path`` by :func:`load_plain`) if it is a dict holding ``keys``; else the
    one-line LegokitError of :func:`load_plain`."""
    from legokit.errors import LegokitError

    missing = [key for key in keys if key not in payload] if isinstance(payload, dict) else list(keys)
    if missing:
        raise LegokitError(f"{path}: not a {what} (no {', '.join(map(repr, missing))} in it); {remedy}")
    return payload


BOM = "\ufeff"


def _line_body(line: str) -> str:
    """``line`` without its ``\n`` or ``\r\n`` end."""
    line = line[:-1] if line.endswith("\n") else line
    return line[:-1] if line.endswith("\r") else line


def split_lines(text: str) -> list[str]:
    """The lines of a text file's content, split at ``\n`` only (``\r\n`` tolerated), without line ends.

    Unlike ``str.splitlines()``, form feed, U+0085, U+2028/9 and a stray ``\r`` stay inside their line, so
    line numbers and line counts are those of ``wc -l`` and every editor. A UTF-8 byte order mark at the
    start is dropped (it is not part of the first id); a final line end does not start an empty line.
    """
    lines = text.removeprefix(BOM).split("\n")
    if lines[-1] == "":
        lines.pop()
    return [_line_body(line) for line in lines]


def read_text_lines(path: str | Path) -> list[str]:
    """:func:`split_lines` of a UTF-8 file; a missing or non-UTF-8 file is a LegokitError naming it."""
    from legokit.errors import LegokitError

    try:
        return split_lines(Path(path).read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise LegokitError(f"{path}: file not found") from None
    except UnicodeDecodeError as err:
        raise LegokitError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None


def iter_text_lines(path: str | Path, errors: str = "strict") -> Iterator[str]:
    """The lines of :func:`split_lines`, read lazily (for corpora too big to hold); ``errors`` as in ``open``.

    The file is opened with ``newline="\n"``: Python's default universal-newline mode would also end a line
    at a stray ``\r`` and shift every following line of an aligned file.
    """
    with open(path, encoding="utf-8", errors=errors, newline="\n") as f:
        for number, line in enumerate(f):
            yield _line_body(line.removeprefix(BOM) if number == 0 else line)
