"""PanPhon feature vectors: affricates, diacritics, diphthongs, espeak symbols, unknown symbols."""

import logging
import shutil

import numpy as np
import pytest

from legokit.errors import LegokitError
from legokit.tts.features import INPUT_DIM, NUM_FEATURES, feature_matrix, feature_names, phone_vector
from legokit.tts.phones import WORD, phonemize

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


# a line per recipe language with its characteristic sounds (ur: ڑ, aspirates; uz: ch; ka: ejectives ...)
LINES = {
    "bg": "Щастливият джудист хвърля жълтата цветна топка в южния ъгъл на двора.",
    "ka": "ჟღერადობა, ყვავილი, წყალი, ჭაჭა, ხელი, ძაღლი, ცხენი, ჩიტი, ქალაქი, ფეხი, ღვინო, შაქარი, ჯვარი, ჰაერი.",
    "kk": "Қазақстанның әдемі өзендері мен ұлы таулары жүрегімде, шөп һәм іңір.",
    "sw": "Ng'ombe wa shangazi anakula nyasi, dhahabu, ghali, thelathini, njia, mbwa, chakula na jibu zuri.",
    "ur": "یہ گاڑی بڑی ہے۔ کھانا، بھائی، پھول، تھوڑا، ٹھیک، دھوپ، ڈھول، جھیل، چھت، گھر، ژالہ، غلط، قلم، خط، ظالم۔",
    "uz": "Oʻzbekiston gʻalaba qishloq choʻl shahar yaxshi hayot.",
    "ru": "Съешь же ещё этих мягких французских булок да выпей чаю.",
    "fi": "Törkylempijävongahdus, äänekäs yö ja hyvä ystävä.",
    "en": "The quick brown fox jumps over the lazy dog, thinking of measure and church.",
}


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
@pytest.mark.parametrize("lang", sorted(LINES))
def test_every_espeak_phone_of_the_recipe_languages_has_features(lang):
    phones = phonemize([LINES[lang]], lang)[0]
    matrix = feature_matrix(phones, lang)  # raises on any symbol PanPhon does not know
    sounds = [i for i, phone in enumerate(phones) if phone != WORD]
    assert matrix.shape == (len(phones), INPUT_DIM) and np.abs(matrix[sounds, :NUM_FEATURES]).sum(axis=1).min() > 0
    if lang == "ur":  # espeak-ng's own name for the retroflex flap, rewritten to IPA ɽ
        assert "r." in phones and np.array_equal(phone_vector("r."), phone_vector("ɽ"))
    if lang == "uz":
        assert "tS" in phones and np.array_equal(phone_vector("tS"), phone_vector("tʃ"))


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
