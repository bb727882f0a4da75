"""Phone mapping by PanPhon feature distance, checked by hand."""

from collections import Counter

import numpy as np
import pytest

from legokit.errors import LegokitError
from legokit.tts.features import phone_vector
from legokit.tts.mapping import map_phones, phone_distance, read_mapping, write_mapping

pytest.importorskip("panphon")

SOURCE = Counter({"k": 5, "a": 5, "e": 3, "n": 2, "r": 1, "o": 1, "x": 1})


def test_distances_by_hand():
    q, k = phone_vector("q"), phone_vector("k")
    # q and k differ only in 'back'? PanPhon: q is [-hi, +back], k is [+hi, +back] -> one feature, 'hi'
    assert phone_distance(q, k, "hamming") == 1.0
    assert phone_distance(q, k, "weighted") == pytest.approx(0.25 * 2 / 2)  # weight of 'hi' is 0.25, |+1-(-1)|=2
    with pytest.raises(LegokitError, match="hamming, weighted"):
        phone_distance(q, k, "cosine")


def test_kazakh_like_phones_into_a_small_source_inventory():
    rows = {r.target: (r.source, r.distance) for r in map_phones(["a", "q", "ɑ", "ŋ", "ʁ"], SOURCE)}
    assert rows["a"] == ("a", 0.0)  # present: itself
    assert rows["q"][0] == "k"  # uvular stop -> velar stop
    assert rows["ɑ"][0] == "a"  # back open vowel -> open vowel
    assert rows["ʁ"][0] == "x"  # uvular fricative -> velar fricative
    assert rows["ŋ"][0] == "n"  # weighted: sonorant/nasal features weigh most -> the nasal
    hamming = {r.target: r.source for r in map_phones(["ŋ"], SOURCE, distance="hamming")}
    assert hamming["ŋ"] == "k"  # Hamming counts features: ŋ is closer to k in place than to n
    assert np.isclose(phone_distance(phone_vector("ŋ"), phone_vector("k"), "hamming"), 3)


def test_mapping_table_roundtrip(tmp_path):
    rows = map_phones(["q", "a"], SOURCE)
    write_mapping(rows, tmp_path / "map.tsv")
    assert (tmp_path / "map.tsv").read_text().splitlines()[0] == "target\tsource\tdistance"
    assert read_mapping(tmp_path / "map.tsv") == {"q": "k", "a": "a"}
    (tmp_path / "bad.tsv").write_text("target\tsource\tdistance\nq k\n")
    with pytest.raises(LegokitError, match=r"bad.tsv:2"):
        read_mapping(tmp_path / "bad.tsv")


def test_empty_source_inventory():
    with pytest.raises(LegokitError, match="source inventory of 'ru' is empty"):
        map_phones(["a"], Counter(), source_lang="ru")
