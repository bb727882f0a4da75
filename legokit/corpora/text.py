"""Parallel-text hygiene: normalisation, the strict pair filter, de-duplication, hash-based splits, and
Kaldi-style ``text.<lang>`` files (``<id> <sentence>`` per line, sorted by id, ids aligned across files).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from legokit.errors import LegokitError
from legokit.fileio import iter_text_lines


@dataclass(frozen=True)
class Pair:
    """One sentence pair: `src` in the foreign language (de, ro), `en` its English translation."""

    source: str  # corpus tag, e.g. "ding", "mo-gcc"; becomes the id prefix
    src: str
    en: str


@dataclass
class FilterConfig:
    """The strict filter of docs/data_sources.md (English side drives it)."""

    min_words: int = 5  # minimum number of words on the English side
    max_words: int = 60  # maximum number of words on the English side
    min_ratio: float = 0.6  # minimum len(src)/len(en) in characters
    max_ratio: float = 1.8  # maximum len(src)/len(en) in characters


_PLACEHOLDER = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?[a-zA-Z%]|%\d|\{[^}]*\}|\$\{|\$\w")
_MARKUP = re.compile(r"<[^>]*>|&\w+;|&#\d+;")
_ACCEL_OR_CODE = re.compile(r"[_&~|\\@#`]|\w/\w|\.\.\.|…|\[|\]")


def normalize(text: str) -> str:
    """Unicode NFC and collapsed whitespace (newlines and tabs become single spaces)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def asr_normalise(text: str) -> str:
    """ASR scoring form (ESPnet's "lc.rm"): lower-case, every punctuation mark a space except apostrophes
    inside words, whitespace collapsed. "Use ALSA's PCM plug-in." -> "use alsa's pcm plug in"."""
    text = unicodedata.normalize("NFC", text).lower().replace("\u2019", "'")
    spaced = "".join(" " if unicodedata.category(c).startswith("P") and c != "'" else c for c in text)
    return " ".join(w for w in (w.strip("'") for w in spaced.split()) if w)


def keep_pair(src: str, en: str, cfg: FilterConfig | None = None) -> bool:
    """True if a (normalised) pair passes the strict filter: a real, complete, translated sentence."""
    cfg = cfg or FilterConfig()
    words = en.split()
    if not (cfg.min_words <= len(words) <= cfg.max_words) or not en[0].isupper():
        return False
    if en[-1] not in ".!?" or not src or src[-1] != en[-1]:
        return False
    if not cfg.min_ratio <= len(src) / len(en) <= cfg.max_ratio:
        return False
    if src.casefold() == en.casefold():
        return False
    both = f"{src}\n{en}"
    return not (_PLACEHOLDER.search(both) or _MARKUP.search(both) or _ACCEL_OR_CODE.search(both))


def dedup(pairs: Iterable[Pair]) -> list[Pair]:
    """Keep the first pair of each foreign sentence (case-folded); exact duplicate pairs go with it."""
    seen: set[str] = set()
    out = []
    for pair in pairs:
        key = pair.src.casefold()
        if key not in seen:
            seen.add(key)
            out.append(pair)
    return out


def text_hash(text: str) -> float:
    """A stable number in [0, 1) for `text` (sha1), independent of Python's hash seed."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big") / 2**64


def split_by_hash(keys: list[str], sizes: dict[str, int], heldout_fraction: float) -> list[str | None]:
    """Assign each key a split: the evaluation splits (`sizes`, in order) come from the held-out pool.

    The pool is every key with ``text_hash(key) < heldout_fraction``; keys are ranked by hash and the
    first ``sizes[name]`` distinct keys go to each split in turn, unused pool keys get None (dropped),
    and all other keys go to "train". Equal keys always share a split, and a key in the pool never
    reaches any train split — so with the English sentence as key and the same fraction for De-En and
    Ro-En, no test sentence of one pair is a training target of the other.
    """
    pool = sorted({k for k in keys if text_hash(k) < heldout_fraction}, key=text_hash)
    need = sum(sizes.values())
    if len(pool) < need:
        raise LegokitError(f"the held-out pool has {len(pool)} distinct sentences but the evaluation splits "
                           f"need {need} ({sizes}); lower the split sizes or raise the held-out fraction")
    assign: dict[str, str] = {}
    start = 0
    for name, size in sizes.items():
        assign.update((k, name) for k in pool[start:start + size])
        start += size
    pooled = set(pool)
    return [assign.get(k) if k in pooled else "train" for k in keys]


def write_text(path: Path, lines: dict[str, str]) -> None:
    """Write a Kaldi text file: ``<id> <text>`` lines sorted by id (ids must not contain whitespace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for key in sorted(lines):
            f.write(f"{key} {lines[key]}\n")


def read_text(path: Path) -> dict[str, str]:
    """Read a Kaldi text file into {id: text}; a malformed line raises naming the file and line."""
    out: dict[str, str] = {}
    for n, line in enumerate(iter_text_lines(path), 1):
        key, _, text = line.partition(" ")
        if not key:
            raise LegokitError(f"{path}:{n}: expected '<id> <text>', got an empty id")
        out[key] = text
    return out
