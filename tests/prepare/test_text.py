from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legokit.corpora.text import (
    Pair,
    dedup,
    keep_pair,
    normalize,
    read_text,
    split_by_hash,
    text_hash,
    write_text,
)
from legokit.errors import LegokitError

GOOD = ("Die Datei konnte nicht geöffnet werden.", "The file could not be opened.")


def test_normalize_nfc_and_whitespace():
    assert normalize("  Gro\u0308\u00dfe\n\tDatei ") == "Größe Datei"


@pytest.mark.parametrize("src, en", [
    ("Datei öffnen.", "Open file."),  # fewer than 5 English words
    ("die Datei konnte nicht geöffnet werden.", "the file could not be opened."),  # no capital
    ("Die Datei konnte nicht geöffnet werden", "The file could not be opened."),  # marks differ
    ("Datei %s konnte nicht geöffnet werden.", "The file %s could not be opened."),  # placeholder
    ("Die Datei {0} ist kaputt und weg.", "The file {0} is broken and gone."),  # placeholder
    ("Die <b>Datei</b> konnte nicht geöffnet werden.", "The <b>file</b> could not be opened."),  # markup
    ("Die _Datei konnte nicht geöffnet werden.", "The _file could not be opened."),  # accelerator
    ("The file could not be opened.", "The file could not be opened."),  # untranslated
    ("Nein.", "The file could not be opened."),  # length ratio
])
def test_keep_pair_rejects(src: str, en: str):
    assert not keep_pair(src, en)


def test_keep_pair_accepts_a_real_sentence():
    assert keep_pair(*GOOD)
    assert keep_pair("Wollen Sie die Datei wirklich löschen?", "Do you really want to delete the file?")


def test_dedup_keeps_first_per_source_sentence():
    pairs = [Pair("a", "Hallo Welt.", "Hello world."), Pair("b", "hallo welt.", "Hi world."),
             Pair("b", "Hallo Welt.", "Hello world."), Pair("b", "Tschüss.", "Bye.")]
    assert dedup(pairs) == [pairs[0], pairs[3]]


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=60))
def test_split_by_hash_properties(keys: list[str]):
    pool = {k for k in keys if text_hash(k) < 0.5}
    sizes = {"test": len(pool) // 2, "valid": len(pool) - len(pool) // 2 - len(pool) // 4}
    splits = split_by_hash(keys, sizes, 0.5)
    assert splits == split_by_hash(list(keys), sizes, 0.5)  # deterministic
    by_key: dict[str, set] = {}
    for key, split in zip(keys, splits):
        by_key.setdefault(key, set()).add(split)
        assert (split == "train") == (key not in pool)  # the held-out pool never reaches train
    assert all(len(s) == 1 for s in by_key.values())  # equal keys share a split
    for name, size in sizes.items():
        assert len({k for k, s in zip(keys, splits) if s == name}) == size


def test_split_by_hash_too_small_pool():
    with pytest.raises(LegokitError, match="held-out pool has 0 distinct"):
        split_by_hash(["a", "b"], {"test": 1}, 0.0)


def test_kaldi_text_roundtrip(tmp_path: Path):
    lines = {"b-2": "zwei Wörter", "a-1": "eins"}
    write_text(tmp_path / "d" / "text.de", lines)
    assert (tmp_path / "d" / "text.de").read_text(encoding="utf-8") == "a-1 eins\nb-2 zwei Wörter\n"
    assert read_text(tmp_path / "d" / "text.de") == lines


def test_read_text_names_bad_line(tmp_path: Path):
    (tmp_path / "text").write_text("a-1 ok\n no id\n")
    with pytest.raises(LegokitError, match=r"text:2: expected '<id> <text>'"):
        read_text(tmp_path / "text")
