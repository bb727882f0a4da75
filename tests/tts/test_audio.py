"""TTS mel analysis against librosa, and the Griffin-Lim vocoder."""

import numpy as np
import pytest

from legokit.tts.audio import MelConfig, griffin_lim, hz_to_mel, log_mel, mel_filters, mel_to_hz, trim_silence

librosa = pytest.importorskip("librosa")


def tone(seconds: float = 0.5, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1800 * t)).astype(np.float32)


def test_mel_scale_inverse_and_knee():
    hz = np.array([0.0, 500.0, 1000.0, 4000.0])
    assert np.allclose(mel_to_hz(hz_to_mel(hz)), hz)
    assert hz_to_mel(np.array([1000.0]))[0] == pytest.approx(15.0)


@pytest.mark.slow
def test_matches_librosa():  # slow only because of librosa's first-call JIT
    cfg = MelConfig()
    ref_filters = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.num_mels, fmin=cfg.fmin,
                                      fmax=cfg.fmax)
    assert np.allclose(mel_filters(cfg).numpy(), ref_filters, atol=1e-6)
    wave = tone()
    ref = librosa.feature.melspectrogram(y=wave, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                         n_mels=cfg.num_mels, fmax=cfg.fmax, power=1.0)
    audible = ref.T > 1e-3  # near the 1e-5 floor float32 rounding differs
    assert np.abs(np.log(ref.T) - log_mel(wave, cfg))[audible].max() < 1e-3


def test_griffin_lim_resynthesis_keeps_the_spectrum():
    cfg = MelConfig(power=1.0, griffin_lim_iters=16)
    wave = tone()
    mel = log_mel(wave, cfg)
    out = griffin_lim(mel, cfg)
    assert out.dtype == np.float32 and abs(len(out) - len(wave)) < cfg.hop_length
    assert np.abs(out).max() == pytest.approx(0.9, abs=1e-4)
    again = log_mel(out, cfg)
    loud = mel > mel.max() - 4  # the bins that carry the tones
    assert np.abs(again[loud] - (mel[loud] + np.log(0.9 / np.abs(wave).max()))).mean() < 0.5


@pytest.mark.slow  # librosa's first-call JIT
def test_trim_silence_cuts_the_ends_like_librosa_and_keeps_a_margin():
    rng = np.random.default_rng(0)
    quiet = lambda n: (1e-4 * rng.standard_normal(n)).astype(np.float32)  # noqa: E731  (-70 dB)
    wave = np.concatenate([quiet(8000), tone(1.0), quiet(6400)])  # 0.5 s, 1 s of tones, 0.4 s
    trimmed = trim_silence(wave, 40, margin=800)
    assert abs(len(trimmed) - (16000 + 2 * 800)) <= 2 * 512  # the tones and 50 ms each side, ± a frame
    _, (start, end) = librosa.effects.trim(wave, top_db=40, frame_length=512, hop_length=128)
    assert abs(len(trimmed) - 1600 - (end - start)) <= 512
    assert np.array_equal(trim_silence(np.zeros(4000, np.float32), 40), np.zeros(4000, np.float32))
    assert len(trim_silence(tone(1.0), 40)) == 16000  # nothing to cut
