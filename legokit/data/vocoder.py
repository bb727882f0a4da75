"""Source-filter resynthesis of speech: the waveform re-made by a pulse/noise vocoder, with its pitch and its
vocal tract length changed at will. A training augmentation for synthetic speech: the statistical parametric
synthesizers (HTS, Festival's `*_hts` voices) speak through such a vocoder, and a model that heard only
concatenative (diphone) and formant synthesizers reads them badly (docs/results.md, English ASR).

The analysis is ours, written by hand because it is a few lines of numpy and torch where a vocoder library
(WORLD's pyworld, SPTK's pysptk) would add a compiled dependency for one augmentation:

- **pitch**: normalised autocorrelation of 40 ms frames every 5 ms, lags of 60-400 Hz; a frame is voiced when
  its peak correlation is at least ``VOICING`` and its level within 40 dB of the loudest frame; a 5-frame
  median removes octave jumps;
- **spectral envelope**: the log-magnitude STFT (25 ms Hann window, 5 ms hop) liftered to its first
  ``LIFTER_MS`` of quefrency (below the shortest pitch period, so the harmonics are smoothed away);
- **excitation**: a pulse train at the (scaled) pitch where voiced, white noise where not, both at unit power;
- **synthesis**: the excitation's STFT times the envelope, read at frequency f / `warp` (warp > 1 moves the
  formants up, as a shorter vocal tract does), optionally averaged over `smooth` frames in time (the
  over-smoothed trajectories of HMM synthesis), overlap-added and scaled to the input's RMS.

Shapes: a waveform is (N,) float32 at `sample_rate`; frames are (T, ...) at a 5 ms hop.
"""

from __future__ import annotations

import numpy as np
import torch

HOP_S = 0.005           # analysis and synthesis hop
WIN_S = 0.025           # envelope window
PITCH_WIN_S = 0.040     # pitch analysis window (two periods of 50 Hz)
F0_RANGE = (60.0, 400.0)
VOICING = 0.5           # peak normalised autocorrelation of a voiced frame
SILENCE_DB = 40.0       # frames more than this below the loudest frame are unvoiced
LIFTER_MS = 1.8         # envelope quefrency cut-off (the period of 555 Hz)


