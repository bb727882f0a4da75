"""docs/reliability.md names the test behind every guarantee: each named test must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_test_the_reliability_doc_names_exists() -> None:
    doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    named = set(re.findall(r"::(test_\w+)", doc))
    defined = {m for path in (ROOT / "tests").rglob("test_*.py")
               for m in re.findall(r"^(?:async )?def (test_\w+)", path.read_text(encoding="utf-8"), re.M)}
    assert len(named) > 50
    assert not named - defined, f"docs/reliability.md names tests that do not exist: {sorted(named - defined)}"
