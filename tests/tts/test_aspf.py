"""ASPF = 1 − arccos(cos)/π on phone-frequency vectors."""

from collections import Counter

import numpy as np
import pytest

from legokit.errors import LegokitError
from legokit.tts.aspf import angular_similarity, aspf, rank_sources


def test_identical_orthogonal_opposite():
    assert aspf(Counter(a=2, b=1), Counter(a=4, b=2)) == pytest.approx(1.0)  # same relative frequencies
    assert aspf(Counter(a=1), Counter(b=1)) == pytest.approx(0.5)  # disjoint inventories
    assert angular_similarity(np.array([1.0, 0]), np.array([-1.0, 0])) == pytest.approx(0.0)


def test_value_by_hand():
    # f_A = (1/2, 1/2, 0), f_B = (0, 1/2, 1/2) over {a, b, c}: cos = 1/2 -> 1 - (π/3)/π = 2/3
    assert aspf(Counter(a=1, b=1), Counter(b=3, c=3)) == pytest.approx(2 / 3)


def test_rank_and_empty():
    target = Counter(a=5, b=3, c=1)
    ranking = rank_sources(target, {"far": Counter(x=1), "near": Counter(a=5, b=3), "mid": Counter(a=1, x=1)})
    assert [lang for lang, _ in ranking] == ["near", "mid", "far"]
    with pytest.raises(LegokitError, match="non-zero"):
        aspf(Counter(), Counter(a=1))
