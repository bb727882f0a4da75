from pathlib import Path

from legokit.corpora.debian_sum import SumPrepConfig, description_pairs, prepare_debian_sum
from legokit.corpora.text import read_text


def test_description_pairs(fixtures: Path):
    docs = description_pairs((fixtures / "Translation-en").read_text())
    doc, summary = docs["0ad"]
    assert summary == "Real-time strategy game of ancient warfare"
    assert doc.startswith("0 A.D. (pronounced") and " . " not in doc and "\n" not in doc
    assert "*" not in docs["listy"][0]


def test_prepare_debian_sum(fixtures: Path, tmp_path: Path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "x_main_i18n_Translation-en").write_text((fixtures / "Translation-en").read_text())
    cfg = SumPrepConfig(min_words=30, valid_size=0, test_size=0, heldout_fraction=0.0)
    counts = prepare_debian_sum(tmp_path / "out", tmp_path / "dl", cfg, lists_dir=lists)
    assert counts == {"packages": 3, "kept": 2, "train": 2, "valid": 0, "test": 0}  # "tiny" is too short
    docs, sums = read_text(tmp_path / "out/train/text.doc"), read_text(tmp_path / "out/train/text.sum")
    assert sorted(docs) == sorted(sums) == ["debsum-0ad", "debsum-listy"]
