"""The repository stands alone: no tracked file names a path that only the developers' machines have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]
#: paths outside the repository that users do not have: the developers' notes folder and work tree
OUTSIDE = re.compile(r"\.\./shared/|\bshared/(DATA|PEERS|DESIGN|STYLE)\.md|/work/(main|shared|\.library)\b")


def test_no_file_names_a_path_outside_the_repository() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".wav", ".flac", ".model", ".pt", ".brick", ".png", ".f32", ".mo"} or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [f"{name}:{n}: {line.strip()}" for n, line in enumerate(text.split("\n"), 1) if OUTSIDE.search(line)]
    assert not hits, "files name paths outside the repository:\n" + "\n".join(hits)
