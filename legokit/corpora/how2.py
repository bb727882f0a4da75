"""How2 2000 h speech summarisation (Sanabria et al. 2018; Sharma et al., ICASSP 2022) as legokit data.

The release (access on request, https://github.com/srvk/how2-dataset; the "(audio_2000) fbank+pitch
features in Kaldi scp/ark format for 2000 hours") ships features, not audio. Its layout, as ESPnet's
egs2/how2_2000h/{sum1,asr1}/local/data.sh read it::

    <root>/how2_release/data/<sum set>/text             <video id> <summary>  (the target)
    <root>/how2_release/data/<utt set>/text             <utterance id> <transcript>
    <root>/how2_release/data/<utt set>/segments         <utterance id> <video id> <start s> <end s>
    <root>/how2_release/data/<set>/utt2spk              optional; default: the video is the speaker
    <root>/how2_release/audio/fbank_pitch/<sum set>.scp     <video id> <ark path relative to fbank_pitch/>:<offset>
    <root>/how2_release/audio/fbank_pitch/all_utts_asr.scp  the same for the utterances of every utt set

with summarisation sets tr_2000h_sum (train), cv05_sum (valid), dev5_test_sum (test), where one
"utterance" is a whole video (minutes of speech), and the utterance-level ASR sets tr_2000h_utt,
cv05_utt, dev5_test_utt that ESPnet's how2_2000h/asr1 pre-trains on. Every one of these files is
required: a missing one is an error naming it. The features are Kaldi fbank + pitch (43 dims) as
released; their dimension is read from the arks (``dump/<set>/fbank.json``). ``root`` may also be the
``how2_release`` directory itself.

Output: Kaldi dirs ``<out>/{train,valid,test}/{text,utt2spk,transcript}`` (summary in ``text``; the
video's transcript: its ASR utterances joined in order of their start time in ``segments``) and
``<out>/asr_{train,valid,test}/{text,transcript,utt2spk}``, plus legokit feature dumps ``<dump>/<name>/``
(feats.scp, float32 shards, cmvn.json, fbank.json) converted from the released arks with kaldiio
(compressed arks included), so training reads them like any other dump.

Like ESPnet's asr.sh (stage 4, which sum1/run.sh calls with ``mdur=100`` as ``--max_wav_duration``), the
train and valid sets keep only inputs of ``min_duration < frames x 10 ms < max_duration`` seconds (ESPnet:
0.1 s and 100 s; 0 turns the filter off) and drop inputs with an empty text; the test sets are never
filtered. Each input left out is listed with the reason in ``<dump>/<name>/skipped`` and in the log.
``max_frames`` > 0 then keeps only the first frames of longer videos (a cut for GPU memory with full
attention; restricted attention needs none).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path

import kaldiio
import numpy as np

from legokit.corpora.text import write_text
from legokit.data.datadir import read_kaldi_map
from legokit.data.featdump import SKIPPED, write_skipped
from legokit.data.features import CMVNStats
from legokit.errors import LegokitError

log = logging.getLogger(__name__)

SETS = {"train": "tr_2000h_sum", "valid": "cv05_sum", "test": "dev5_test_sum"}
ASR_SETS = {"asr_train": "tr_2000h_utt", "asr_valid": "cv05_utt", "asr_test": "dev5_test_utt"}
FEATURE_KIND = "fbank_pitch"
ASR_SCP = "all_utts_asr.scp"
REQUEST_URL = "https://github.com/srvk/how2-dataset"
FILTERED = ("train", "valid")   # ESPnet's asr.sh filters its train and valid sets, never the test sets
FRAME_SHIFT = 0.01              # seconds; Kaldi's default, as ESPnet assumes without conf/fbank.conf
MIN_DURATION = 0.1              # seconds; ESPnet asr.sh min_wav_duration
MAX_DURATION = 100.0            # seconds; ESPnet egs2/how2_2000h/sum1/run.sh mdur


def find_release(root: str | Path) -> Path:
    """The ``how2_release`` directory: ``root/how2_release`` or ``root`` itself."""
    root = Path(root)
    for cand in (root / "how2_release", root):
        if (cand / "data").is_dir() and (cand / "audio" / FEATURE_KIND).is_dir():
            return cand
    raise LegokitError(f"{root}: no How2 release here (expected how2_release/data/<set>/text and "
                       f"how2_release/audio/{FEATURE_KIND}/<set>.scp). How2 is distributed on request "
                       f"({REQUEST_URL}); extract it and set HOW2 in db.sh")


def _required(path: Path) -> Path:
    if not path.is_file():
        raise LegokitError(f"{path}: not found; the How2 2000 h release has it (request the '(audio_2000) "
                           f"fbank+pitch features' from {REQUEST_URL} and extract them whole)")
    return path


def write_dump(items: Iterable[tuple[str, np.ndarray]], out_dir: Path, meta: dict) -> int:
    """Write (utt, (T, F) features) pairs as a legokit feature dump (one shard); returns #utterances."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "feats.scp").unlink(missing_ok=True)
    lines, stats, offset, dim = [], None, 0, None
    shard = out_dir / "feats.00000.f32"
    with open(shard.with_name(shard.name + ".tmp"), "wb") as f:
        for utt, feats in items:
            if dim is None:
                dim, stats = feats.shape[1], CMVNStats(feats.shape[1])
            elif feats.shape[1] != dim:
                raise LegokitError(f"{utt}: features have {feats.shape[1]} dims, earlier ones {dim}")
            f.write(np.ascontiguousarray(feats, dtype="<f4").tobytes())
            stats.accumulate(feats)
            lines.append(f"{utt} {shard.name}:{offset}:{feats.shape[0]}")
            offset += feats.shape[0]
    if stats is None:
        raise LegokitError(f"{out_dir}: no utterances to write")
    os.replace(shard.with_name(shard.name + ".tmp"), shard)
    (out_dir / "fbank.json").write_text(json.dumps(meta | {"dim": dim}, indent=1) + "\n")
    stats.save(out_dir / "cmvn.json")
    (out_dir / "feats.scp").write_text("".join(line + "\n" for line in sorted(lines)))
    return len(lines)


