"""Atomic file writes: readers see the old file or the complete new one, never a part.

Every file legokit writes that a later step trusts (checkpoints, bricks, done-markers, indexes) goes
through :func:`write_atomic`: a temporary file in the same directory, fsync, ``os.replace``, and an
fsync of the directory so the rename survives a crash.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
