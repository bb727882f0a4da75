"""The pulse/noise vocoder (legokit/data/vocoder.py) and its use as augmentation: the pitch tracker finds a
vowel's pitch and leaves noise unvoiced, resynthesis keeps length and RMS, moves the pitch by `f0_scale` and the
first formant by `warp`, draws only from its generator; `legokit data augment --vocode-prob` writes a copy with
prefixed ids that `legokit data combine` joins with its source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

from legokit.cli import main
from legokit.data.augment import AugmentConfig, WaveAugment
from legokit.data.datadir import read_kaldi_map
from legokit.data.vocoder import estimate_f0, vocode
from legokit.errors import LegokitError

RATE = 16000
QUIET = ["--log-level", "WARNING"]


def _vowel(f0: float, formants: tuple[float, ...] = (700.0, 1200.0, 2600.0), seconds: float = 1.0) -> np.ndarray:
    """A pulse train at `f0` through second-order resonators at `formants` (bandwidth 80 Hz)."""
    x = np.zeros(int(RATE * seconds))
    x[::int(round(RATE / f0))] = 1.0
    for f in formants:
        r, theta = np.exp(-np.pi * 80 / RATE), 2 * np.pi * f / RATE
        x = lfilter([1.0], [1.0, -2 * r * np.cos(theta), r * r], x)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def _median_f0(wave: np.ndarray) -> float:
    f0 = estimate_f0(wave, RATE)
    return float(np.median(f0[f0 > 0]))


def _first_formant(wave: np.ndarray) -> float:
    """The lowest resonance above 300 Hz (bandwidth < 500 Hz) of an order-12 LPC fit to the whole waveform."""
    x = np.append(wave[0], wave[1:] - 0.9 * wave[:-1]) * np.hanning(len(wave))  # pre-emphasis, window
    r = np.correlate(x, x, mode="full")[len(x) - 1:len(x) + 12]
    a = np.concatenate([[1.0], -solve_toeplitz(r[:12], r[1:13])])
    roots = np.roots(a)
    roots = roots[np.imag(roots) > 0]
    freqs = np.angle(roots) * RATE / (2 * np.pi)
    bandwidths = -np.log(np.abs(roots)) * RATE / np.pi
    return float(np.min(freqs[(freqs > 300) & (bandwidths < 500)]))


@pytest.mark.parametrize("f0", [100.0, 160.0, 230.0])
def test_the_pitch_tracker_finds_a_vowels_pitch_and_leaves_noise_unvoiced(f0: float) -> None:
    assert _median_f0(_vowel(f0)) == pytest.approx(f0, rel=0.03)
    assert (estimate_f0(_vowel(f0), RATE) > 0).mean() > 0.9
    noise = np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    assert (estimate_f0(noise, RATE) > 0).mean() < 0.1


def test_resynthesis_keeps_length_rms_pitch_and_formant() -> None:
    x = _vowel(120.0)
    y = vocode(x, RATE, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)), rel=1e-4)
    assert _median_f0(y) == pytest.approx(120.0, rel=0.03)
    assert _first_formant(y) == pytest.approx(_first_formant(x), rel=0.08)
    assert np.corrcoef(x, y)[0, 1] < 0.99  # re-made, not copied


@pytest.mark.parametrize("scale", [0.8, 1.5])
def test_f0_scale_moves_the_pitch_and_keeps_the_formant(scale: float) -> None:
    x = _vowel(120.0)
    y = vocode(x, RATE, torch.Generator().manual_seed(0), f0_scale=scale)
    assert _median_f0(y) == pytest.approx(120.0 * scale, rel=0.04)
    assert _first_formant(y) == pytest.approx(_first_formant(x), rel=0.12)


def test_warp_moves_the_formants_and_keeps_the_pitch() -> None:
    x = _vowel(110.0)
    y = vocode(x, RATE, torch.Generator().manual_seed(0), warp=1.25)
    assert _first_formant(y) / _first_formant(x) == pytest.approx(1.25, abs=0.1)
    assert _median_f0(y) == pytest.approx(110.0, rel=0.03)


def test_smoothing_and_the_generator() -> None:
    x = np.concatenate([_vowel(120.0, seconds=0.5), 0.05 * np.random.default_rng(1).standard_normal(RATE // 2)])
    x = x.astype(np.float32)
    a = vocode(x, RATE, torch.Generator().manual_seed(3), smooth=5)
    b = vocode(x, RATE, torch.Generator().manual_seed(3), smooth=5)
    c = vocode(x, RATE, torch.Generator().manual_seed(4), smooth=5)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.isfinite(a).all()
    silence = np.zeros(RATE // 2, dtype=np.float32)
    assert np.array_equal(vocode(silence, RATE, torch.Generator()), silence)


def test_wave_augment_vocodes_at_its_probability_and_refuses_bad_ranges() -> None:
    x = _vowel(120.0)
    off = WaveAugment(AugmentConfig(speed_perturb=[1.1]))
    on = WaveAugment(AugmentConfig(speed_perturb=[1.1], vocode_prob=1.0, vocode_f0_scale=[1.5, 1.5]))
    assert AugmentConfig(vocode_prob=0.5).enabled and not AugmentConfig().enabled
    plain = off(x, torch.Generator().manual_seed(0))
    assert np.array_equal(plain, off(x, torch.Generator().manual_seed(0)))
    vocoded = on(x, torch.Generator().manual_seed(0))
    assert len(vocoded) == len(plain)
    assert _median_f0(vocoded) == pytest.approx(120.0 * 1.5 * 1.1, rel=0.05)
    for key, value in (("vocode_f0_scale", [1.2, 1.0]), ("vocode_warp", [0.0, 1.0]), ("vocode_smooth", [0, 3])):
        with pytest.raises(LegokitError, match=f"data.augment.{key}"):
            WaveAugment(AugmentConfig(**{key: value}))


def test_augment_command_writes_a_prefixed_vocoded_copy_that_combines_with_its_source(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "audio").mkdir(parents=True)
    utts = {"a-1": ("one", 110.0), "a-2": ("two", 140.0), "b-1": ("three", 200.0)}
    for utt, (_, f0) in utts.items():
        sf.write(src / "audio" / f"{utt}.wav", _vowel(f0, seconds=0.6), RATE, subtype="PCM_16")
    (src / "wav.scp").write_text("".join(f"{u} {src / 'audio' / f'{u}.wav'}\n" for u in utts))
    (src / "text").write_text("".join(f"{u} {t}\n" for u, (t, _) in utts.items()))
    (src / "utt2spk").write_text("".join(f"{u} {u[0]}\n" for u in utts))
    (src / "spk2utt").write_text("a a-1 a-2\nb b-1\n")
    before = {p.name: p.read_bytes() for p in sorted((src / "audio").iterdir())}
    out = tmp_path / "voc"
    assert main([*QUIET, "data", "augment", str(src), str(out), "--vocode-prob", "1", "--vocode-f0-scale", "1.5", "1.5",
                 "--utt-prefix", "voc-", "--spk-prefix", "voc-", "--seed", "5"]) == 0
    assert read_kaldi_map(out / "text") == {f"voc-{u}": t for u, (t, _) in utts.items()}
    assert read_kaldi_map(out / "utt2spk") == {f"voc-{u}": f"voc-{u[0]}" for u in utts}
    assert read_kaldi_map(out / "spk2utt") == {"voc-a": "voc-a-1 voc-a-2", "voc-b": "voc-b-1"}
    for utt, (_, f0) in utts.items():
        wave = sf.read(read_kaldi_map(out / "wav.scp")[f"voc-{utt}"], dtype="float32")[0]
        assert _median_f0(wave) == pytest.approx(1.5 * f0, rel=0.05)
    assert before == {p.name: p.read_bytes() for p in sorted((src / "audio").iterdir())}
    assert main([*QUIET, "data", "combine", str(tmp_path / "both"), str(src), str(out)]) == 0
    assert len(read_kaldi_map(tmp_path / "both" / "text")) == 6
    assert main([*QUIET, "data", "augment", str(src), str(tmp_path / "x"), "--vocode-prob", "1",
                 "--utt-prefix", "a b"]) == 2
    assert main([*QUIET, "data", "augment", str(src), str(tmp_path / "y"), "--vocode-prob", "1",
                 "--vocode-warp", "1.2", "1.0"]) == 2