def read_segments(path: Path) -> dict[str, tuple[str, float]]:
    """utterance -> (video, start in seconds) of a Kaldi ``segments`` file; a bad line names the file and line."""
    out: dict[str, tuple[str, float]] = {}
    for lineno, (utt, value) in enumerate(read_kaldi_map(_required(path)).items(), start=1):
        fields = value.split()
        try:
            start, end = float(fields[1]), float(fields[2])
        except (IndexError, ValueError):
            start = end = math.nan
        if len(fields) != 3 or not 0 <= start < end < math.inf:
            raise LegokitError(f"{path}:{lineno}: expected '<utterance> <video> <start> <end>' in seconds with "
                               f"0 <= start < end, got '{utt} {value}'")
        out[utt] = (fields[0], start)
    return out


def video_transcripts(transcripts: dict[str, str], segments: dict[str, tuple[str, float]],
                      segments_path: Path) -> dict[str, str]:
    """Whole-video transcripts: each video's utterances joined in order of their start time."""
    parts: dict[str, list[tuple[float, str, str]]] = {}
    for utt, text in transcripts.items():
        if utt not in segments:
            raise LegokitError(f"{segments_path}: no segment for utterance '{utt}' (it is in the set's text)")
        video, start = segments[utt]
        parts.setdefault(video, []).append((start, utt, text))
    return {video: " ".join(text for *_, text in sorted(p)) for video, p in parts.items()}


def _features(scp: Path, table: dict[str, str], ids: list[str], max_frames: int,
              limits: tuple[int, int] | None, skipped: dict[str, str]) -> Iterable[tuple[str, np.ndarray]]:
    for utt in ids:
        if utt not in table:
            raise LegokitError(f"{scp}: no features for '{utt}' (it is in the set's text)")
        location = table[utt]
        path = location if os.path.isabs(location) else str(scp.parent / location)
        try:
            feats = kaldiio.load_mat(path)
        except (OSError, ValueError) as err:
            raise LegokitError(f"{scp}: cannot read the features of '{utt}' from {path}: {err}") from err
        if limits is not None and not limits[0] < len(feats) < limits[1]:
            skipped[utt] = f"{len(feats)} frames, outside the duration filter {limits[0]} < frames < {limits[1]}"
            continue
        yield utt, feats[:max_frames] if max_frames > 0 else feats


