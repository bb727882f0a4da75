"""PanPhon feature vectors: affricates, diacritics, diphthongs, espeak symbols, unknown symbols."""

import logging

import numpy as np
import pytest

from legokit.errors import LegokitError
from legokit.tts.features import INPUT_DIM, NUM_FEATURES, feature_matrix, feature_names, phone_vector
from legokit.tts.phones import WORD

pytest.importorskip("panphon")


def feat(vector: np.ndarray, name: str) -> float:
    return float(vector[feature_names().index(name)])


def test_affricate_without_tie_is_one_segment():
    v = phone_vector("tʃ")
    assert feat(v, "delrel") == 1 and feat(v, "strid") == 1 and feat(v, "voi") == -1
    assert feat(phone_vector("dʒ"), "voi") == 1
    assert np.array_equal(phone_vector("ts"), phone_vector("t͡s"))


def test_diacritics_change_the_right_features():
    assert feat(phone_vector("pʰ"), "sg") == 1 and feat(phone_vector("p"), "sg") == -1  # aspiration
    assert feat(phone_vector("eː"), "long") == 1 and feat(phone_vector("e"), "long") == -1  # length
    assert feat(phone_vector("kʼ"), "cg") == 1  # ejective


def test_diphthong_is_the_mean_of_its_segments_and_is_logged(caplog):
    with caplog.at_level(logging.INFO):
        v = phone_vector("aɪ", "en")
    assert np.allclose(v, (phone_vector("a") + phone_vector("ɪ")) / 2)
    assert "'aɪ'" in caplog.text and "'en'" in caplog.text


def test_espeak_symbol_rewritten():
    assert np.array_equal(phone_vector("ᵻ"), phone_vector("ɨ"))


def test_unknown_symbol_error_names_phone_and_language(caplog):
    with pytest.raises(LegokitError, match=r"phone 'X' of language 'kk'.*'X'"):
        phone_vector("X", "kk")
    with caplog.at_level(logging.WARNING):
        v = phone_vector("aX", "kk", on_unknown="warn")
    assert np.array_equal(v, phone_vector("a")) and "'aX'" in caplog.text


def test_feature_matrix_word_boundary_flag():
    m = feature_matrix(["a", WORD, "b"])
    assert m.shape == (3, INPUT_DIM)
    assert m[1, NUM_FEATURES] == 1 and not m[1, :NUM_FEATURES].any()
    assert m[0, NUM_FEATURES] == 0 and np.array_equal(m[2, :NUM_FEATURES], phone_vector("b"))
