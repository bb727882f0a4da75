"""Synthetic English speech with Festival's Debian voices: Kaldi speech dirs from MT-style text dirs.

The same layout as :mod:`legokit.corpora.espeak` (``wav/``, ``wav.scp``, ``text``, ``utt2spk`` = voice,
``spk2utt``, ``transcript`` when the spoken side differs): each utterance gets a voice and a duration
stretch drawn deterministically from its id; the test split is spoken by the held-out voices only, which
never appear in train or valid. Voices are Festival voice names (``(voice_<name>)``); Debian bookworm has
three English ones: ``kal_diphone`` (festvox-kallpc16k), ``ked_diphone`` (festvox-kdlpc16k) and
``cmu_us_slt_arctic_hts`` (festvox-us-slt-hts, the default held-out voice: another synthesis method,
HTS, and a female speaker).

Usage::

    legokit prepare festival-speech --text-dir data/de-en --out data/en-festival --nj 2
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from legokit.corpora.debian import require_tool
from legokit.corpora.espeak import choose, save_wav, speak_splits
from legokit.errors import LegokitError

FESTIVAL_HINT = ("Install it with `apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts` "
                 "(Debian/Ubuntu; tools/install_system_deps.sh does it)")


@dataclass
class FestivalConfig:
    """Voices and prosody of :func:`make_festival_speech`; recorded in each split's `.completed` marker."""

    voices: list[str] = field(default_factory=lambda: ["kal_diphone", "ked_diphone"])  # train/valid voices
    test_voices: list[str] = field(default_factory=lambda: ["cmu_us_slt_arctic_hts"])  # held out: test only
    stretches: list[float] = field(default_factory=lambda: [0.85, 1.0, 1.15])  # Duration_Stretch (>1 slower)
    # mean F0 targets in Hz, one drawn per utterance (empty: each voice's own, ~105 Hz for kal and ked): Festival's
    # int_lr_params, which the diphone voices' intonation follows (HTS voices such as slt keep their own F0)
    f0_means: list[float] = field(default_factory=list)
    sample_rate: int = 16000  # output sample rate (HTS slt speaks at 32 kHz, the diphone voices at 16 kHz)
    speak: str = "en"  # spoken file: text.<speak>
    target: str = "en"  # file copied to `text`: text.<target>
    max_utts: int = 0  # at most this many utterances per split, chosen by id hash (0: all)
    skip_utts: int = 0  # pass over this many utterances of the hash order first (other sentences than a 0 run)
    splits: list[str] = field(default_factory=lambda: ["train", "valid", "test"])  # splits to speak


F0_STD_RATIO = 0.14  # target_f0_std / target_f0_mean of kal_diphone (14/105) and ked_diphone (15/105)


def prosody_args(stretch: float, f0_mean: float) -> list[str]:
    """text2wave -eval arguments: a Duration_Stretch and, if `f0_mean` > 0, an F0 target mean (Hz) whose spread
    keeps the diphone voices' std/mean ratio; the model side of int_lr_params is the voices' own (170, 34)."""
    args = ["-eval", f"(Parameter.set 'Duration_Stretch {stretch:g})"]
    if f0_mean > 0:
        args += ["-eval", f"(set! int_lr_params '((target_f0_mean {f0_mean:g}) "
                          f"(target_f0_std {f0_mean * F0_STD_RATIO:.3g}) (model_f0_mean 170) (model_f0_std 34)))"]
    return args


def synthesize(text: str, wav: Path, voice: str, stretch: float, f0_mean: float, sample_rate: int) -> float:
    """Speak `text` with Festival voice `voice` (text2wave) into `wav` (mono, `sample_rate`); return seconds.
    `f0_mean` (Hz) moves a diphone voice's pitch; 0 keeps the voice's own."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "in.txt").write_text(text + "\n", encoding="utf-8")
        out = Path(tmp) / "out.wav"
        proc = subprocess.run(["text2wave", "-eval", f"(voice_{voice})", *prosody_args(stretch, f0_mean),
                               "-o", str(out), str(Path(tmp) / "in.txt")], capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file() or "SIOD ERROR" in proc.stderr:
            raise LegokitError(f"festival (text2wave) failed for voice {voice}: {proc.stderr.strip()[-300:]} "
                               f"(is the voice installed? {FESTIVAL_HINT})")
        audio, rate = sf.read(out, dtype="float32")
    return save_wav(audio, rate, wav, sample_rate, f"festival voice {voice} for text {text[:60]!r}")


def installed_voices() -> list[str]:
    """Festival's installed voices, as named by ``(voice.list)``."""
    proc = subprocess.run(["festival", "--pipe"], input="(print (voice.list))\n", capture_output=True, text=True)
    return proc.stdout.strip().strip("()").split()


def _job(args: tuple[str, Path, str, float, float, int]) -> float:
    return synthesize(*args)


def make_festival_speech(text_dir: Path | str, out_dir: Path | str, cfg: FestivalConfig | None = None,
                         nj: int = 1, force: bool = False) -> dict[str, dict]:
    """Speak the splits of an MT-style dir with Festival into Kaldi speech dirs; return {split: counts}.

    Each split is skipped when its ``.completed`` marker records the same options and text, unless `force`.
    """
    cfg = cfg or FestivalConfig()
    require_tool("text2wave", "synthesise speech with Festival", FESTIVAL_HINT)
    have = installed_voices()
    bad = [f for f in cfg.f0_means if not 40 <= f <= 400]
    if bad:
        raise LegokitError(f"festival f0_means must be mean pitches in Hz within 40-400, got {bad}")
    missing = [v for v in cfg.voices + cfg.test_voices if v not in have]
    if missing:
        raise LegokitError(f"festival voices {missing} are not installed (installed: {have}); {FESTIVAL_HINT}")
    return speak_splits(text_dir, out_dir, cfg, nj, force, _job,
                        lambda uid: (choose(cfg.stretches, uid + "stretch"),
                                     choose(cfg.f0_means, uid + "f0") if cfg.f0_means else 0.0), "festival")