def _prepare_set(release: Path, set_name: str, scp: Path, out: Path, dump: Path, max_frames: int,
                 limits: tuple[int, int] | None, transcripts: dict[str, str] | None = None,
                 speakers: dict[str, str] | None = None) -> dict[str, int]:
    """One set: its dump first (dropping what the duration filter refuses), then text, utt2spk and
    transcript for the inputs kept; returns the numbers kept and skipped."""
    src = release / "data" / set_name
    texts = read_kaldi_map(_required(src / "text"), allow_empty_value=limits is not None)
    skipped = {utt: "empty text" for utt, text in texts.items() if not text}
    spk = read_kaldi_map(src / "utt2spk") if (src / "utt2spk").is_file() else speakers or {}
    meta = {"source": f"How2 release {FEATURE_KIND} ({set_name})", "max_frames": max_frames,
            "duration_filter_frames": limits}
    count = write_dump(_features(scp, read_kaldi_map(_required(scp)), sorted(set(texts) - set(skipped)),
                                 max_frames, limits, skipped), dump, meta)
    write_skipped(dict(sorted(skipped.items())), dump / SKIPPED)
    kept = {utt: text for utt, text in texts.items() if utt not in skipped}
    write_text(out / "text", kept)
    write_text(out / "utt2spk", {u: spk.get(u, u) for u in kept})
    if transcripts is not None:
        write_text(out / "transcript", {u: transcripts[u] for u in kept if u in transcripts})
    return {"kept": count, "skipped": len(skipped)}


def duration_limits(min_duration: float, max_duration: float) -> tuple[int, int] | None:
    """ESPnet's frame bounds for a duration filter in seconds (exclusive; None: no filter)."""
    if max_duration <= 0:
        return None
    return int(min_duration / FRAME_SHIFT), int(max_duration / FRAME_SHIFT)


def prepare_how2(root: str | Path, out_dir: str | Path, dump_dir: str | Path, max_frames: int = 0,
                 sets: Iterable[str] = tuple(SETS), max_duration: float = MAX_DURATION,
                 min_duration: float = MIN_DURATION) -> dict:
    """Write ``out_dir/<name>`` and ``dump_dir/<name>`` for each summarisation set name (train, valid,
    test) and its ASR set (asr_<name>); returns counts. ``max_duration`` 0 disables the duration filter."""
    release = find_release(root)
    out, dump = Path(out_dir), Path(dump_dir)
    feats = release / "audio" / FEATURE_KIND
    stats: dict = {"release": str(release), "max_frames": max_frames, "max_duration": max_duration,
                   "min_duration": min_duration}
    for name in sets:
        asr_name, asr_set = f"asr_{name}", ASR_SETS[f"asr_{name}"]
        limits = duration_limits(min_duration, max_duration) if name in FILTERED else None
        segments_path = release / "data" / asr_set / "segments"
        segments = read_segments(segments_path)
        transcripts = read_kaldi_map(_required(release / "data" / asr_set / "text"))
        stats[asr_name] = {"set": asr_set} | _prepare_set(
            release, asr_set, feats / ASR_SCP, out / asr_name, dump / asr_name, 0, limits, transcripts,
            {utt: video for utt, (video, _) in segments.items()})
        videos = video_transcripts(transcripts, segments, segments_path)
        summaries = read_kaldi_map(_required(release / "data" / SETS[name] / "text"), allow_empty_value=True)
        missing = sorted(set(summaries) - set(videos))
        if missing:
            log.warning("how2 %s: %d videos have no ASR utterance in %s, so no transcript (e.g. %s); the "
                        "cascade baseline leaves them out", name, len(missing), segments_path, missing[0])
        stats[name] = {"set": SETS[name], "without_transcript": len(missing)} | _prepare_set(
            release, SETS[name], feats / f"{SETS[name]}.scp", out / name, dump / name, max_frames, limits, videos)
        log.info("how2 %s: %s", name, stats[name])
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    return stats


def download_how2(root: str | Path) -> Path:
    """How2 cannot be fetched anonymously: return the release if it is in ``root``, else explain."""
    return find_release(root)
