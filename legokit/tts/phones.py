"""Text -> IPA phone sequences (espeak-ng, or epitran where it is better), phone inventories, frequencies.

espeak-ng is asked for IPA with its own phoneme separator (``espeak-ng -q --ipa --sep=_``): each
``_``-separated unit is one espeak phoneme, so affricates (``tʃ``), diphthongs (``aɪ``) and long vowels
(``eː``) stay single phones. (``--ipa=3`` writes the same IPA with a zero-width joiner inside affricates
but nothing between phones, which leaves segmentation to guesswork.) Normalisation, the same for every
language and both back-ends:

* stress marks ``ˈ ˌ`` are removed (``keep_stress`` keeps them on the following vowel);
* length marks ``ː ˑ`` stay attached to their phone (``eː`` and ``e`` are different phones);
* tie bars (U+0361, U+035C) and zero-width joiners are removed (``t͡ʃ`` -> ``tʃ``);
* espeak's language-switch markers such as ``(en)`` are removed; the switched phones are kept;
* words are separated by the word-boundary token ``|``; clause breaks (new lines) also give ``|``.

Usage::

    phones = phonemize(["Сәлем әлем"], "kk")          # [['s', 'æ', 'l', 'e', 'm', '|', 'æ', ...]]
    counts = phone_counts(phones)                     # Counter over phones (no '|')
"""

from __future__ import annotations

import logging
import re
import subprocess
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from legokit.corpora.debian import require_tool
from legokit.corpora.espeak import ESPEAK_HINT
from legokit.errors import LegokitError
from legokit.fileio import read_text_lines

log = logging.getLogger(__name__)

WORD = "|"  # word-boundary token
_STRESS = "ˈˌ"
_TIES = "\u0361\u035c\u200d"
_SWITCH = re.compile(r"\([a-z\u200d-]+\)")


@dataclass
class PhonemizerConfig:
    """How text becomes phones."""

    backend: str = "espeak"  # "espeak" or "epitran" (only for languages listed in `epitran_codes`)
    keep_stress: bool = False  # keep ˈ/ˌ as part of the following phone (default: strip them)
    nj: int = 2  # espeak-ng processes run in parallel
    # espeak-ng language -> epitran code, used when backend is "epitran"
    epitran_codes: dict[str, str] = field(default_factory=lambda: {
        "kk": "kaz-Cyrl", "uz": "uzb-Latn", "sw": "swa-Latn", "ur": "urd-Arab", "ka": "kat-Geor",
        "ru": "rus-Cyrl", "fi": "fin-Latn", "hi": "hin-Deva"})


def normalize_phone(unit: str, keep_stress: bool = False) -> str:
    """One espeak/epitran unit -> a normalised phone ('' if nothing is left)."""
    unit = unicodedata.normalize("NFD", unit)
    unit = "".join(c for c in unit if c not in _TIES)
    if not keep_stress:
        unit = "".join(c for c in unit if c not in _STRESS)
    return unicodedata.normalize("NFC", unit.strip())


def parse_espeak_ipa(output: str, keep_stress: bool = False) -> list[str]:
    """espeak-ng ``--ipa --sep=_`` output -> phones with ``|`` between words (none at the ends)."""
    phones: list[str] = []
    for word in _SWITCH.sub("", output).split():
        units = [normalize_phone(u, keep_stress) for u in word.split("_")]
        units = [u for u in units if u]
        if units:
            if phones:
                phones.append(WORD)
            phones.extend(units)
    return phones


def _espeak(text: str, lang: str, keep_stress: bool) -> list[str]:
    proc = subprocess.run(["espeak-ng", "-q", "--ipa", "--sep=_", "-v", lang, "--", text],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise LegokitError(f"espeak-ng failed for language '{lang}': {proc.stderr.strip()} "
                           "(list the voices with `espeak-ng --voices`)")
    return parse_espeak_ipa(proc.stdout, keep_stress)


def _epitran(texts: Sequence[str], code: str, keep_stress: bool) -> list[list[str]]:
    import epitran

    epi = epitran.Epitran(code)
    out = []
    for text in texts:
        phones: list[str] = []
        for word in text.split():
            segments = [normalize_phone(s, keep_stress) for s in epi.trans_list(word)]
            segments = [s for s in segments if s and not unicodedata.category(s[0]).startswith("P")]  # no punctuation
            if segments:
                phones += ([WORD] if phones else []) + segments
        out.append(phones)
    return out


def phonemize(texts: Sequence[str], lang: str, cfg: PhonemizerConfig | None = None) -> list[list[str]]:
    """Phone sequences of `texts` in language `lang` (an espeak-ng voice name such as "kk")."""
    cfg = cfg or PhonemizerConfig()
    if cfg.backend == "epitran":
        if lang not in cfg.epitran_codes:
            raise LegokitError(f"no epitran code for language '{lang}': add it to epitran_codes "
                               f"(have {sorted(cfg.epitran_codes)}) or use backend 'espeak'")
        return _epitran(texts, cfg.epitran_codes[lang], cfg.keep_stress)
    if cfg.backend != "espeak":
        raise LegokitError(f"phonemizer backend must be 'espeak' or 'epitran', got {cfg.backend!r}")
    require_tool("espeak-ng", "convert text to IPA phones", ESPEAK_HINT)
    with ThreadPoolExecutor(max_workers=max(1, cfg.nj)) as pool:
        return list(pool.map(lambda t: _espeak(t, lang, cfg.keep_stress), texts))


def phone_counts(utterances: Iterable[Sequence[str]]) -> Counter:
    """Phone frequencies over utterances (the word boundary ``|`` is not a phone)."""
    return Counter(p for utt in utterances for p in utt if p != WORD)


def write_counts(counts: Counter, path: str | Path) -> None:
    """Write ``phone<TAB>count`` lines, most frequent first."""
    lines = [f"{p}\t{n}\n" for p, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    Path(path).write_text("".join(lines), encoding="utf-8")


def read_counts(path: str | Path) -> Counter:
    """Read a file written by :func:`write_counts`."""
    counts: Counter = Counter()
    for number, line in enumerate(read_text_lines(path), 1):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[1].isdigit():
            raise LegokitError(f"{path}:{number}: expected 'phone<TAB>count', got {line!r}")
        counts[parts[0]] = int(parts[1])
    return counts
