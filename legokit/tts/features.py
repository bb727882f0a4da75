"""PanPhon phonological feature vectors for phones, and the input vectors of the acoustic model.

Each phone maps to PanPhon's 24 features (+1 / -1 / 0 = present / absent / not applicable), found by
segmenting the phone with PanPhon (diacritics such as ʲ ʰ ː ʼ are part of a segment):

* one segment: its vector;
* affricates written without a tie (espeak's ``tʃ``, ``dʒ``, ``ts``): retried with a tie bar (``t͡ʃ``);
* several segments (diphthongs ``aɪ``, clusters): the mean of the segments' vectors, logged once;
* symbols PanPhon does not know: first rewritten by :data:`ESPEAK_TO_IPA` (espeak's non-IPA symbols),
  then, if anything is still unknown, an error naming the phone, the language and the symbol
  (``on_unknown="error"``), or a logged warning and the vector of the known part (``"warn"``; a zero
  vector if no part is known). Nothing is dropped silently.

The model's input vector of a token is [24 features, word-boundary flag]: the word boundary ``|`` and
padding have all-zero features (flag 1 and 0).
"""

from __future__ import annotations

import csv
import functools
import logging
import unicodedata
from collections.abc import Sequence
from importlib.resources import files

import numpy as np

from legokit.errors import LegokitError
from legokit.tts.phones import WORD

log = logging.getLogger(__name__)

NUM_FEATURES = 24
INPUT_DIM = NUM_FEATURES + 1
TIE = "\u0361"
# espeak-ng symbols outside PanPhon's IPA -> IPA ('"' marks a centralised vowel, '^' a non-syllabic one:
# espeak-ng ru writes `u"` and `ɪ^`; espeak-ng ur and uz leak their own phoneme names `r.` (ɽ, ڑ) and `tS` (tʃ))
ESPEAK_TO_IPA = {"r.": "ɽ", "tS": "tʃ", "ᵻ": "ɨ", "ɚ": "ə˞", "ɝ": "ɜ˞", "g": "ɡ", '"': "\u0308", "^": "\u032f"}


@functools.lru_cache(maxsize=1)
def feature_table():
    """PanPhon's FeatureTable (loaded once)."""
    import panphon

    return panphon.FeatureTable()


def feature_names() -> list[str]:
    """The 24 PanPhon feature names, in vector order."""
    return list(feature_table().names)


def feature_weights() -> np.ndarray:
    """PanPhon's per-feature weights (feature_weights.csv, matched by name), (24,); the tone features
    missing from that file get the smallest weight, 0.125."""
    with files("panphon").joinpath("data/feature_weights.csv").open(newline="") as f:  # as csv wants
        row = next(csv.DictReader(f))
    return np.array([float(row.get(name, 0.125)) for name in feature_names()])


def _segments(phone: str) -> tuple[list[str], str]:
    """PanPhon segments of `phone` and the characters they do not cover."""
    segs = feature_table().ipa_segs(phone)
    covered = unicodedata.normalize("NFD", "".join(segs))
    rest = list(unicodedata.normalize("NFD", phone))
    for char in covered:
        if char in rest:
            rest.remove(char)
    return segs, "".join(rest)


def _vectors(segs: list[str]) -> np.ndarray:
    return np.array(feature_table().word_to_vector_list("".join(segs), numeric=True), dtype=np.float32)


def phone_vector(phone: str, lang: str = "?", on_unknown: str = "error") -> np.ndarray:
    """PanPhon features (24,) of one phone (see the module docstring for the rules)."""
    ipa = phone
    for sym, rep in ESPEAK_TO_IPA.items():
        ipa = ipa.replace(sym, rep)
    segs, unknown = _segments(ipa)
    if len(segs) > 1 and not unknown:
        tied, tied_unknown = _segments(ipa[0] + TIE + ipa[1:])
        if len(tied) == 1 and not tied_unknown:
            segs = tied
    if unknown:
        message = (f"phone {phone!r} of language '{lang}': PanPhon does not know {unknown!r}; add a rewrite to "
                   "legokit.tts.features.ESPEAK_TO_IPA or use on_unknown='warn'")
        if on_unknown == "error":
            raise LegokitError(message)
        log.warning("%s (using the known part %s)", message, segs)
    if not segs:
        return np.zeros(NUM_FEATURES, dtype=np.float32)
    vectors = _vectors(segs)
    if len(segs) > 1:
        log.info("phone %r of language '%s' is %d PanPhon segments %s: using their mean", phone, lang,
                 len(segs), segs)
    return vectors.mean(axis=0)


def feature_matrix(phones: Sequence[str], lang: str = "?", on_unknown: str = "error") -> np.ndarray:
    """Model input vectors (N, 25) of a token sequence: features + word-boundary flag."""
    out = np.zeros((len(phones), INPUT_DIM), dtype=np.float32)
    cache: dict[str, np.ndarray] = {}
    for i, phone in enumerate(phones):
        if phone == WORD:
            out[i, NUM_FEATURES] = 1.0
            continue
        if phone not in cache:
            cache[phone] = phone_vector(phone, lang, on_unknown)
        out[i, :NUM_FEATURES] = cache[phone]
    return out
