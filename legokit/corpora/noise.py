"""Recorded noises for `data.augment.noise_dir` from Debian's openttd-opensfx (no root needed).

OpenSFX is a set of real recordings (Freesound: vehicles, machinery, wind, crowds, animals), each under
CC-BY-3.0, CC-BY-SA-3.0 or CC0 (the collection as a whole CC-BY-SA-3.0; debian/copyright). The package
ships them in one OpenTTD ``opensfx.cat`` catalogue: a table of (offset | 0x80000000, size) pairs, each
entry a length-prefixed name (title, authors, licence) followed by a RIFF wav. Output::

    <out>/opensfx-NN.wav   16 kHz mono PCM-16, entries of at least `min_seconds`
    <out>/LICENSES.tsv     <file> <title, authors and licence as the package states them>
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import soundfile as sf

from legokit.corpora.debian import fetch_deb
from legokit.corpora.espeak import save_wav
from legokit.errors import LegokitError
from legokit.fileio import write_atomic

PACKAGE, CATALOGUE = "openttd-opensfx", "usr/share/games/openttd/baseset/opensfx/opensfx.cat"


def read_catalogue(path: Path) -> list[tuple[str, bytes]]:
    """(name, wav bytes) of each entry of an OpenTTD sound catalogue (empty entries included)."""
    data = path.read_bytes()
    count = (struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF) // 8
    entries = []
    for i in range(count):
        offset, size = struct.unpack_from("<II", data, 8 * i)
        offset &= 0x7FFFFFFF
        if offset + size > len(data):
            raise LegokitError(f"{path}: entry {i} runs past the end of the file (a truncated catalogue)")
        name_len = data[offset]
        name = data[offset + 1:offset + 1 + name_len].rstrip(b"\0").decode("utf-8", "replace")
        entries.append((name, data[offset + 1 + name_len:offset + size]))
    return entries


def prepare_noise(out_dir: Path | str, download_dir: Path | str, sample_rate: int = 16000,
                  min_seconds: float = 0.5) -> dict:
    """Write the package's recordings of at least `min_seconds` as wavs into `out_dir`; return counts."""
    tree = fetch_deb(PACKAGE, download_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    licences, seconds = {}, 0.0
    for i, (name, wav) in enumerate(read_catalogue(tree / CATALOGUE)):
        if not wav:
            continue
        audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
        if len(audio) < min_seconds * rate:
            continue
        path = out / f"opensfx-{i:02d}.wav"
        seconds += save_wav(audio, rate, path, sample_rate, f"{PACKAGE} entry {i}")
        licences[path.name] = " ".join(name.split())
    write_atomic("".join(f"{k}\t{v}\n" for k, v in licences.items()), out / "LICENSES.tsv")
    return {"files": len(licences), "minutes": round(seconds / 60, 2), "package": PACKAGE}
