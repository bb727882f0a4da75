"""Text -> IPA phones: espeak-ng output parsing, normalisation, counts."""

import shutil
from collections import Counter

import pytest

from legokit.errors import LegokitError
from legokit.tts.phones import (
    WORD,
    PhonemizerConfig,
    normalize_phone,
    parse_espeak_ipa,
    phone_counts,
    phonemize,
    read_counts,
    write_counts,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def test_parse_keeps_espeak_units_and_strips_stress_ties_and_switches():
    # espeak-ng --ipa --sep=_ output for "church judge" and a Hindi line with an English switch
    assert parse_espeak_ipa("tʃ_ˈɜː_tʃ dʒ_ˈʌ_dʒ\n") == ["tʃ", "ɜː", "tʃ", WORD, "dʒ", "ʌ", "dʒ"]
    assert parse_espeak_ipa("(en)_h_ə_l_ˈəʊ_(hi) n_ə_m_ˈʌ_s_t_eː\n") == \
        ["h", "ə", "l", "əʊ", WORD, "n", "ə", "m", "ʌ", "s", "t", "eː"]
    assert parse_espeak_ipa("p__rʲ_i\nx_ʌ") == ["p", "rʲ", "i", WORD, "x", "ʌ"]  # empty units, clause break


def test_normalize_phone():
    assert normalize_phone("t͡ʃ") == "tʃ"  # tie bar
    assert normalize_phone("d\u200dʒ") == "dʒ"  # espeak --ipa=3 zero-width joiner
    assert normalize_phone("ˈaː") == "aː"  # stress stripped, length kept
    assert normalize_phone("ˈaː", keep_stress=True) == "ˈaː"


@needs_espeak
def test_phonemize_kazakh_with_espeak():
    (phones,) = phonemize(["Сәлем әлем"], "kk")
    assert phones == ["s", "æ", "l", "e", "m", WORD, "æ", "l", "e", "m"]


@needs_espeak
def test_phonemize_bad_language_names_it():
    with pytest.raises(LegokitError, match="xx-nonexistent"):
        phonemize(["a"], "xx-nonexistent")


@pytest.mark.slow
def test_epitran_backend_and_unknown_code():  # slow: epitran loads its maps
    pytest.importorskip("epitran")
    (phones,) = phonemize(["habari ya"], "sw", PhonemizerConfig(backend="epitran"))
    assert phones == ["h", "a", "ɓ", "a", "ɾ", "i", WORD, "j", "a"]
    with pytest.raises(LegokitError, match="no epitran code for language 'bg'"):
        phonemize(["a"], "bg", PhonemizerConfig(backend="epitran"))


def test_counts_roundtrip_and_bad_line(tmp_path):
    counts = phone_counts([["a", WORD, "b", "a"], ["a"]])
    assert counts == Counter({"a": 3, "b": 1})
    write_counts(counts, tmp_path / "c.tsv")
    assert (tmp_path / "c.tsv").read_text() == "a\t3\nb\t1\n"
    assert read_counts(tmp_path / "c.tsv") == counts
    (tmp_path / "bad.tsv").write_text("a\t3\nb x\n")
    with pytest.raises(LegokitError, match=r"bad.tsv:2"):
        read_counts(tmp_path / "bad.tsv")
