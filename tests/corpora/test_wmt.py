"""WMT16 preparation on fixtures laid out as the extracted statmt/OPUS archives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sacrebleu.dataset import DATASETS

from legokit.corpora.wmt import TRAIN, WMTPrepConfig, keep, prepare_wmt16, read_sgm, resources
from legokit.data.datadir import read_text_dir
from legokit.errors import LegokitError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "corpora" / "wmt16"


def test_sgm_segments_equal_sacrebleus_own_extraction(tmp_path: Path) -> None:
    for sgm in sorted(FIXTURE.glob("*/*.sgm")):
        DATASETS["wmt16"]._convert_format(str(sgm), str(tmp_path / "ref.txt"))
        assert read_sgm(sgm) == (tmp_path / "ref.txt").read_text(encoding="utf-8").splitlines(), sgm


def test_de_en_dirs_hold_the_real_test_set_and_cleaned_training_pairs(tmp_path: Path) -> None:
    stats = prepare_wmt16(FIXTURE, tmp_path, "de-en")
    train = read_text_dir(tmp_path / "train", ["de", "en"])
    assert stats["train"]["commoncrawl"] == {"lines": 4, "kept": 2}  # empty line and 1:10 ratio dropped
    assert len(train) == 12 + 2 + 3
    assert {e.utt_id.split("-")[0] for e in train} == {tag for tag, _, _ in TRAIN["de-en"]}
    test = read_text_dir(tmp_path / "test", ["de", "en"])
    assert [e.sentences["en"] for e in test] == read_sgm(FIXTURE / "test/newstest2016-deen-ref.en.sgm")
    assert test[1].sentences["de"] == "Die Preise steigen weiter."  # whitespace collapsed as sacrebleu does
    assert stats["valid"] == {"set": "newstest2015", "sacrebleu": "wmt15", "segments": 2}


def test_ro_en_uses_newsdev2016_and_setimes(tmp_path: Path) -> None:
    stats = prepare_wmt16(FIXTURE, tmp_path, "ro-en")
    assert set(stats["train"]) == {"europarl_v8", "setimes2"}
    valid = read_text_dir(tmp_path / "valid", ["ro", "en"])
    assert [e.utt_id for e in valid] == ["newsdev2016-00001", "newsdev2016-00002"]


def test_clean_corpus_rule() -> None:
    cfg = WMTPrepConfig(max_words=5, max_ratio=1.5)
    assert keep("a b", "c d e", cfg) and not keep("a", "c d e", cfg)
    assert not keep("", "x", cfg) and not keep("a b c d e f", "a b c d e f", cfg)


def test_resources_take_urls_and_md5_from_sacrebleu() -> None:
    by_name = {r.filename: r for r in resources("ro-en")}
    assert by_name["wmt16-test.tgz"].md5 == "3d809cd0c2c86adb2c67034d15c4e446"
    assert by_name["wmt16-dev-dev.tgz"].url == "https://data.statmt.org/wmt16/translation-task/dev.tgz"
    assert all(r.md5 is None for r in by_name.values() if "training" in r.filename or "SETIMES" in r.filename)


def test_errors_name_the_missing_piece(tmp_path: Path) -> None:
    with pytest.raises(LegokitError, match="unknown WMT16 pair 'fr-en'"):
        prepare_wmt16(FIXTURE, tmp_path / "o", "fr-en")
    with pytest.raises(LegokitError, match="WMT16 directory not found.*db.sh"):
        prepare_wmt16(tmp_path / "nowhere", tmp_path / "o")
    root = tmp_path / "wmt16"
    shutil.copytree(FIXTURE, root)
    (root / "commoncrawl.de-en.en").unlink()
    with pytest.raises(LegokitError, match="no file 'commoncrawl.de-en.en'"):
        prepare_wmt16(root, tmp_path / "o")
    shutil.copy(FIXTURE / "commoncrawl.de-en.de", root / "commoncrawl.de-en.en")
    with (root / "commoncrawl.de-en.en").open("a") as f:
        f.write("one more line\n")
    with pytest.raises(LegokitError, match="different numbers of lines"):
        prepare_wmt16(root, tmp_path / "o")
