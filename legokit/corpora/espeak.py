"""Synthetic English speech with espeak-ng: Kaldi speech dirs from MT-style text dirs.

For every split ``<text_dir>/<split>/text.<speak>`` is spoken, each utterance with a voice, speed and
pitch drawn deterministically from its id; the test split uses its own voices (disjoint from training)::

    <out>/<split>/wav/*.wav   16 kHz mono PCM
    <out>/<split>/wav.scp     <utt> <absolute wav path>
    <out>/<split>/text        <utt> <text.<target> sentence>   (kept as is: tokenizers normalise)
    <out>/<split>/utt2spk, spk2utt                             speaker = the voice, e.g. en-us+f3
    <out>/<split>/transcript  <utt> <spoken text>              (only when speak != target)

A killed run resumes: each wav is written atomically, and a split's ``.partial`` marker records the options it
was started with; a re-run with the same options keeps the wavs already there.

Usage::

    legokit prepare espeak-speech --text-dir data/de-en --out data/en-asr --nj 2
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import soundfile as sf
import soxr

from legokit.corpora.debian import require_tool
from legokit.corpora.text import read_text, text_hash, write_text
from legokit.errors import LegokitError
from legokit.fileio import atomic_output, split_lines, write_atomic
from legokit.progress import progress_bar

log = logging.getLogger(__name__)

ESPEAK_HINT = "Install it with `apt-get install espeak-ng` (Debian/Ubuntu) or your system's package manager."


@dataclass
class EspeakConfig:
    """Voices and prosody of :func:`make_espeak_speech`; recorded in each split's `.completed` marker."""

    voices: list[str] = field(default_factory=lambda: [  # espeak-ng -v voices for train/valid
        "en-us+m1", "en-us+f1", "en-gb+m3", "en-gb+f2", "en-gb-scotland+m2", "en-029+f3",
        "en-gb-x-rp+m4", "en-us+f5"])
    test_voices: list[str] = field(default_factory=lambda: [  # voices for test, disjoint from `voices`
        "en-gb-x-gbcwmd+f4", "en-gb-x-gbclan+m7"])
    speeds: list[int] = field(default_factory=lambda: [140, 160, 175, 190])  # -s words per minute
    pitches: list[int] = field(default_factory=lambda: [35, 50, 65])  # -p pitch 0..99
    sample_rate: int = 16000  # output sample rate (espeak-ng speaks at 22050 Hz)
    speak: str = "en"  # spoken file: text.<speak>
    target: str = "en"  # file copied to `text`: text.<target>
    max_utts: int = 0  # at most this many utterances per split, chosen by id hash (0: all)
    skip_utts: int = 0  # pass over this many utterances of the hash order first (other sentences than a 0 run)
    splits: list[str] = field(default_factory=lambda: ["train", "valid", "test"])  # splits to speak


def choose(options: list, key: str) -> object:
    return options[int(text_hash(key) * len(options))]


def save_wav(audio, rate: int, wav: Path, sample_rate: int, what: str) -> float:
    """Write `audio` (read at `rate`) to `wav` as mono PCM-16 at `sample_rate`; return its duration in seconds.
    `what` names the synthesizer and voice for the error raised on empty audio."""
    if audio.size == 0:
        raise LegokitError(f"{what} produced no audio")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if rate != sample_rate:
        audio = soxr.resample(audio, rate, sample_rate)
    with atomic_output(wav) as tmp:  # a killed run leaves no half-written wav for a resumed one to keep
        sf.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV")
    return len(audio) / sample_rate


