"""Europarl-ST v1.1 (Iranzo-Sánchez et al., ICASSP 2020) speech of one language as Kaldi speech dirs.

Release layout (``<root>`` is the extracted ``v1.1`` directory, or its parent)::

    <root>/<lang>/audios/<talk>.m4a                      one recording per talk (speech)
    <root>/<lang>/<tgt>/<split>/segments.lst             "<talk> <start_s> <end_s>" per segment
    <root>/<lang>/<tgt>/<split>/segments.<lang>          transcript of each segment (same line order)
    <root>/<lang>/<tgt>/<split>/segments.<tgt>           its translation (unused for ASR)

with ``<split>`` in train, dev, test (and train-noisy, not used). The release has no ASR-only part:
the transcripts of one spoken language come with every target language it was translated into, and
the segmentations of the pairs overlap. The ASR set of a split is their union with every stretch of speech
once: a segment is kept unless it overlaps in time a segment of the same talk kept before (pairs in the
order given, default alphabetical), so the test set is one English test set, not a copy per pair. A talk
in the dev or test set of ANY pair is dropped from train, so no speech is in both.

Transcripts are normalised as ASR is scored (lower-case, punctuation removed except word-internal
apostrophes; ESPnet's "lc.rm"); ``cased=True`` keeps them as released. Segments whose text is empty
(after normalisation) are dropped and listed in ``<out>/skipped``.

Output ``<out>/{train,valid,test}`` (dev becomes valid)::

    wav.scp   <talk> <audio file>          text        <utt> <transcript, normalised unless cased>
    segments  <utt> <talk> <start> <end>   text.cased  <utt> <transcript, as released>
    utt2spk   <utt> <talk>  (one speech = one speaker)

with ``<utt> = <talk>_<start cs:07d>_<end cs:07d>``. libsndfile cannot read the released m4a (AAC)
audio, so each talk is converted once with ``ffmpeg -ac 1 -ar 16000`` into ``<audio_dir>/<talk>.flac``
(lossless, about half the size of wav); recordings libsndfile reads already (wav/flac) are used
in place. Without ffmpeg the preparation stops naming it and how to install it.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from legokit.corpora.download import Resource, download, extract
from legokit.corpora.text import asr_normalise, write_text
from legokit.data.datadir import validate_speech_dir
from legokit.errors import LegokitError
from legokit.fileio import read_text_lines

log = logging.getLogger(__name__)

#: the release archive (https://www.mllp.upv.es/europarl-st/); the project publishes no checksum
RELEASE = Resource("https://www.mllp.upv.es/europarl-st/v1.1.tar.gz", "europarl-st-v1.1.tar.gz",
                   note="no published checksum; the archive is checked by extracting it")
SPLITS = {"train": "train", "dev": "valid", "test": "test"}
AUDIO_EXTENSIONS = (".m4a", ".wav", ".flac", ".mp3", ".ogg")


normalise = asr_normalise  # ASR scoring form: lower-case, punctuation removed (apostrophes in words kept)


@dataclass(frozen=True)
class Segment:
    """One transcribed segment of a talk (``text`` as released)."""

    talk: str
    start: float
    end: float
    text: str

    @property
    def utt_id(self) -> str:
        return f"{self.talk}_{round(self.start * 100):07d}_{round(self.end * 100):07d}"


def find_root(root: str | Path) -> Path:
    """The directory holding the language dirs: ``root`` itself or ``root/v1.1``."""
    root = Path(root)
    for cand in (root, root / "v1.1"):
        if (cand / "en").is_dir() or any(cand.glob("*/audios")):
            return cand
    raise LegokitError(f"{root}: no Europarl-ST release here (expected <lang>/audios/ and <lang>/<tgt>/<split>/"
                       "segments.lst, possibly below v1.1/); run the download stage or set EUROPARL_ST in db.sh")


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise LegokitError(f"{path}: file not found; the Europarl-ST release is incomplete")
    return read_text_lines(path)


def read_split(split_dir: Path, lang: str, cased: bool = True, skipped: list[str] | None = None) -> list[Segment]:
    """Segments of one ``<lang>/<tgt>/<split>`` dir (segments.lst + segments.<lang>, line-aligned). Those
    whose text is empty (``normalise``d unless ``cased``) are left out, as "<file>:<line> <reason>" in ``skipped``."""
    times, texts = _lines(split_dir / "segments.lst"), _lines(split_dir / f"segments.{lang}")
    if len(times) != len(texts):
        raise LegokitError(f"{split_dir}: segments.lst has {len(times)} lines but segments.{lang} has "
                           f"{len(texts)}; they must be line-aligned")
    out = []
    for n, (line, text) in enumerate(zip(times, texts, strict=True), start=1):
        fields = line.split()
        try:
            talk, start, end = fields[0], float(fields[1]), float(fields[2])
        except (IndexError, ValueError):
            raise LegokitError(f"{split_dir / 'segments.lst'}:{n}: expected '<talk> <start_s> <end_s>', "
                               f"got '{line}'") from None
        if len(fields) != 3 or not 0 <= start < end:
            raise LegokitError(f"{split_dir / 'segments.lst'}:{n}: expected 3 fields with 0 <= start < end, "
                               f"got '{line}'")
        text = " ".join(text.split())
        if text and (cased or normalise(text)):
            out.append(Segment(talk, start, end, text))
        elif skipped is not None:
            skipped.append(f"{split_dir / 'segments.lst'}:{n} empty transcript ({text!r})")
    return out


def _without_overlaps(segs: Iterable[Segment], skipped: list[str], split: str) -> dict[str, Segment]:
    """``segs`` (in order) by utt id, each dropped that overlaps in time one of its talk kept before."""
    kept: dict[str, Segment] = {}
    by_talk: dict[str, list[Segment]] = {}
    for seg in segs:
        if seg.utt_id in kept:
            continue  # the same segment in another pair
        clash = next((k for k in by_talk.get(seg.talk, []) if seg.start < k.end and k.start < seg.end), None)
        if clash is not None:
            skipped.append(f"{split} {seg.utt_id} overlaps {clash.utt_id} (another pair's segmentation)")
            continue
        kept[seg.utt_id] = seg
        by_talk.setdefault(seg.talk, []).append(seg)
    return kept


def collect(root: Path, lang: str, targets: Iterable[str] | None = None, cased: bool = True,
            skipped: list[str] | None = None) -> dict[str, list[Segment]]:
    """Union of the segments of every ``<lang>/<tgt>`` pair per output split, each stretch of speech once
    (see the module docstring), with train talks that occur in any dev/test set removed. An explicit
    ``targets`` pair lacking a split dir is an error; a discovered one is skipped with a warning. What is
    left out is appended to ``skipped``."""
    lang_dir = root / lang
    pairs = sorted(p.name for p in lang_dir.iterdir() if p.is_dir() and p.name != "audios") \
        if targets is None else list(targets)
    if not pairs:
        raise LegokitError(f"{lang_dir}: no target-language dirs (<tgt>/<split>/segments.lst) found")
    skipped = [] if skipped is None else skipped
    read: dict[str, list[Segment]] = {name: [] for name in SPLITS.values()}
    for tgt in pairs:
        for split, name in SPLITS.items():
            split_dir = lang_dir / tgt / split
            if split_dir.is_dir():
                read[name] += read_split(split_dir, lang, cased, skipped)
            elif targets is not None:
                raise LegokitError(f"{split_dir}: not found; --targets {tgt} asks for the {lang}-{tgt} pair, whose "
                                   f"{split} set must be there (a partial release?)")
            else:
                log.warning("%s: not found; the %s-%s pair adds nothing to %s", split_dir, lang, tgt, name)
    found = {name: _without_overlaps(segs, skipped, name) for name, segs in read.items()}
    held_out = {seg.talk for name in ("valid", "test") for seg in found[name].values()}
    found["train"] = {k: s for k, s in found["train"].items() if s.talk not in held_out}
    return {name: sorted(segs.values(), key=lambda s: s.utt_id) for name, segs in found.items()}


def _readable(path: Path) -> bool:
    try:
        sf.info(path)
    except (sf.LibsndfileError, RuntimeError):
        return False
    return True


def _source_audio(audios: Path, talk: str) -> Path:
    for ext in AUDIO_EXTENSIONS:
        if (audios / f"{talk}{ext}").is_file():
            return audios / f"{talk}{ext}"
    raise LegokitError(f"{audios}: no audio for talk '{talk}' (looked for {talk}.m4a and "
                       f"{', '.join(AUDIO_EXTENSIONS[1:])}); the release is incomplete")


def convert_audio(src: Path, audio_dir: Path, sample_rate: int = 16000) -> Path:
    """A libsndfile-readable version of ``src``: ``src`` itself if readable, else
    ``<audio_dir>/<stem>.flac`` made once by ffmpeg (mono, ``sample_rate`` Hz)."""
    if src.suffix != ".m4a" and _readable(src):
        return src.resolve()
    dest = audio_dir / f"{src.stem}.flac"
    if dest.is_file():
        return dest.resolve()
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise LegokitError(f"{src}: libsndfile cannot read this audio and 'ffmpeg' is not on PATH to convert it; "
                           "install it (apt-get install ffmpeg, conda install ffmpeg) or convert every "
                           f"<talk>.m4a to <talk>.flac in {audio_dir} yourself")
    audio_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.stem + ".tmp.flac")
    proc = subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-ac", "1",
                           "-ar", str(sample_rate), str(tmp)], capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise LegokitError(f"{src}: ffmpeg could not convert it (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-500:]}")
    tmp.replace(dest)
    return dest.resolve()


def prepare_europarl_st(root: str | Path, out_dir: str | Path, audio_dir: str | Path, lang: str = "en",
                        targets: Iterable[str] | None = None, nj: int = 1, cased: bool = False) -> dict:
    """Write ``out_dir/{train,valid,test}`` speech dirs for ASR of ``lang``; converted audio goes to
    ``audio_dir``; ``text`` is normalised unless ``cased``. Returns counts (also written to
    ``out_dir/stats.json``); what was left out is listed in ``out_dir/skipped``."""
    root = find_root(root)
    skipped: list[str] = []
    splits = collect(root, lang, targets, cased, skipped)
    talks = sorted({seg.talk for segs in splits.values() for seg in segs})
    sources = [_source_audio(root / lang / "audios", talk) for talk in talks]
    with ThreadPoolExecutor(max(1, nj)) as pool:  # ffmpeg runs as a subprocess: threads suffice
        wavs = dict(zip(talks, pool.map(lambda p: convert_audio(p, Path(audio_dir)), sources), strict=True))
    stats: dict = {"lang": lang, "talks": len(talks), "cased": cased, "skipped": len(skipped)}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "skipped").write_text("".join(f"{line}\n" for line in skipped))
    if skipped:
        log.warning("Europarl-ST: %d segments left out (empty text or overlapping another pair's), listed in %s",
                    len(skipped), out / "skipped")
    for name, segs in splits.items():
        d = out / name
        used = sorted({s.talk for s in segs})
        write_text(d / "wav.scp", {t: str(wavs[t]) for t in used})
        write_text(d / "segments", {s.utt_id: f"{s.talk} {s.start:.2f} {s.end:.2f}" for s in segs})
        write_text(d / "text", {s.utt_id: s.text if cased else normalise(s.text) for s in segs})
        write_text(d / "text.cased", {s.utt_id: s.text for s in segs})
        write_text(d / "utt2spk", {s.utt_id: s.talk for s in segs})
        validate_speech_dir(d)
        stats[name] = {"utterances": len(segs), "talks": len(used),
                       "hours": round(sum(s.end - s.start for s in segs) / 3600, 3)}
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    return stats


def download_europarl_st(root: str | Path, progress: bool = True) -> Path:
    """Download (resumably) and extract the release into ``root``; returns the release directory.
    Nothing is fetched when ``root`` holds an extracted release already."""
    root = Path(root)
    try:
        return find_root(root)
    except LegokitError:
        pass
    archive = download(RELEASE, root, hint="set EUROPARL_ST in db.sh to an extracted copy", progress=progress)
    extract(archive, root)
    return find_root(root)
