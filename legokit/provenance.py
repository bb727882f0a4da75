"""Where a result came from: the git commit and the software and machine that produced it.

Recorded in RESULTS.md (legokit/score/results.py), brick manifests (legokit/lego/bricks.py) and the
recipes' done-markers (legokit/recipe.py). Imports nothing else of legokit, so every layer may use it.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
from pathlib import Path

from legokit import __version__

#: the directory of the legokit package: its git checkout is the default of :func:`git_hash`
PACKAGE_DIR = Path(__file__).parent


def git_hash(path: str | Path = PACKAGE_DIR) -> str:
    """Commit of the git checkout holding ``path`` (legokit's own by default), with "-dirty" when tracked
    files are modified; "unknown" outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def environment() -> dict[str, str]:
    """Versions (python, torch, legokit) and machine facts (OS, CPUs, host) worth recording with a result."""
    return {"python": platform.python_version(), "torch": importlib.metadata.version("torch"),
            "legokit": __version__, "os": platform.platform(), "cpus": str(os.cpu_count()),
            "host": socket.gethostname()}
