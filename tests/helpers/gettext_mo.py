"""A tiny gettext .mo writer (GNU format, little-endian, no hash table) for tests that need catalogs.

tests/fixtures/prepare/de.mo was written with ``write_mo(path, MO_MESSAGES)``.
"""

from __future__ import annotations

import struct
from pathlib import Path

MO_MESSAGES = {
    "": "Content-Type: text/plain; charset=UTF-8\n",
    "The file could not be opened.": "Die Datei konnte nicht geöffnet werden.",
    "Cannot open %s for writing.": "%s kann nicht zum Schreiben geöffnet werden.",
    "menu\x04Save the current document to disk.": "Speichert das aktuelle Dokument auf der Festplatte.",
    "one file\x00%d files": "eine Datei\x00%d Dateien",
    "Untranslated sentence stays in English.": "Untranslated sentence stays in English.",
}


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """Write `messages` (msgid -> msgstr, sorted by msgid as gettext requires) as a .mo file."""
    keys = sorted(messages)
    ids = [k.encode() for k in keys]
    strs = [messages[k].encode() for k in keys]
    n = len(keys)
    ids_at, strs_at = 28, 28 + 8 * n
    offset = strs_at + 8 * n
    table, blob = b"", b""
    for group in (ids, strs):
        for item in group:
            table += struct.pack("<2I", len(item), offset + len(blob))
            blob += item + b"\x00"
    path.write_bytes(struct.pack("<7I", 0x950412DE, 0, n, ids_at, strs_at, 0, 0) + table + blob)
