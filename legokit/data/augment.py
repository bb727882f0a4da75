"""On-the-fly waveform augmentation for speech training: vocoder resynthesis, speed perturbation,
reverberation, additive noise.

Switched on by ``data.augment`` in the training config (see docs/data.md); each part is off by default::

    data:
      augment:
        speed_perturb: [0.9, 1.0, 1.1]   # factor drawn per utterance; resampling changes tempo and pitch
        reverb_prob: 0.3                 # convolve with a synthetic room impulse response (RT60 in rt60)
        noise_dir: data/noise            # add a noise file (from `legokit prepare debian-noise`)
        noise_snr_db: [10, 20]           # at an SNR drawn uniformly from this range
        vocode_prob: 0.5                 # resynthesise with a pulse/noise vocoder (legokit/data/vocoder.py)
        vocode_f0_scale: [1.0, 1.9]      # its pitch times a factor drawn uniformly from this range
        vocode_warp: [1.0, 1.2]          # its formants times a factor drawn from this range
        vocode_smooth: [1, 5]            # its envelope averaged over a number of 5 ms frames drawn from this range

Training reads features from a dump; for augmented training the waveform is read from the data dir's
wav.scp instead, augmented, and turned into fbank with the dump's own config (``fbank.json``), so
augmented and dumped features are the same kind (:class:`AugmentedSpeech`). An utterance whose draw
changes nothing (speed factor 1.0, no other part drawn) keeps its dumped features, and the others are
computed by :class:`legokit.data.features.TorchFbank` (Kaldi's fbank in torch, 3x faster on CPU than
kaldi-native-fbank; both in float32, mean difference ~1e-4, up to ~0.1 only in bins near silence where
float32 rounding of the power spectrum dominates either). This is the data loader's share of a speech
update: 0.135 s of ~0.6 s with 3 speed factors on 2 cores before, see docs/results.md. Every random draw comes from
a generator seeded by (seed, epoch, utterance id) (legokit.train.seeding): the same run augments each
utterance the same way whatever the DataLoader workers or where it resumed.
"""

from __future__ import annotations

import copy
import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr
import torch

from legokit.config import ranged
from legokit.data.audio import load_audio
from legokit.data.datadir import read_speech_dir
from legokit.data.fbank_config import FbankConfig
from legokit.data.features import TorchFbank
from legokit.errors import LegokitError
from legokit.train.seeding import generator

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


@dataclass
class AugmentConfig:
    """Waveform augmentation in training; every part is off by default."""

    speed_perturb: list[float] = field(default_factory=list)  # speed factors, one drawn per utterance ([]: off)
    noise_dir: str = ""                                  # dir of noise files (*.wav/.flac/.ogg; "": no noise)
    noise_prob: float = ranged(1.0, "[0, 1]")            # fraction of utterances that get noise
    noise_snr_db: list[float] = field(default_factory=lambda: [10.0, 20.0])  # SNR range [low, high] in dB
    reverb_prob: float = ranged(0.0, "[0, 1]")           # fraction of utterances convolved with a synthetic RIR
    rt60: list[float] = field(default_factory=lambda: [0.2, 0.8])  # reverberation time range [low, high] in s
    vocode_prob: float = ranged(0.0, "[0, 1]")           # fraction of utterances resynthesised by the vocoder
    vocode_f0_scale: list[float] = field(default_factory=lambda: [1.0, 1.0])  # pitch factor range [low, high]
    vocode_warp: list[float] = field(default_factory=lambda: [1.0, 1.0])      # formant factor range [low, high]
    vocode_smooth: list[int] = field(default_factory=lambda: [1, 1])          # envelope smoothing, frames
    # keep the features of speed-perturbed utterances in memory, up to this many MB (0: off): with speed
    # perturbation alone they depend on the utterance and the factor only, so later epochs reuse them, the same
    # values as recomputed; a cache per DataLoader worker; ignored when noise, reverb or the vocoder is on
    speed_cache_mb: int = ranged(0, "[0, inf)")

    @property
    def enabled(self) -> bool:
        return bool(self.speed_perturb and self.speed_perturb != [1.0]) or bool(self.noise_dir) \
            or self.reverb_prob > 0 or self.vocode_prob > 0


def _uniform(low: float, high: float, gen: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen))


