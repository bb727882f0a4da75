"""Readers of the parallel-text sources: gettext .mo catalogs, the Ding dictionary, DDTP translations.

Each reader yields raw (foreign, English) string pairs; normalisation and filtering happen in
:mod:`legokit.corpora.text`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path

from legokit.corpora.debian import parse_deb822, split_description
from legokit.errors import LegokitError
from legokit.fileio import iter_text_lines

_MO_MAGIC = 0x950412DE


def read_mo(path: Path) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs of a GNU .mo catalog; plural entries, the header and undecodable entries
    are skipped, and a message context (``ctxt\\x04msgid``) is removed."""
    data = path.read_bytes()
    if len(data) < 20:
        raise LegokitError(f"{path}: not a gettext .mo file (only {len(data)} bytes)")
    for order in "<>":
        magic, _, count, ids_at, strs_at = struct.unpack(f"{order}5I", data[:20])
        if magic == _MO_MAGIC:
            break
    else:
        raise LegokitError(f"{path}: not a gettext .mo file (bad magic number {data[:4].hex()})")

    def entry(table: int, i: int) -> bytes:
        length, offset = struct.unpack(f"{order}2I", data[table + 8 * i: table + 8 * i + 8])
        return data[offset:offset + length]

    pairs = []
    for i in range(count):
        msgid, msgstr = entry(ids_at, i), entry(strs_at, i)
        if not msgid or b"\x00" in msgid or not msgstr:
            continue
        try:
            pairs.append((msgid.split(b"\x04")[-1].decode("utf-8"), msgstr.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return pairs


def mo_pairs(roots: list[Path], lang: str) -> Iterator[tuple[str, str]]:
    """(translation, English msgid) pairs from every ``<lang>/LC_MESSAGES/*.mo`` under `roots`."""
    for root in roots:
        for path in sorted(root.glob(f"**/{lang}/LC_MESSAGES/*.mo")):
            for msgid, msgstr in read_mo(path):
                yield msgstr, msgid


_DING_NOTE = re.compile(r"\{[^}]*\}|\[[^\]]*\]|<[^>]*>|/[A-Z][A-Za-z]*/")
_ALTERNATIVES = re.compile(r";\s+")


def ding_pairs(path: Path) -> Iterator[tuple[str, str]]:
    """(German, English) pairs from a Ding dictionary file (``de :: en`` lines, ``|`` sub-entries).

    Sub-entries are aligned by position when both sides have as many; of ``;``-separated alternatives
    the first is taken; grammar/usage notes ({m}, [Br.], <...>, /ABBR/) are removed. Most entries are
    words and phrases — the strict filter keeps the example sentences.
    """
    for line in iter_text_lines(path):
        if line.startswith("#") or " :: " not in line:
            continue
        de, _, en = line.partition(" :: ")
        de_parts, en_parts = de.split(" | "), en.split(" | ")
        if len(de_parts) != len(en_parts):
            continue
        for d, e in zip(de_parts, en_parts):
            yield (_ALTERNATIVES.split(_DING_NOTE.sub("", d))[0].strip(),
                   _ALTERNATIVES.split(_DING_NOTE.sub("", e))[0].strip())


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜĂÂÎȘȚ])")


def split_sentences(paragraph: str) -> list[str]:
    """A description paragraph's sentences: cut after . ! or ? and whitespace, before a capital (DDTP's own unit
    is the paragraph; debian-mt and debian-lm-text both cut with this)."""
    return _SENTENCE_END.split(paragraph)


def ddtp_pairs(english_index: str, foreign_index: str, lang: str) -> Iterator[tuple[str, str]]:
    """(translation, English) sentence pairs from Debian description translations (DDTP).

    Descriptions are matched by Description-md5, then paragraphs by position (same count required), then
    sentences by position within a paragraph (same count required).
    """
    english = {p["Description-md5"]: p["Description-en"] for p in parse_deb822(english_index)
               if "Description-md5" in p and "Description-en" in p}
    for para in parse_deb822(foreign_index):
        en_desc = english.get(para.get("Description-md5", ""))
        foreign_desc = para.get(f"Description-{lang}")
        if en_desc is None or foreign_desc is None:
            continue
        _, en_pars = split_description(en_desc)
        _, fo_pars = split_description(foreign_desc)
        if len(en_pars) != len(fo_pars):
            continue
        for en_par, fo_par in zip(en_pars, fo_pars):
            en_sents, fo_sents = split_sentences(en_par), split_sentences(fo_par)
            if len(en_sents) == len(fo_sents):
                yield from zip(fo_sents, en_sents)