def _frames(wave: np.ndarray, win: int, hop: int) -> np.ndarray:
    """(T, win) frames centred every `hop` samples (edges zero-padded), T = len // hop + 1."""
    padded = np.pad(wave, (win // 2, win // 2))
    num = len(wave) // hop + 1
    idx = np.arange(win)[None, :] + hop * np.arange(num)[:, None]
    return padded[idx]


def estimate_f0(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Pitch in Hz per 5 ms frame, 0 where unvoiced: (T,) with T = len(wave) // hop + 1."""
    hop, win = int(HOP_S * sample_rate), int(PITCH_WIN_S * sample_rate)
    frames = _frames(wave.astype(np.float64), win, hop)
    frames = frames - frames.mean(axis=1, keepdims=True)
    nfft = 1 << (2 * win - 1).bit_length()
    acf = np.fft.irfft(np.abs(np.fft.rfft(frames, nfft)) ** 2, nfft)[:, :win]
    acf /= (win - np.arange(win)) / win                   # unbias: lag k sums win - k products
    energy = acf[:, 0]
    lo, hi = int(sample_rate / F0_RANGE[1]), min(int(sample_rate / F0_RANGE[0]), win - 1)
    nccf = acf[:, lo:hi + 1] / np.maximum(energy[:, None], 1e-12)
    best = nccf.max(axis=1, keepdims=True)
    # the shortest lag whose local peak is within 10% of the best: an unbiased ACF is as high at two periods
    # as at one, so the plain argmax halves the pitch
    is_peak = np.zeros_like(nccf, dtype=bool)
    is_peak[:, 1:-1] = (nccf[:, 1:-1] >= nccf[:, :-2]) & (nccf[:, 1:-1] >= nccf[:, 2:])
    candidates = is_peak & (nccf >= 0.9 * best)
    first = np.where(candidates.any(axis=1), np.argmax(candidates, axis=1), np.argmax(nccf, axis=1))
    lag = lo + first
    peak = nccf[np.arange(len(lag)), first]
    level_db = 10 * np.log10(np.maximum(energy, 1e-12))
    voiced = (peak >= VOICING) & (level_db > level_db.max() - SILENCE_DB)
    f0 = np.where(voiced, sample_rate / lag, 0.0)
    padded = np.pad(f0, 2, mode="edge")
    med = np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)
    return np.where(voiced & (med > 0), med, 0.0)


def _excitation(f0: np.ndarray, num_samples: int, sample_rate: int, gen: torch.Generator) -> np.ndarray:
    """Unit-power pulses at f0 (per frame, linearly interpolated per sample) where f0 > 0, else white noise."""
    hop = int(HOP_S * sample_rate)
    t = np.arange(num_samples) / hop
    f0_s = np.interp(t, np.arange(len(f0)), f0)
    voiced_s = np.interp(t, np.arange(len(f0)), (f0 > 0).astype(np.float64)) >= 0.5
    f0_s = np.where(voiced_s, np.maximum(f0_s, 1.0), 0.0)
    phase = np.cumsum(f0_s / sample_rate)
    pulses = np.zeros(num_samples)
    at = np.flatnonzero(voiced_s[1:] & (np.floor(phase[1:]) > np.floor(phase[:-1]))) + 1
    pulses[at] = np.sqrt(sample_rate / f0_s[at])          # unit power: one pulse of height sqrt(period)
    noise = torch.randn(num_samples, generator=gen, dtype=torch.float64).numpy()
    return np.where(voiced_s, pulses, noise)


def vocode(wave: np.ndarray, sample_rate: int, gen: torch.Generator, f0_scale: float = 1.0, warp: float = 1.0,
           smooth: int = 1) -> np.ndarray:
    """`wave` (N,) resynthesised by the pulse/noise vocoder: pitch times `f0_scale`, formants times `warp`,
    envelope averaged over `smooth` frames; same length and RMS. Noise draws come from `gen`."""
    if len(wave) < int(WIN_S * sample_rate) or not np.any(wave):
        return wave.astype(np.float32)
    hop, win = int(HOP_S * sample_rate), int(WIN_S * sample_rate)
    nfft = 1 << (win - 1).bit_length()
    window = torch.hann_window(win, dtype=torch.float64)

    def stft(x: np.ndarray) -> torch.Tensor:  # (F, T) complex, T = N // hop + 1
        return torch.stft(torch.from_numpy(x), nfft, hop, win, window, center=True, return_complex=True)

    spec = stft(wave.astype(np.float64))
    log_mag = torch.log(spec.abs().clamp_min(1e-8)).T    # (T, F)
    cep = torch.fft.irfft(log_mag, nfft, dim=1)
    keep = max(1, int(LIFTER_MS / 1000 * sample_rate))
    quefrency = torch.arange(nfft)
    lifter = ((quefrency < keep) | (quefrency > nfft - keep)).double()  # both halves of the real cepstrum
    env = torch.fft.rfft(cep * lifter, nfft, dim=1).real  # (T, F) smooth log envelope
    if smooth > 1:
        kernel = torch.ones(1, 1, smooth, dtype=torch.float64) / smooth
        padded = torch.nn.functional.pad(env.T[:, None, :], (smooth // 2, (smooth - 1) // 2), mode="replicate")
        env = torch.nn.functional.conv1d(padded, kernel)[:, 0, :].T
    if warp != 1.0:
        bins = torch.arange(env.shape[1], dtype=torch.float64)
        src = (bins / warp).clamp(max=env.shape[1] - 1)
        low = src.floor().long()
        high = (low + 1).clamp(max=env.shape[1] - 1)
        frac = src - low
        env = env[:, low] * (1 - frac) + env[:, high] * frac
    f0 = estimate_f0(wave, sample_rate) * f0_scale
    f0 = np.minimum(f0, sample_rate / 4)
    exc = stft(_excitation(f0[:spec.shape[1]], len(wave), sample_rate, gen))
    out = torch.istft(exc * torch.exp(env).T, nfft, hop, win, window, center=True, length=len(wave)).numpy()
    rms_in, rms_out = np.sqrt(np.mean(wave.astype(np.float64) ** 2)), np.sqrt(np.mean(out ** 2))
    return (out * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)
