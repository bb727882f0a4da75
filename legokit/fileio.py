"""Atomic file writes: readers see the old file or the complete new one, never a part.

Every file legokit writes that a later step trusts (checkpoints, bricks, done-markers, indexes) goes
through :func:`write_atomic`: a temporary file in the same directory, fsync, ``os.replace``, and an
fsync of the directory so the rename survives a crash. :func:`load_plain` is the one way legokit reads a
torch file: plain data only, so loading a file never runs code from it.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(data: bytes | str, path: str | Path) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically; no partial file is ever left."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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
        raise LegokitError(f"{path}: no such {what}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickled objects or code (refused before anything is called), truncated zip ...
        found = re.search(r"GLOBAL ([\w.]+)", str(err)) if isinstance(err, pickle.UnpicklingError) else None
        detail = (f"holds a pickled Python object {found.group(1)}, which legokit never loads"
                  if found else (str(err).splitlines() or [""])[0][:200])
        raise LegokitError(f"{path}: not a readable {what} ({type(err).__name__}: {detail}); {remedy}") from None
    missing = [key for key in keys if key not in payload] if isinstance(payload, dict) else list(keys)
    if missing:
        raise LegokitError(f"{path}: not a {what} (no {', '.join(map(repr, missing))} in it); {remedy}")
    return payload
