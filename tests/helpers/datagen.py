"""Synthetic speech data dirs for the data tests (audio generated with numpy + soundfile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

MT_DIR = Path(__file__).parent.parent / "fixtures" / "data" / "mt"
TRANSCRIPTS = ["hello world", "the cat sat on the mat", "good morning", "a quick brown fox", "see you"]


def tone(seconds: float, freq: float = 440.0, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A sine plus a little noise, float32 in [-1, 1]."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * noise).astype(np.float32)


def write_speech_dir(root: Path, num: int = 5, sample_rate: int = 16000) -> Path:
    """A valid speech data dir with ``num`` utterances of 0.3-0.7 s under ``root``; returns its path."""
    data = root / "data"
    wavs = root / "wav"
    data.mkdir(parents=True)
    wavs.mkdir()
    scp, text, spk = [], [], []
    for i in range(num):
        utt = f"spk{i % 2}-utt{i:02d}"
        path = wavs / f"{utt}.wav"
        sf.write(path, tone(0.3 + 0.1 * (i % 5), 200.0 + 100 * i, sample_rate, i), sample_rate)
        scp.append(f"{utt} {path}")
        text.append(f"{utt} {TRANSCRIPTS[i % len(TRANSCRIPTS)]}")
        spk.append(f"{utt} spk{i % 2}")
    for name, lines in [("wav.scp", scp), ("text", text), ("utt2spk", spk)]:
        (data / name).write_text("\n".join(lines) + "\n")
    return data

