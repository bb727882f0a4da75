"""Recorded noises from Debian packages (no root needed), for `data.augment.noise_dir` and noisy test sets.

One row of :data:`PACKAGES` per package; each lists its recordings as (file stem, audio bytes, licence)::

    <out>/<prefix>-<stem>.wav   16 kHz mono PCM-16, recordings of at least `min_seconds`
    <out>/LICENSES.tsv          <file> <title, authors and licence as the package states them>

- openttd-opensfx (``opensfx-NN.wav``): OpenSFX, real recordings (Freesound: vehicles, machinery, wind,
  crowds, animals), each under CC-BY-3.0, CC-BY-SA-3.0 or CC0 (the collection as a whole CC-BY-SA-3.0;
  debian/copyright). The package ships them in one OpenTTD ``opensfx.cat`` catalogue: a table of
  (offset | 0x80000000, size) pairs, each entry a length-prefixed name (title, authors, licence) followed
  by a RIFF wav. The training noise of the recipes.
- extremetuxracer-data (``etr-<name>.wav``): Extreme Tux Racer's sound effects (grass, ice, leaves, mud,
  rock and snow slides, a tree hit) and its music (Vorbis), GPL-2+ (debian/copyright, ``Files: *``).
  Never used in training: the noise of the recipes' noisy test sets.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from legokit.corpora.debian import fetch_deb, parse_deb822
from legokit.corpora.espeak import save_wav
from legokit.errors import LegokitError
from legokit.fileio import write_atomic

OPENSFX_CATALOGUE = "usr/share/games/openttd/baseset/opensfx/opensfx.cat"
ETR_DIR = "usr/share/games/etr"

Recording = tuple[str, bytes, str]  # (output file stem, audio file bytes, licence line)


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


def copyright_licence(path: Path, files: str = "*") -> str:
    """The ``License`` short name of the paragraph of a machine-readable debian/copyright whose ``Files``
    field is `files` (e.g. 'GPL-2+' for ``Files: *``)."""
    if not path.is_file():
        raise LegokitError(f"{path}: the package has no copyright file; cannot state the licence of its sounds")
    for para in parse_deb822(path.read_text(encoding="utf-8")):
        if para.get("Files", "").split() == files.split() and "License" in para:
            return para["License"].split("\n")[0].strip()
    raise LegokitError(f"{path}: no paragraph with 'Files: {files}' and a License field (expected a "
                       "machine-readable debian/copyright)")


def _opensfx(tree: Path) -> Iterator[Recording]:
    for i, (name, wav) in enumerate(read_catalogue(tree / OPENSFX_CATALOGUE)):
        if wav:
            yield f"{i:02d}", wav, " ".join(name.split())


def _etr(tree: Path) -> Iterator[Recording]:
    licence = copyright_licence(tree / "usr/share/doc/extremetuxracer-data/copyright")
    for kind, pattern in (("sound effect", "sounds/*.wav"), ("music", "music/*.ogg")):
        for path in sorted((tree / ETR_DIR).glob(pattern)):
            yield path.stem, path.read_bytes(), f"Extreme Tux Racer {kind} {path.name}. License: {licence} " \
                                                "(debian/copyright, Files: *)."


@dataclass(frozen=True)
class NoisePackage:
    """A Debian package of recordings: output file prefix and the function listing its recordings."""

    prefix: str
    recordings: Callable[[Path], Iterator[Recording]]
    about: str  # one line for --help


PACKAGES: dict[str, NoisePackage] = {
    "openttd-opensfx": NoisePackage("opensfx", _opensfx, "OpenSFX recordings, CC-BY/CC-BY-SA/CC0 (training noise)"),
    "extremetuxracer-data": NoisePackage("etr", _etr, "Extreme Tux Racer sound effects and music, GPL-2+ "
                                                      "(test noise)"),
}


def prepare_noise(out_dir: Path | str, download_dir: Path | str, sample_rate: int = 16000,
                  min_seconds: float = 0.5, package: str = "openttd-opensfx") -> dict:
    """Write `package`'s recordings of at least `min_seconds` as wavs into `out_dir`; return counts."""
    if package not in PACKAGES:
        raise LegokitError(f"unknown noise package '{package}'; expected one of {', '.join(PACKAGES)}")
    spec = PACKAGES[package]
    tree = fetch_deb(package, download_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    licences: dict[str, str] = {}
    seconds = 0.0
    for stem, data, licence in spec.recordings(tree):
        audio, rate = sf.read(io.BytesIO(data), dtype="float32")
        if len(audio) < min_seconds * rate:
            continue
        path = out / f"{spec.prefix}-{stem}.wav"
        if path.name in licences:
            raise LegokitError(f"{package}: two recordings would both be written as {path.name}")
        seconds += save_wav(audio, rate, path, sample_rate, f"{package} recording {stem}")
        licences[path.name] = licence
    write_atomic("".join(f"{k}\t{v}\n" for k, v in licences.items()), out / "LICENSES.tsv")
    return {"files": len(licences), "minutes": round(seconds / 60, 2), "package": package}
