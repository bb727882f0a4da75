"""A damaged done-marker (truncated, empty, not UTF-8, JSON that is not an object) means "not done":
the stage is redone, never a crash and never a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from legokit import recipe


@pytest.mark.parametrize("content", [b"", b'{"fingerprint": "ab', b"\xff\xfe", b"[1, 2]", b'"done"', b"null"],
                         ids=["empty", "truncated", "binary", "list", "string", "null"])
def test_damaged_marker_means_the_stage_runs_again(tmp_path: Path, content: bytes) -> None:
    marker = tmp_path / ".done" / "stage2.train.done"
    options = recipe.stage_options(["train", "--lr", "0.1"])
    recipe.write_marker(marker, options, start=0.0)
    assert recipe.check_stage(marker, options) is None
    marker.write_bytes(content)
    log = tmp_path / "stage2.train.log"
    log.write_text("killed\n")
    assert "no done-marker: the last attempt failed or was interrupted" in recipe.check_stage(marker, options, log)
