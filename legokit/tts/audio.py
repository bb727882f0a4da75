"""Mel spectrograms for TTS and the Griffin-Lim vocoder, in torch (no model download).

The TTS mel is librosa's default: Slaney-scale, Slaney-normalised mel filters over the magnitude of a
centred Hann STFT, log-compressed; tests check it against ``librosa.feature.melspectrogram``. It is
computed in torch rather than by librosa itself because librosa's first call in a process costs
30-40 s of JIT compilation on a loaded 2-core machine (measured), paid by every recipe command and test.
The ASR side keeps its Kaldi fbank (legokit.data.features).

Vocoder: the mel is mapped back to a linear magnitude with the filter matrix's pseudo-inverse (clipped
at 0; librosa uses NNLS), then Griffin-Lim with momentum 0.99 ("fast Griffin-Lim", librosa's default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

_FLOOR = 1e-5


@dataclass
class MelConfig:
    """TTS mel analysis (shared by the acoustic model's targets and the vocoder)."""

    sample_rate: int = 16000  # waveform rate (Hz)
    n_fft: int = 1024  # FFT size = window length
    hop_length: int = 256  # frame hop in samples (16 ms at 16 kHz)
    num_mels: int = 80  # mel bins
    fmin: float = 0.0  # lowest mel frequency (Hz)
    fmax: float = 8000.0  # highest mel frequency (Hz)
    griffin_lim_iters: int = 32  # Griffin-Lim iterations at synthesis
    power: float = 1.3  # sharpen the magnitudes by this exponent before Griffin-Lim (1 = off)


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (15 mel at 1 kHz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step, hz * 3.0 / 200.0)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * 200.0 / 3.0)


def mel_filters(cfg: MelConfig) -> torch.Tensor:
    """Slaney-normalised triangular filters (num_mels, n_fft // 2 + 1), as librosa.filters.mel."""
    fft_freqs = np.linspace(0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax), cfg.num_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return torch.from_numpy(weights).float()


def _stft(wave: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    return torch.stft(wave, cfg.n_fft, cfg.hop_length, window=torch.hann_window(cfg.n_fft, device=wave.device),
                      center=True, pad_mode="constant", return_complex=True)


def log_mel(wave: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """Waveform (N,) at cfg.sample_rate -> log mel (T, num_mels) float32, T = 1 + N // hop_length."""
    magnitude = _stft(torch.from_numpy(np.asarray(wave, dtype=np.float32)), cfg).abs()  # (F, T)
    mel = mel_filters(cfg) @ magnitude
    return torch.log(mel.clamp_min(_FLOOR)).T.contiguous().numpy()


def trim_silence(wave: np.ndarray, top_db: float, frame: int = 512, hop: int = 128,
                 margin: int = 800) -> np.ndarray:
    """Cut the leading and trailing parts of `wave` (N,) whose frame RMS is more than `top_db` below the loudest
    frame's (librosa.effects.trim's rule, in numpy: librosa's first call costs ~30 s of JIT), keeping `margin`
    samples (50 ms at 16 kHz) on each side. Silent input is returned unchanged."""
    if len(wave) < frame:
        return wave
    frames = np.lib.stride_tricks.sliding_window_view(wave, frame)[::hop]
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    if rms.max() <= 0:
        return wave
    loud = np.flatnonzero(20 * np.log10(np.maximum(rms, 1e-10) / rms.max()) > -top_db)
    start, end = loud[0] * hop, loud[-1] * hop + frame
    return wave[max(0, start - margin): min(len(wave), end + margin)]


def griffin_lim(logmel: np.ndarray, cfg: MelConfig, momentum: float = 0.99, seed: int = 0) -> np.ndarray:
    """Log mel (T, num_mels) -> waveform (N,) float32 peak-normalised to 0.9."""
    mel = torch.from_numpy(np.exp(logmel.astype(np.float64)).T).float() ** cfg.power  # (M, T)
    magnitude = (torch.linalg.pinv(mel_filters(cfg)) @ mel).clamp_min(0.0)  # (F, T)
    length = (magnitude.shape[1] - 1) * cfg.hop_length
    window = torch.hann_window(cfg.n_fft)
    generator = torch.Generator().manual_seed(seed)
    angles = torch.exp(2j * math.pi * torch.rand(magnitude.shape, generator=generator))
    previous = torch.zeros_like(angles)
    for _ in range(cfg.griffin_lim_iters):
        wave = torch.istft(magnitude * angles, cfg.n_fft, cfg.hop_length, window=window, length=length)
        rebuilt = _stft(wave, cfg)
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles = angles / (angles.abs() + 1e-16)
        previous = rebuilt
    wave = torch.istft(magnitude * angles, cfg.n_fft, cfg.hop_length, window=window, length=length).numpy()
    peak = float(np.abs(wave).max()) if wave.size else 0.0
    return (wave / peak * 0.9 if peak > 0 else wave).astype(np.float32)