def synthesize(text: str, wav: Path, voice: str, speed: int, pitch: int, sample_rate: int) -> float:
    """Speak `text` into `wav` (mono, `sample_rate`); return its duration in seconds."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", tmp.name,
                               "--", text], capture_output=True, text=True)
        if proc.returncode != 0:
            raise LegokitError(f"espeak-ng failed for voice {voice}: {proc.stderr.strip()}")
        audio, rate = sf.read(tmp.name, dtype="float32")
    return save_wav(audio, rate, wav, sample_rate, f"espeak-ng voice {voice} for text {text[:60]!r}")


def _job(args: tuple[str, Path, str, int, int, int]) -> float:
    return synthesize(*args)


def _speak_split(text_dir: Path, out: Path, voices: list[str], cfg, nj: int, job: Callable,
                 params: Callable[[str], tuple], name: str, options: str, block: int = 1) -> dict:
    spoken = read_text(text_dir / f"text.{cfg.speak}")
    targets = read_text(text_dir / f"text.{cfg.target}")
    start = cfg.skip_utts
    ids = sorted(spoken, key=text_hash)[start:start + cfg.max_utts if cfg.max_utts else None]
    if not ids:
        raise LegokitError(f"{text_dir / f'text.{cfg.speak}'}: no utterance left to speak after skipping {start} "
                           f"of {len(spoken)}")
    (out / "wav").mkdir(parents=True, exist_ok=True)
    partial = out / ".partial"  # the options and text this split's wavs were spoken with, while it is unfinished
    resume = partial.is_file() and partial.read_text() == options
    write_atomic(options, partial)
    jobs, wav_scp, utt2spk = [], {}, {}
    for uid in ids:
        voice = str(choose(voices, uid + "voice"))
        utt = f"{voice}-{uid}"
        wav = (out / "wav" / f"{utt}.wav").resolve()
        jobs.append((spoken[uid], wav, voice, *params(uid), cfg.sample_rate))
        wav_scp[utt], utt2spk[utt] = str(wav), voice
    kept = {j[1]: sf.info(j[1]).duration for j in jobs if resume and j[1].is_file()}
    blocks = [jobs[i:i + block] for i in range(0, len(jobs), block)]
    todo = [b for b in blocks if any(j[1] not in kept for j in b)]  # a block is spoken whole
    for b in todo:
        for j in b:
            kept.pop(j[1], None)
    if kept:
        log.info("%s %s: resuming, %d of %d wavs already spoken", name, out.name, len(kept), len(jobs))
    spoken_now: dict[Path, float] = {}
    with ProcessPoolExecutor(max_workers=nj) as pool, progress_bar(total=sum(map(len, todo)), unit="utt",
                                                                   desc=f"{name} {out.name}") as bar:
        results = (pool.map(job, [j for b in todo for j in b], chunksize=8) if block == 1
                   else (d for ds in pool.map(job, todo) for d in ds))
        for j, seconds in zip((j for b in todo for j in b), results):
            spoken_now[j[1]] = seconds
            bar.update(1)
    durations = [kept[j[1]] if j[1] in kept else spoken_now[j[1]] for j in jobs]
    utts = dict(zip(wav_scp, ids))
    write_text(out / "wav.scp", wav_scp)
    write_text(out / "utt2spk", utt2spk)
    write_text(out / "text", {u: targets[i] for u, i in utts.items()})
    if cfg.speak != cfg.target:
        write_text(out / "transcript", {u: spoken[i] for u, i in utts.items()})
    spk2utt: dict[str, list[str]] = defaultdict(list)
    for utt in sorted(utt2spk):
        spk2utt[utt2spk[utt]].append(utt)
    write_text(out / "spk2utt", {spk: " ".join(u) for spk, u in spk2utt.items()})
    partial.unlink()
    return {"utterances": len(ids), "hours": round(sum(durations) / 3600, 3), "speakers": len(spk2utt)}


def text_digest(text_dir: Path, cfg) -> str:
    """sha256 of the spoken and the target text of a split: a split spoken from other text is spoken again."""
    digest = hashlib.sha256()
    for side in dict.fromkeys((cfg.speak, cfg.target)):
        path = text_dir / f"text.{side}"
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()


def speak_splits(text_dir: Path | str, out_dir: Path | str, cfg, nj: int, force: bool,
                 job: Callable, params: Callable[[str], tuple], name: str, block: int = 1) -> dict[str, dict]:
    """Speak each split of `cfg.splits` with `job((text, wav, voice, *params(utt id), sample_rate))` -> seconds (a
    module-level function: it runs in worker processes); test with `cfg.test_voices`, the others with
    `cfg.voices`. With `block` > 1, `job` takes a list of up to `block` such tuples (consecutive utterances of the
    split, always the same ones whatever `nj`, and spoken whole when resuming) and returns their seconds: a
    synthesizer whose output depends on what one process spoke before (Festival) stays reproducible. A split is
    skipped when its ``.completed`` marker records the same options and text (digest), unless `force`.
    `cfg` is a dataclass with voices, test_voices, sample_rate, speak, target, max_utts, skip_utts, splits."""
    shared = sorted(set(cfg.voices) & set(cfg.test_voices))
    if shared:
        raise LegokitError(f"test voices must not be training voices; both lists contain {shared}")
    text_dir, out_dir = Path(text_dir), Path(out_dir)
    options = json.dumps(asdict(cfg), sort_keys=True)
    stats = {}
    for split in cfg.splits:
        src, out = text_dir / split, out_dir / split
        if not (src / f"text.{cfg.speak}").exists():
            raise LegokitError(f"{src / f'text.{cfg.speak}'} does not exist; run `legokit prepare debian-mt` "
                               "(or debian-sum) first, or pick the spoken side with --speak")
        marker = out / ".completed"
        text = text_digest(src, cfg)
        if marker.exists() and not force:
            done = json.loads(marker.read_text())
            # a marker written before the text digest was recorded (no "text") counts as that text
            # options added since the marker was written count as their defaults
            if _same_options(done["options"], cfg) and done.get("text", text) == text:
                stats[split] = done["stats"]
                continue
        voices = cfg.test_voices if split == "test" else cfg.voices
        stamp = json.dumps({"options": options, "text": text}, sort_keys=True)
        stats[split] = _speak_split(src, out, voices, cfg, nj, job, params, name, stamp, block)
        log.info("%s %s: %s", name, split, stats[split])
        marker.write_text(json.dumps({"options": options, "text": text, "stats": stats[split]}))
    return stats


def _same_options(recorded: str, cfg) -> bool:
    """Whether a marker's recorded options (JSON) are `cfg`'s, reading options it lacks as their defaults."""
    return {**asdict(type(cfg)()), **json.loads(recorded)} == json.loads(json.dumps(asdict(cfg)))


def installed_variants() -> set[str]:
    """The speaker variants espeak-ng knows (``espeak-ng --voices=variant``), by file name: what ``+<variant>``
    must name, case included."""
    proc = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True)
    return {line.split()[4].removeprefix("!v/") for line in split_lines(proc.stdout)[1:] if len(line.split()) > 4}


def check_variants(voices: list[str]) -> None:
    """Refuse a ``<voice>+<variant>`` whose variant espeak-ng does not have: espeak-ng itself speaks the voice
    without it and exits 0 (``en-us+Linda`` is plain ``en-us``; the variant is ``linda``)."""
    known = installed_variants()
    for voice in voices:
        base, _, variant = voice.partition("+")
        if variant and variant not in known:
            same = sorted(k for k in known if k.lower() == variant.lower())
            hint = f"did you mean {base}+{same[0]}?" if same else "`espeak-ng --voices=variant` lists them"
            raise LegokitError(f"espeak-ng voice {voice!r}: no variant {variant!r} (espeak-ng would silently speak "
                               f"{base!r} without it); {hint}")


def make_espeak_speech(text_dir: Path | str, out_dir: Path | str, cfg: EspeakConfig | None = None,
                       nj: int = 1, force: bool = False) -> dict[str, dict]:
    """Speak the splits of an MT-style dir into Kaldi speech dirs; return {split: counts}.

    Each split is skipped when its ``.completed`` marker records the same options and text, unless `force`.
    """
    cfg = cfg or EspeakConfig()
    require_tool("espeak-ng", "synthesise speech", ESPEAK_HINT)
    check_variants(cfg.voices + cfg.test_voices)
    return speak_splits(text_dir, out_dir, cfg, nj, force, _job,
                        lambda uid: (choose(cfg.speeds, uid + "speed"), choose(cfg.pitches, uid + "pitch")),
                        "espeak")
