"""Audio loading: any format libsndfile reads (wav/flac/ogg), mono float32, resampled, checked."""

from __future__ import annotations

import os
import struct

import numpy as np
import soundfile as sf
import soxr

from legokit.errors import LegokitError

#: sample rates (Hz) a recording can plausibly have: telephone 8 kHz ... 384 kHz studio audio, with room below
SAMPLE_RATES = (1000, 384000)


def _wav_declared_data_bytes(path: str) -> tuple[int, int] | None:
    """(declared size, available bytes) of a RIFF/WAVE file's 'data' chunk; None if not a WAV."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                return csize, size - f.tell()
            f.seek(csize + (csize & 1), os.SEEK_CUR)


def _check_not_truncated(path: str) -> None:
    declared = _wav_declared_data_bytes(path)
    # 0xFFFFFFFF / 0 mark streamed WAVs whose size was never filled in: nothing to compare against.
    if declared and 0 < declared[0] < 0xFFFFFFFF and declared[1] < declared[0]:
        raise LegokitError(f"{path}: truncated WAV file: header declares {declared[0]} data bytes, "
                           f"only {declared[1]} present; re-create or re-download the file")


def load_audio(path: str, sample_rate: int = 16000, start: float | None = None,
               end: float | None = None) -> np.ndarray:
    """Read ``path`` (optionally the segment [start, end) in seconds) as mono float32 in [-1, 1],
    resampled to ``sample_rate`` Hz. Returns shape (N,). Raises LegokitError naming the file for a
    missing, empty, truncated, corrupt, non-audio or NaN-containing file, or one whose header gives an
    implausible sample rate (outside :data:`SAMPLE_RATES`: 16 samples at 1 Hz would become 16 s of audio)."""
    if not os.path.isfile(path):
        raise LegokitError(f"{path}: audio file not found")
    _check_not_truncated(path)
    try:
        info = sf.info(path)
        if info.frames == 0:
            raise LegokitError(f"{path}: audio is empty (zero samples)")
        if not SAMPLE_RATES[0] <= info.samplerate <= SAMPLE_RATES[1]:
            raise LegokitError(f"{path}: implausible sample rate {info.samplerate} Hz in the header (expected "
                               f"{SAMPLE_RATES[0]} to {SAMPLE_RATES[1]} Hz); the header is damaged: re-create the file")
        first = 0 if start is None else int(round(start * info.samplerate))
        last = info.frames if end is None else int(round(end * info.samplerate))
        if first >= info.frames or last > info.frames + info.samplerate // 100:
            raise LegokitError(f"{path}: segment [{start}, {end}] s lies outside the recording "
                               f"({info.frames / info.samplerate:.2f} s); check the segments file")
        audio, sr = sf.read(path, start=first, stop=min(last, info.frames), dtype="float32", always_2d=True)
    except sf.LibsndfileError as err:
        raise LegokitError(f"{path}: not a readable audio file (corrupt or unsupported format): "
                           f"{err.error_string}") from err
    if not np.isfinite(audio).all():
        raise LegokitError(f"{path}: audio contains NaN or infinite samples")
    mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if sr != sample_rate:
        mono = soxr.resample(mono, sr, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)
