"""`legokit corpus`: options, prepare --download on a root that holds the corpus (no network), errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from legokit.commands import corpus
from legokit.corpora.wmt import missing_files
from legokit.data.datadir import read_text_dir
from legokit.errors import LegokitError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "corpora"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    corpus.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_every_option_has_help() -> None:
    parser = argparse.ArgumentParser()
    corpus.add_arguments(parser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action_parser in sub.choices.values():
        assert all(a.help for a in action_parser._actions)


def test_prepare_with_download_uses_the_corpus_on_disk(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert missing_files(FIXTURES / "wmt16", "ro-en") == []
    args = _args("prepare", "wmt16", "--download", "--root", str(FIXTURES / "wmt16"), "--pair", "ro-en",
                 "--out", str(tmp_path), "--max-ratio", "2.0", "--no-progress")
    assert corpus.run(args) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["train"]["setimes2"] == {"lines": 3, "kept": 3}  # ratio 1.75 kept with --max-ratio 2
    assert len(read_text_dir(tmp_path / "test", ["ro", "en"])) == 2


def test_download_reports_what_is_missing(tmp_path: Path) -> None:
    assert "europarl-v7.de-en.de" in missing_files(tmp_path, "de-en")
    with pytest.raises(LegokitError, match="distributed on request"):
        corpus.run(_args("download", "how2", "--root", str(tmp_path)))
