"""A corrupted copy of a Kaldi-style speech data dir: noisy, reverberant or speed-perturbed test (or training)
sets written to disk, as Kaldi's steps/data/augment_data_dir.py and reverberate_data_dir.py do.

Each utterance goes through :class:`legokit.data.augment.WaveAugment` (speed, reverberation, additive noise),
its random draws from ``generator(seed, 0, crc32(utt id))`` (legokit.train.seeding), so the same seed gives
byte-identical output whatever else is in the dir::

    <out>/wav/<utt>.wav   PCM-16 at the source recording's rate (a segment of it when the source has `segments`)
    <out>/wav.scp         <utt> <absolute wav path>  (no `segments`: one file per utterance)
    <out>/text, text.cased, utt2spk, spk2utt, ...   copied; files describing the source audio or its features
                                                    (segments, reco2*, feats.scp, cmvn.scp, utt2dur, ...) are not

With ``utt_prefix`` / ``spk_prefix`` (Kaldi's ``--utt-prefix`` and ``--spk-prefix``) every utterance / speaker id
is renamed in the copy, so it can be combined with its source (`legokit data combine`); the random draws stay
those of the source id.

Usage::

    legokit data augment data/test data/test_noisy --noise-dir data/noise_test --snr-db 5 15 --seed 7
"""

from __future__ import annotations

import logging
import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from legokit.data.audio import load_audio
from legokit.data.augment import AugmentConfig, WaveAugment
from legokit.data.datadir import read_speech_dir
from legokit.errors import LegokitError
from legokit.fileio import atomic_output, check_outputs, read_text_lines, write_atomic
from legokit.progress import progress_bar
from legokit.train.seeding import generator

log = logging.getLogger(__name__)

# Kaldi files that describe the source audio or its features: wrong for the corrupted copy, so not copied.
NOT_COPIED = frozenset({"wav.scp", "segments", "reco2file_and_channel", "reco2dur", "feats.scp", "cmvn.scp",
                        "utt2dur", "utt2num_frames", "frame_shift"})
PEAK = 0.99  # an utterance louder than full scale after corruption is scaled down to this peak (SNR unchanged)


def _check_paths(src: Path, out: Path, force: bool) -> None:
    """Refuse OUT == SRC, OUT inside SRC, and an OUT holding a data dir (without `force`): one-line errors."""
    if not src.is_dir():
        raise LegokitError(f"{src}: source data directory not found")
    src_r, out_r = src.resolve(), out.resolve()
    if out_r == src_r or src_r in out_r.parents:
        raise LegokitError(f"{out}: the output must not be the source data dir {src} or lie inside it; "
                           "choose a directory beside it (e.g. data/test_noisy for data/test)")
    held = [name for name in ("wav.scp", "text") if (out / name).exists()]
    if held and not force:
        raise LegokitError(f"{out}: already holds a data dir ({', '.join(held)}); pass --force to overwrite it, "
                           "or choose another output")


def _renamed(path: Path, utt_prefix: str, spk_prefix: str) -> str:
    """The Kaldi file `path` with the utterance ids (and speaker ids) in its keys and values prefixed."""
    from legokit.data.split import _key_kind

    kind = _key_kind(path.name, has_segments=False)
    lines = []
    for line in read_text_lines(path):
        key, sep, value = line.partition(" ")
        if path.name == "utt2spk":
            value = spk_prefix + value.strip()
        elif path.name == "spk2utt":
            value = " ".join(utt_prefix + u for u in value.split())
        key = {"utt": utt_prefix, "spk": spk_prefix}.get(kind or "", "") + key
        lines.append(f"{key}{sep}{value}\n")
    return "".join(lines)


def augment_data_dir(src: str | Path, out: str | Path, cfg: AugmentConfig, seed: int = 0,
                     force: bool = False, utt_prefix: str = "", spk_prefix: str = "") -> dict:
    """Write `out`, `src` with every utterance corrupted by `cfg`; return counts.

    Inputs are never overwritten: an output wav that is one of the source recordings is refused before
    anything is written."""
    src, out = Path(src), Path(out)
    _check_paths(src, out, force)
    if not cfg.enabled:
        raise LegokitError("nothing to do: give --noise-dir, --reverb-prob > 0, --vocode-prob > 0 or --speed "
                           "factors other than 1")
    for name, prefix in (("--utt-prefix", utt_prefix), ("--spk-prefix", spk_prefix)):
        if prefix and (any(c.isspace() for c in prefix) or "/" in prefix):
            raise LegokitError(f"{name} {prefix!r}: expected a prefix without spaces or '/'")
    utts = read_speech_dir(src)
    copied = sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith(".")
                    and p.name not in NOT_COPIED)
    check_outputs([src], [out / p.name for p in copied] + [out / "wav.scp"])
    wav_dir = (out / "wav").resolve()
    sources = {os.path.realpath(u.path) for u in utts}
    clash = next((u for u in utts if os.path.realpath(wav_dir / f"{utt_prefix}{u.utt_id}.wav") in sources), None)
    if clash is not None:
        raise LegokitError(f"{wav_dir / f'{utt_prefix}{clash.utt_id}.wav'}: refusing to overwrite the input audio of "
                           f"'{clash.utt_id}' ({src / 'wav.scp'}); choose another output dir")
    augmenters: dict[int, WaveAugment] = {}
    wav_scp, rescaled, seconds = {}, 0, 0.0
    for utt in progress_bar(utts, desc=f"augment {out.name}", unit="utt"):
        rate = sf.info(utt.path).samplerate
        if rate not in augmenters:
            augmenters[rate] = WaveAugment(cfg, rate)
        wave = load_audio(utt.path, rate, utt.start, utt.end)
        wave = augmenters[rate](wave, generator(seed, 0, zlib.crc32(utt.utt_id.encode())))
        peak = float(np.max(np.abs(wave))) if wave.size else 0.0
        if peak > 1.0:
            wave, rescaled = wave * (PEAK / peak), rescaled + 1
        path = wav_dir / f"{utt_prefix}{utt.utt_id}.wav"
        with atomic_output(path) as tmp:
            sf.write(tmp, wave, rate, subtype="PCM_16", format="WAV")
        wav_scp[utt_prefix + utt.utt_id] = str(path)
        seconds += len(wave) / rate
    for p in copied:
        if utt_prefix or spk_prefix:
            write_atomic(_renamed(p, utt_prefix, spk_prefix), out / p.name)
            continue
        with atomic_output(out / p.name) as tmp:
            shutil.copyfile(p, tmp)
    write_atomic("".join(f"{k} {wav_scp[k]}\n" for k in sorted(wav_scp)), out / "wav.scp")  # last: the dir is complete
    if rescaled:
        log.info("%d of %d utterances went past full scale and were scaled down to peak %.2f", rescaled,
                 len(utts), PEAK)
    return {"utterances": len(utts), "hours": round(seconds / 3600, 3), "rescaled": rescaled,
            "copied": [p.name for p in copied]}
