"""`legokit prepare debian-lm-text`: LM text from package descriptions that never holds a held-out sentence."""

from pathlib import Path

import pytest

from legokit.cli import main
from legokit.corpora.debian_lm import LMTextConfig, description_sentences, prepare_debian_lm_text
from legokit.corpora.text import read_text, split_by_hash
from legokit.errors import LegokitError


def _lists(fixtures: Path, tmp_path: Path) -> Path:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "x_main_i18n_Translation-en").write_text((fixtures / "Translation-en").read_text())
    return lists


def test_description_sentences_cut_as_the_ddtp_source(fixtures: Path):
    docs = description_sentences((fixtures / "Translation-en").read_text())
    sentences = [s for doc in docs.values() for s in doc]
    assert "Real-time strategy game of ancient warfare" in sentences  # a synopsis
    assert any(s.startswith("0 A.D. (pronounced") for s in sentences)
    assert all("\n" not in s and s == s.strip() and s for s in sentences)
    without = description_sentences((fixtures / "Translation-en").read_text(), synopses=False)
    assert sum(map(len, without.values())) == len(sentences) - len(docs)


def test_no_valid_or_test_sentence_of_the_mt_split_is_lm_text(fixtures: Path, tmp_path: Path):
    sentences = [s for doc in description_sentences((fixtures / "Translation-en").read_text()).values() for s in doc]
    fraction = 0.5  # a large held-out region, so this small fixture has sentences on both sides
    splits = split_by_hash([s.casefold() for s in sentences], {"test": 2, "valid": 1}, fraction)
    held_out = {s for s, split in zip(sentences, splits) if split in ("valid", "test")}
    train = {s for s, split in zip(sentences, splits) if split == "train"}
    assert len(held_out) == 3 and train
    counts = prepare_debian_lm_text(tmp_path / "out", tmp_path / "dl", LMTextConfig(heldout_fraction=fraction),
                                    lists_dir=_lists(fixtures, tmp_path))
    lm_text = set(read_text(tmp_path / "out/text").values())
    assert not lm_text & held_out
    assert lm_text == train  # every training sentence is kept, nothing else
    assert counts["kept"] + counts["heldout_region"] == counts["sentences"] == len(sentences)


def test_exclude_files_remove_sentences_in_the_scoring_form(fixtures: Path, tmp_path: Path):
    lists = _lists(fixtures, tmp_path)
    exclude = tmp_path / "test_text"
    exclude.write_text("utt1 real time STRATEGY game of ancient warfare\n")  # the 0ad synopsis, scored form
    counts = prepare_debian_lm_text(tmp_path / "out", tmp_path / "dl",
                                    LMTextConfig(heldout_fraction=0.0, exclude=[str(exclude)]), lists_dir=lists)
    assert counts["excluded"] == 1
    assert "Real-time strategy game of ancient warfare" not in read_text(tmp_path / "out/text").values()
    exclude.write_text("utt1 something else entirely\n")  # a changed exclude file redoes the work
    assert prepare_debian_lm_text(tmp_path / "out", tmp_path / "dl",
                                  LMTextConfig(heldout_fraction=0.0, exclude=[str(exclude)]),
                                  lists_dir=lists)["excluded"] == 0


def test_bad_exclude_and_self_overwrite_are_refused(fixtures: Path, tmp_path: Path, capsys):
    lists = _lists(fixtures, tmp_path)
    with pytest.raises(LegokitError, match="missing.txt: no such file"):
        prepare_debian_lm_text(tmp_path / "out", tmp_path / "dl", LMTextConfig(exclude=[str(tmp_path / "missing.txt")]),
                               lists_dir=lists)
    (tmp_path / "out").mkdir()
    own = tmp_path / "out" / "text"
    own.write_text("a keep me\n")
    capsys.readouterr()
    assert main(["prepare", "debian-lm-text", "--out", str(tmp_path / "out"), "--lists-dir", str(lists),
                 "--exclude", str(own)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.split("\n")) == 1 and str(own) in err
    assert own.read_text() == "a keep me\n"
