"""Class 8 of issue 19: work is bounded. One huge input line must finish (or be refused) in seconds:
decoding caps the source (``max_source_tokens`` / ``max_source_frames``, ``--on-long-input``) and the output
(``beam.max_len``) whatever the length ratio says."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest
import torch

from legokit.cli import main
from legokit.decode.beam_search import BeamSearchConfig, length_limits
from legokit.fileio import read_text_lines

SECONDS = 30  # generous: the capped decode takes a few seconds on 2 shared cores


def _long_line_dir(mt_dir: Path, size: int) -> Path:
    """``mt_dir`` with a third sentence 'c' of about ``size`` bytes (toy-vocabulary words)."""
    words = ("der hund findet einen roten haus . " * (size // 35 + 1))[:size].rsplit(" ", 1)[0]
    with open(mt_dir / "text.de", "a", encoding="utf-8") as f:
        f.write(f"c {words}\n")
    return mt_dir


def _decode(toy_model: Path, data: Path, out: Path, *options: str) -> tuple[int, float]:
    start = time.perf_counter()
    status = main(["decode", "--model", str(toy_model / "model.pt"), "--data-dir", str(data), "--src-lang", "de",
                   "--out", str(out), *options, "beam.beam_size=2"])
    return status, time.perf_counter() - start


@pytest.mark.parametrize("size", [100_000, 1_000_000], ids=["100KB", "1MB"])
def test_a_huge_line_is_truncated_with_a_warning_and_decoded_in_seconds(
        size: int, toy_model: Path, mt_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    out = tmp_path / "hyp"
    status, seconds = _decode(toy_model, _long_line_dir(mt_dir, size), out)
    assert status == 0 and seconds < SECONDS, (status, seconds)
    assert [line.split(" ", 1)[0] for line in read_text_lines(out)] == ["a", "b", "c"]
    assert len(read_text_lines(out)[2].split()[1:]) <= 1024  # beam.max_len (word-level toy vocabulary)
    assert re.search(r"c: \d+ tokens > max_source_tokens=1024: only its first 1024 are decoded", caplog.text)
    assert not (tmp_path / "hyp.skipped").exists()


def test_on_long_input_skip_lists_the_input_and_error_refuses_it(
        toy_model: Path, mt_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data, out = _long_line_dir(mt_dir, 100_000), tmp_path / "hyp"
    status, seconds = _decode(toy_model, data, out, "--on-long-input", "skip")
    assert status == 0 and seconds < SECONDS
    assert [line.split(" ", 1)[0] for line in read_text_lines(out)] == ["a", "b"]
    (skipped,) = read_text_lines(tmp_path / "hyp.skipped")
    assert skipped.startswith("c too long: ") and skipped.endswith("tokens > max_source_tokens=1024")
    capfd.readouterr()
    status, seconds = _decode(toy_model, data, out, "--on-long-input", "error", "max_source_tokens=50")
    assert status == 2 and seconds < SECONDS
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"legokit decode: error: {data / 'text.de'}: id 'c': ") and "max_source_tokens=50" in err
    assert not out.exists()


def test_output_length_has_an_absolute_cap() -> None:
    cfg = BeamSearchConfig(max_len_ratio=2.0, max_len_offset=200, max_len=300)
    max_len, min_len = length_limits(torch.tensor([5, 1000, 10**6]), cfg)
    assert max_len.tolist() == [210, 300, 300] and (min_len <= max_len).all()


@pytest.mark.parametrize("override", ["beam.max_len=0", "max_source_tokens=0", "max_source_frames=-1",
                                      "on_long_input=drop"])
def test_the_limits_are_checked_where_they_enter(override: str, toy_model: Path, mt_dir: Path, tmp_path: Path,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    status, _ = _decode(toy_model, mt_dir, tmp_path / "hyp", override)
    key = override.split("=")[0].split(".")[-1]
    assert status == 2 and key in capfd.readouterr().err