def speed_perturb(wave: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """Kaldi/ESPnet speed perturbation (sox `speed`): play `factor` times faster by resampling, so tempo and
    pitch change together and the length becomes len / factor."""
    if factor == 1.0:
        return wave
    return soxr.resample(wave, sample_rate * factor, sample_rate).astype(np.float32)


def synthetic_rir(rt60: float, sample_rate: int, gen: torch.Generator) -> np.ndarray:
    """A room impulse response: a direct-path impulse followed by Gaussian noise decaying exponentially by
    60 dB over `rt60` seconds (the statistical reverberation model), starting after a 1-10 ms delay."""
    n = max(1, int(rt60 * sample_rate))
    t = np.arange(n) / sample_rate
    tail = torch.randn(n, generator=gen).numpy() * np.exp(-3 * math.log(10) * t / rt60)
    delay = int(_uniform(0.001, 0.01, gen) * sample_rate)
    rir = np.zeros(n + delay, dtype=np.float64)
    rir[0] = 1.0
    rir[delay:] += 0.3 * tail
    return rir / np.linalg.norm(rir)


def reverberate(wave: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with `rir`, keep the input's length and RMS (as ESPnet does)."""
    from scipy.signal import fftconvolve  # here, not at the top: importing scipy.signal costs every `legokit train` 1 s

    out = fftconvolve(wave, rir)[:len(wave)]
    rms_in, rms_out = np.sqrt(np.mean(wave ** 2)), np.sqrt(np.mean(out ** 2))
    return (out * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)


def add_noise(wave: np.ndarray, noise: np.ndarray, snr_db: float, offset: int = 0) -> np.ndarray:
    """`wave` plus `noise` (looped from `offset` to the wave's length) scaled to `snr_db` dB below its power."""
    noise = np.resize(np.roll(noise, -offset), len(wave))
    p_wave, p_noise = np.mean(wave ** 2), np.mean(noise ** 2)
    if p_noise == 0 or p_wave == 0:
        return wave
    return (wave + noise * np.sqrt(p_wave / (p_noise * 10 ** (snr_db / 10)))).astype(np.float32)


class WaveAugment:
    """Vocoder resynthesis, then speed perturbation, then reverberation, then additive noise of one waveform
    (N,) float32, drawing every choice from the given torch.Generator. Returns the input array itself when
    nothing drawn changed it (which :class:`AugmentedSpeech` relies on to keep the dumped features)."""

    def __init__(self, cfg: AugmentConfig, sample_rate: int = 16000) -> None:
        if len(cfg.noise_snr_db) != 2 or cfg.noise_snr_db[0] > cfg.noise_snr_db[1]:
            raise LegokitError(f"config key 'data.augment.noise_snr_db' must be [low, high] in dB, got "
                               f"{cfg.noise_snr_db}")
        if len(cfg.rt60) != 2 or not 0 < cfg.rt60[0] <= cfg.rt60[1]:
            raise LegokitError(f"config key 'data.augment.rt60' must be [low, high] in seconds, 0 < low <= high, "
                               f"got {cfg.rt60}")
        for key, low_min in (("vocode_f0_scale", 0.0), ("vocode_warp", 0.0), ("vocode_smooth", 0)):
            value = getattr(cfg, key)
            if len(value) != 2 or not low_min < value[0] <= value[1]:
                raise LegokitError(f"config key 'data.augment.{key}' must be [low, high] with {low_min:g} < low "
                                   f"<= high, got {value}")
        if any(f <= 0 for f in cfg.speed_perturb):
            raise LegokitError(f"config key 'data.augment.speed_perturb' must hold factors > 0, got "
                               f"{cfg.speed_perturb}")
        self.cfg, self.sample_rate = cfg, sample_rate
        self.noise_files: list[Path] = []
        if cfg.noise_dir:
            self.noise_files = sorted(p for p in Path(cfg.noise_dir).rglob("*") if p.suffix in AUDIO_SUFFIXES)
            if not self.noise_files:
                raise LegokitError(f"data.augment.noise_dir {cfg.noise_dir}: holds no .wav/.flac/.ogg files; "
                                   "make one with `legokit prepare debian-noise --out <dir>`")
        self._noise: dict[int, np.ndarray] = {}

    def noise(self, i: int) -> np.ndarray:
        if i not in self._noise:
            self._noise[i] = load_audio(str(self.noise_files[i]), self.sample_rate)
        return self._noise[i]

    @property
    def speed_only(self) -> bool:
        """Whether speed perturbation is the only part on: the result is then a function of the factor drawn."""
        cfg = self.cfg
        return bool(cfg.speed_perturb) and not self.noise_files and cfg.reverb_prob == 0 and cfg.vocode_prob == 0

    def draw_speed(self, gen: torch.Generator) -> float:
        """The speed factor, drawn as :meth:`__call__` draws it (first, when speed perturbation is the only part)."""
        return self.cfg.speed_perturb[int(torch.randint(len(self.cfg.speed_perturb), (), generator=gen))]

    def __call__(self, wave: np.ndarray, gen: torch.Generator) -> np.ndarray:
        cfg = self.cfg
        if cfg.vocode_prob > 0 and float(torch.rand((), generator=gen)) < cfg.vocode_prob:
            from legokit.data.vocoder import vocode

            smooth = int(torch.randint(cfg.vocode_smooth[0], cfg.vocode_smooth[1] + 1, (), generator=gen))
            wave = vocode(wave, self.sample_rate, gen, _uniform(*cfg.vocode_f0_scale, gen),
                          _uniform(*cfg.vocode_warp, gen), smooth)
        if cfg.speed_perturb:
            wave = speed_perturb(wave, self.draw_speed(gen), self.sample_rate)
        if cfg.reverb_prob > 0 and float(torch.rand((), generator=gen)) < cfg.reverb_prob:
            wave = reverberate(wave, synthetic_rir(_uniform(*cfg.rt60, gen), self.sample_rate, gen))
        if self.noise_files and float(torch.rand((), generator=gen)) < cfg.noise_prob:
            noise = self.noise(int(torch.randint(len(self.noise_files), (), generator=gen)))
            offset = int(torch.randint(len(noise), (), generator=gen))
            wave = add_noise(wave, noise, _uniform(*cfg.noise_snr_db, gen), offset)
        return wave


class AugmentedSpeech(torch.utils.data.Dataset):
    """A SpeechDataset whose items' features are recomputed from the augmented waveform (the data dir's
    wav.scp, the dump's fbank config): item i -> {"id", "speech": (T', F), "target"}. The augmentation of
    utterance u in `epoch` is drawn from generator(seed, epoch, crc32(u)). Lengths for batching stay the
    dumped ones (speed 0.9 makes an utterance 11% longer than its bucket says). Built once per run; each
    epoch's loader takes :meth:`for_epoch`."""

    def __init__(self, base, data_dir: str | Path, feats_scp: str | Path, cfg: AugmentConfig, seed: int,
                 epoch: int) -> None:
        meta = Path(feats_scp).parent / "fbank.json"
        if not meta.is_file():
            raise LegokitError(f"{meta} does not exist: data.augment needs the dump's fbank config; re-run "
                               "`legokit features` for data.train_feats")
        self.fbank = FbankConfig(**json.loads(meta.read_text())["fbank"])
        self.base, self.seed, self.epoch = base, seed, epoch
        self.utts = {u.utt_id: u for u in read_speech_dir(data_dir)}
        self.augment = WaveAugment(cfg, self.fbank.sample_rate)
        self.torch_fbank = TorchFbank(self.fbank).eval()  # eval: no dither, as the dump (whose dither is 0 or random)
        self.speed_cache = (FeatureCache(cfg.speed_cache_mb) if cfg.speed_cache_mb > 0 and self.augment.speed_only
                            else None)

    def for_epoch(self, seed: int, epoch: int) -> AugmentedSpeech:
        """This dataset drawing from (seed, epoch): a shallow copy sharing the utterance table, the fbank config
        and the noise files (and those already read), so a new epoch re-reads none of them."""
        view = copy.copy(self)
        view.seed, view.epoch = seed, epoch
        return view

    def __len__(self) -> int:
        return len(self.base)

    @property
    def lengths(self) -> list[int]:
        return self.base.lengths

    def __getitem__(self, i: int) -> dict:
        utt = self.utts[self.base.ids[i]]
        gen = generator(self.seed, self.epoch, zlib.crc32(utt.utt_id.encode()))
        if self.speed_cache is not None:  # speed perturbation alone: features keyed by (utterance, factor)
            factor = self.augment.draw_speed(gen)
            if factor == 1.0:
                return self.base[i]
            speech = self.speed_cache.get((i, factor))
            if speech is None:
                wave = load_audio(utt.path, self.fbank.sample_rate, utt.start, utt.end)
                speech = self._features(utt, speed_perturb(wave, factor, self.fbank.sample_rate))
                if speech is None:
                    return self.base[i]
                self.speed_cache.put((i, factor), speech)
        else:
            wave = load_audio(utt.path, self.fbank.sample_rate, utt.start, utt.end)
            augmented = self.augment(wave, gen)
            if augmented is wave:  # nothing drawn changed it: the dumped features are its fbank
                return self.base[i]
            speech = self._features(utt, augmented)
            if speech is None:
                return self.base[i]
        return {"id": utt.utt_id, "speech": speech, "target": torch.tensor(self.base.targets[i], dtype=torch.long)}

    def _features(self, utt, augmented: np.ndarray) -> torch.Tensor | None:
        """(T', F) normalised fbank of an augmented waveform; None if it is too short for one frame."""
        with torch.no_grad():
            feats, frames = self.torch_fbank(torch.from_numpy(augmented))
        if int(frames[0]) == 0:  # too short after speed perturbation: keep the dumped features
            return None
        speech = feats[0]
        if not bool(torch.isfinite(speech).all()):
            raise LegokitError(f"{utt.path} (utterance {utt.utt_id}, augmented): gives non-finite (inf/NaN) "
                               f"features: its samples reach {float(np.abs(augmented).max()):g}, far outside "
                               "[-1, 1]; rescale the audio")
        if self.base.cmvn is not None:
            speech = self.base.cmvn(speech)
        return speech


class FeatureCache:
    """Tensors by key, up to a budget of bytes: once it is full, new ones are not kept (no eviction, so what is
    kept does not depend on the order of later reads). Shared by an AugmentedSpeech's epoch views."""

    def __init__(self, budget_mb: int) -> None:
        self.budget, self.used = budget_mb * 2 ** 20, 0
        self._items: dict[tuple[int, float], torch.Tensor] = {}

    def get(self, key: tuple[int, float]) -> torch.Tensor | None:
        return self._items.get(key)

    def put(self, key: tuple[int, float], value: torch.Tensor) -> None:
        size = value.numel() * value.element_size()
        if self.used + size <= self.budget:
            self._items[key] = value
            self.used += size

    def __len__(self) -> int:
        return len(self._items)
