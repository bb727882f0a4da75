"""legokit.provenance: one git hash and one environment summary for RESULTS.md, bricks and done-markers."""

from __future__ import annotations

import ast
import os
import platform
import socket
import subprocess
from pathlib import Path

from legokit import __version__
from legokit.provenance import PACKAGE_DIR, environment, git_hash


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_git_hash_outside_git_clean_and_dirty(tmp_path: Path):
    assert git_hash(tmp_path) == "unknown"
    _git(tmp_path, "init", "-q")
    (tmp_path / "f").write_text("1")
    _git(tmp_path, "add", "f")
    _git(tmp_path, "commit", "-qm", "x")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert git_hash(tmp_path) == head
    (tmp_path / "untracked").write_text("untracked files do not make it dirty")
    assert git_hash(tmp_path) == head
    (tmp_path / "f").write_text("2")
    assert git_hash(tmp_path) == head + "-dirty"


def test_git_hash_defaults_to_legokits_checkout():
    assert git_hash() == git_hash(PACKAGE_DIR)
    assert len(git_hash().removesuffix("-dirty")) == 40


def test_environment_names_versions_and_host():
    env = environment()
    assert env["python"] == platform.python_version() and env["legokit"] == __version__
    assert env["host"] == socket.gethostname() and env["torch"] and int(env["cpus"]) >= 1


def test_one_definition_and_lego_does_not_import_score():
    """git_hash/environment live only in legokit/provenance.py, and legokit/lego/ never imports legokit.score."""
    defined, lego_imports = [], []
    for path in PACKAGE_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in ("git_hash", "environment"):
                defined.append(f"{path.relative_to(PACKAGE_DIR)}:{node.name}")
            if path.parent.name == "lego" and isinstance(node, ast.ImportFrom) and node.module:
                lego_imports.append(node.module)
    assert sorted(defined) == ["provenance.py:environment", "provenance.py:git_hash"]
    assert not [m for m in lego_imports if m.startswith("legokit.score")]
