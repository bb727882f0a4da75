"""Kaldi-style data directories: readers returning typed records, and validators.

Speech dir::

    wav.scp    <rec_id> <path>            (a path to a wav/flac/ogg file; piped commands "cmd |" are
                                           NOT supported: convert the audio to files first)
    text       <utt_id> <transcript>
    utt2spk    <utt_id> <speaker_id>
    segments   <utt_id> <rec_id> <start_s> <end_s>   (optional; then wav.scp is keyed by rec_id)

MT dir: one Kaldi text file ``text.<lang>`` per language (``<id> <sentence>``), the same ids in each.

Every reader checks its input and raises :class:`LegokitError` at the FIRST bad line, naming the file
and line number. Files need not be sorted. Relative audio paths are resolved against the current
directory, as in Kaldi and ESPnet.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from legokit.errors import LegokitError
from legokit.fileio import split_lines


@dataclass(frozen=True)
class Utterance:
    """One speech utterance: audio (or a segment of it), transcript and speaker."""

    utt_id: str
    path: str
    text: str
    speaker: str
    start: float | None = None  # seconds into the recording (segments), None = whole file
    end: float | None = None


@dataclass(frozen=True)
class TextExample:
    """One aligned multilingual example of an MT dir: ``sentences[lang]``."""

    utt_id: str
    sentences: dict[str, str]


def _lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, line) of a UTF-8 file split at line ends only (:func:`split_lines`: a leading
    byte order mark is dropped); errors name the file."""
    if not path.is_file():
        raise LegokitError(f"{path}: file not found (a Kaldi data dir needs it; see docs/data.md)")
    try:
        text = path.read_bytes().decode("utf-8")  # not read_text: it would end lines at a stray \r
    except UnicodeDecodeError as err:
        raise LegokitError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from err
    return list(enumerate(split_lines(text), start=1))


def read_kaldi_map(path: str | Path, allow_empty_value: bool = False) -> dict[str, str]:
    """Read ``<id> <value...>`` lines into an ordered dict; reject malformed lines and duplicate ids."""
    path = Path(path)
    out: dict[str, str] = {}
    for lineno, line in _lines(path):
        parts = line.strip().split(maxsplit=1)
        if not parts:
            raise LegokitError(f"{path}:{lineno}: empty line; expected '<id> <value>'")
        key = parts[0]
        value = parts[1].strip() if len(parts) > 1 else ""
        if not value and not allow_empty_value:
            what = "empty transcript" if path.name.startswith("text") else "missing value"
            raise LegokitError(f"{path}:{lineno}: {what} for id '{key}'; expected '<id> <value>'")
        if key in out:
            raise LegokitError(f"{path}:{lineno}: duplicate id '{key}'")
        out[key] = value
    return out


def _read_wav_scp(path: Path) -> dict[str, str]:
    wavs = read_kaldi_map(path)
    for lineno, (key, value) in enumerate(wavs.items(), start=1):
        if value.endswith("|"):
            raise LegokitError(f"{path}:{lineno}: piped command for '{key}' is not supported; write the "
                               "audio to wav/flac files and list their paths")
        if not os.path.isfile(value):
            raise LegokitError(f"{path}:{lineno}: audio file '{value}' of '{key}' not found")
    return wavs


def _read_segments(path: Path, recordings: dict[str, str]) -> dict[str, tuple[str, float, float]]:
    segments: dict[str, tuple[str, float, float]] = {}
    for lineno, (key, value) in enumerate(read_kaldi_map(path).items(), start=1):
        fields = value.split()
        try:
            rec, start, end = fields[0], float(fields[1]), float(fields[2])
        except (IndexError, ValueError):
            raise LegokitError(f"{path}:{lineno}: malformed line; expected '<utt_id> <rec_id> <start> <end>'"
                               " with times in seconds") from None
        if len(fields) != 3 or not 0 <= start < end < math.inf:
            raise LegokitError(f"{path}:{lineno}: expected 4 fields with 0 <= start < end (finite), "
                               f"got '{key} {value}'")
        if rec not in recordings:
            raise LegokitError(f"{path}:{lineno}: recording '{rec}' is not in {path.parent / 'wav.scp'}")
        segments[key] = (rec, start, end)
    return segments


def _check_ids(path: Path, ids: dict[str, str], reference: dict, reference_path: Path) -> None:
    for lineno, key in enumerate(ids, start=1):
        if key not in reference:
            raise LegokitError(f"{path}:{lineno}: id '{key}' is not in {reference_path}")


def read_speech_dir(path: str | Path) -> list[Utterance]:
    """Read and validate a speech data dir; one :class:`Utterance` per line of ``text``, in its order."""
    root = Path(path)
    if not root.is_dir():
        raise LegokitError(f"{root}: data directory not found")
    wavs = _read_wav_scp(root / "wav.scp")
    texts = read_kaldi_map(root / "text")
    spk = read_kaldi_map(root / "utt2spk")
    has_segments = (root / "segments").is_file()
    sources: dict = _read_segments(root / "segments", wavs) if has_segments else wavs
    source_path = root / ("segments" if has_segments else "wav.scp")
    _check_ids(root / "text", texts, sources, source_path)
    _check_ids(root / "text", texts, spk, root / "utt2spk")
    utts = []
    for utt, text in texts.items():
        if has_segments:
            rec, start, end = sources[utt]
            utts.append(Utterance(utt, wavs[rec], text, spk[utt], start, end))
        else:
            utts.append(Utterance(utt, wavs[utt], text, spk[utt]))
    return utts


def validate_speech_dir(path: str | Path) -> int:
    """Check a speech data dir (raises :class:`LegokitError` at the first bad line); returns #utterances."""
    return len(read_speech_dir(path))


def read_text_dir(path: str | Path, langs: list[str]) -> list[TextExample]:
    """Read and validate an MT dir with files ``text.<lang>`` for each of ``langs``, ids aligned."""
    root = Path(path)
    if not root.is_dir():
        raise LegokitError(f"{root}: data directory not found")
    if not langs:
        raise LegokitError(f"{root}: give the languages of the text.<lang> files (e.g. --langs de en)")
    texts = {lang: read_kaldi_map(root / f"text.{lang}") for lang in langs}
    first, first_ids = langs[0], texts[langs[0]]
    for lang in langs[1:]:
        _check_ids(root / f"text.{lang}", texts[lang], first_ids, root / f"text.{first}")
        _check_ids(root / f"text.{first}", first_ids, texts[lang], root / f"text.{lang}")
    return [TextExample(utt, {lang: texts[lang][utt] for lang in langs}) for utt in first_ids]


def validate_text_dir(path: str | Path, langs: list[str]) -> int:
    """Check an MT data dir (raises :class:`LegokitError` at the first bad line); returns #examples."""
    return len(read_text_dir(path, langs))
