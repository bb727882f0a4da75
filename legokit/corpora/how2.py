"""How2 2000 h speech summarisation (Sanabria et al. 2018; Sharma et al., ICASSP 2022) as legokit data.

The release (access on request, https://github.com/srvk/how2-dataset) ships features, not audio::

    <root>/how2_release/data/<set>/text                 <video id> <summary>  (the target)
    <root>/how2_release/data/<set>/utt2spk              optional; default: each video its own speaker
    <root>/how2_release/audio/fbank_pitch/<set>.scp     <video id> <ark path relative to fbank_pitch/>:<offset>

with summarisation sets tr_2000h_sum (train), cv05_sum (valid), dev5_test_sum (test), where one
"utterance" is a whole video (minutes of speech), and the utterance-level ASR sets tr_2000h, cv05,
dev5_test (``text`` = transcript, utterance ids ``<video id>_<n>``) that ESPnet's how2_2000h/asr1
pre-trains on. The features are Kaldi fbank + pitch as released; their dimension is read from the
arks (``dump/<set>/fbank.json``). ``root`` may also be the ``how2_release`` directory itself.

Output: Kaldi dirs ``<out>/{train,valid,test}/{text,utt2spk[,transcript]}`` (summary in ``text``; the
video's transcript, its ASR utterances joined in order, when the ASR sets are present) and
``<out>/asr_{train,valid,test}/{text,transcript,utt2spk}``, plus legokit feature dumps ``<dump>/<name>/``
(feats.scp, float32 shards, cmvn.json, fbank.json) converted from the released arks with kaldiio
(compressed arks included), so training reads them like any other dump.
``max_frames`` > 0 keeps only the first frames of longer videos (ESPnet trims How2 inputs the same way
to fit GPU memory with full attention; restricted attention needs no trimming).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import kaldiio
import numpy as np

from legokit.data.datadir import read_kaldi_map
from legokit.data.features import CMVNStats
from legokit.errors import LegokitError
from legokit.prepare.text import write_text

log = logging.getLogger(__name__)

SETS = {"train": "tr_2000h_sum", "valid": "cv05_sum", "test": "dev5_test_sum"}
ASR_SETS = {"asr_train": "tr_2000h", "asr_valid": "cv05", "asr_test": "dev5_test"}
FEATURE_KIND = "fbank_pitch"
REQUEST_URL = "https://github.com/srvk/how2-dataset"


def find_release(root: str | Path) -> Path:
    """The ``how2_release`` directory: ``root/how2_release`` or ``root`` itself."""
    root = Path(root)
    for cand in (root / "how2_release", root):
        if (cand / "data").is_dir() and (cand / "audio" / FEATURE_KIND).is_dir():
            return cand
    raise LegokitError(f"{root}: no How2 release here (expected how2_release/data/<set>/text and "
                       f"how2_release/audio/{FEATURE_KIND}/<set>.scp). How2 is distributed on request "
                       f"({REQUEST_URL}); extract it and set HOW2 in db.sh")


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


def _features(scp: Path, ids: list[str], max_frames: int) -> Iterable[tuple[str, np.ndarray]]:
    base = scp.parent
    table = read_kaldi_map(scp)
    for utt in ids:
        if utt not in table:
            raise LegokitError(f"{scp}: no features for '{utt}' (it is in the set's text)")
        location = table[utt]
        path = location if os.path.isabs(location) else str(base / location)
        try:
            feats = kaldiio.load_mat(path)
        except (OSError, ValueError) as err:
            raise LegokitError(f"{scp}: cannot read the features of '{utt}' from {path}: {err}") from err
        yield utt, feats[:max_frames] if max_frames > 0 else feats


def video_transcripts(transcripts: dict[str, str]) -> dict[str, str]:
    """Whole-video transcripts: the utterances ``<video>_<n>`` of each video joined in order of n."""
    parts: dict[str, list[tuple[int, str]]] = {}
    for utt, text in transcripts.items():
        video, _, n = utt.rpartition("_")
        if video and n.isdigit():
            parts.setdefault(video, []).append((int(n), text))
    return {video: " ".join(t for _, t in sorted(p)) for video, p in parts.items()}


def _prepare_set(release: Path, set_name: str, out: Path, dump: Path, max_frames: int,
                 transcripts: dict[str, str] | None) -> int:
    src = release / "data" / set_name
    texts = read_kaldi_map(src / "text")
    spk = read_kaldi_map(src / "utt2spk") if (src / "utt2spk").is_file() else {}
    ids = sorted(texts)
    write_text(out / "text", texts)
    write_text(out / "utt2spk", {u: spk.get(u, u) for u in ids})
    if transcripts is not None:
        write_text(out / "transcript", transcripts)
    scp = release / "audio" / FEATURE_KIND / f"{set_name}.scp"
    if not scp.is_file():
        raise LegokitError(f"{scp}: feature index not found; the How2 release is incomplete")
    meta = {"source": f"How2 release {FEATURE_KIND} ({set_name})", "max_frames": max_frames}
    return write_dump(_features(scp, ids, max_frames), dump, meta)


def prepare_how2(root: str | Path, out_dir: str | Path, dump_dir: str | Path, max_frames: int = 0,
                 sets: Iterable[str] = tuple(SETS)) -> dict:
    """Write ``out_dir/<name>`` and ``dump_dir/<name>`` for each summarisation set name (train, valid,
    test) and, when released, the matching ASR set (asr_<name>); returns counts."""
    release = find_release(root)
    out, dump = Path(out_dir), Path(dump_dir)
    stats: dict = {"release": str(release), "max_frames": max_frames}
    for name in sets:
        asr_name, asr_set = f"asr_{name}", ASR_SETS[f"asr_{name}"]
        videos = None
        if (release / "data" / asr_set / "text").is_file():
            transcripts = read_kaldi_map(release / "data" / asr_set / "text")
            stats[asr_name] = {"set": asr_set, "utterances": _prepare_set(
                release, asr_set, out / asr_name, dump / asr_name, 0, transcripts)}
            videos = video_transcripts(transcripts)
        summaries = read_kaldi_map(release / "data" / SETS[name] / "text")
        missing = sorted(set(summaries) - set(videos or {}))
        if videos is not None and missing:
            log.warning("how2 %s: %d videos have no ASR utterances, so no transcript (e.g. %s); "
                        "the cascade needs them", name, len(missing), missing[0])
        transcript = {v: videos[v] for v in summaries if v in videos} if videos and not missing else None
        stats[name] = {"set": SETS[name], "videos": _prepare_set(release, SETS[name], out / name, dump / name,
                                                                max_frames, transcript),
                       "transcripts": transcript is not None}
        log.info("how2 %s: %s", name, stats[name])
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    return stats


def download_how2(root: str | Path) -> Path:
    """How2 cannot be fetched anonymously: return the release if it is in ``root``, else explain."""
    return find_release(root)
