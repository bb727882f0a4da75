"""ROUGE with and without stemming: `rouge` stems (rouge-score's Porter stemmer), `rouge_nostem` scores as
ESPnet's How2 summarisation scoring does (HuggingFace evaluate's rouge: no stemming)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legokit.cli import main
from legokit.score.metrics import DEFAULT_METRICS, compute


def test_rouge_nostem_does_not_match_inflections() -> None:
    refs, hyps = ["the cats were running home"], ["the cat was running home"]
    scores = compute(["rouge", "rouge_nostem"], refs, hyps)
    assert scores["rouge1"] == pytest.approx(80.0)  # cats/cat stem alike (were/was do not)
    assert scores["rouge1_nostem"] == pytest.approx(60.0)  # 3 of 5 words match exactly
    assert "rouge_nostem" not in DEFAULT_METRICS


def test_score_cli_with_rouge_nostem_and_bootstrap(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "ref").write_text("a1 the cats were running home\na2 learn to tie knots\n")
    (tmp_path / "hyp").write_text("a1 the cat was running home\na2 learn to tie a knot\n")
    (tmp_path / "hyp_b").write_text("a1 cats home\na2 knots\n")
    assert main(["score", "all", "--metrics", "rouge_nostem", "--ref", str(tmp_path / "ref"), "--hyp",
                 str(tmp_path / "hyp"), "--kaldi", "--compare", str(tmp_path / "hyp_b"),
                 "--output", str(tmp_path / "sig.json")]) == 0
    out = capsys.readouterr().out
    assert "rouge1_nostem" in out or "ROUGE-1 (no stem)" in out
    assert "rouge1_nostem" in json.dumps(json.loads((tmp_path / "sig.json").read_text()))
