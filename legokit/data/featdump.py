"""Feature dump: fbank of every utterance of a speech data dir, stored for fast random access.

Layout of the output directory::

    feats.00000.f32 ...   shards: raw little-endian float32 frames of many utterances, back to back
    fbank.json            the FbankConfig used, and the feature dimension
    cmvn.json             global CMVN stats (count, sum, sumsq) over all frames
    feats.scp             index, one line per utterance: ``<utt_id> <shard>:<first_frame>:<num_frames>``
                          (shard path relative to the directory); legokit's own format, not a Kaldi scp:
                          legokit.data.kaldi_export writes a Kaldi feats.ark/feats.scp
    skipped               ``<utt_id> <reason>`` of each utterance left out (shorter than one frame); only
                          when there are any

Every file is written under a temporary name and renamed when complete, and ``feats.scp`` is removed
first and written last, so a killed run leaves no index: nothing half-written is ever read.
Reading memory-maps the shards (:class:`FeatureReader`), so random access costs one page-in.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from legokit.data.audio import load_audio
from legokit.data.datadir import Utterance, read_speech_dir
from legokit.data.features import CMVNStats, FbankConfig, compute_fbank
from legokit.errors import LegokitError
from legokit.fileio import atomic_output, split_lines, write_atomic
from legokit.progress import progress_bar

FEATS_SCP, CMVN_FILE, META_FILE, SKIPPED = "feats.scp", "cmvn.json", "fbank.json", "skipped"
log = logging.getLogger(__name__)


def write_skipped(skipped: dict[str, str], path: Path) -> None:
    """List the inputs a command left out in ``path`` (``<id> <reason>`` lines) and say so in the log; with none,
    remove a previous run's list."""
    if not skipped:
        path.unlink(missing_ok=True)
        return
    write_atomic("".join(f"{utt} {reason}\n" for utt, reason in skipped.items()), path)
    log.warning("%d input(s) were skipped, listed with the reason in %s", len(skipped), path)


def _dump_shard(job: tuple[list[Utterance], Path, FbankConfig]
                ) -> tuple[list[str], CMVNStats, list[tuple[str, str]]]:
    """Compute one shard; returns its feats.scp lines, its CMVN stats and (id, reason) of those skipped."""
    utts, path, cfg = job
    stats, lines, skipped, offset = CMVNStats(cfg.num_mel_bins), [], [], 0
    with atomic_output(path) as tmp:  # a failed shard leaves no file, and its error names it
        with open(tmp, "wb") as f:
            for utt in utts:
                audio = load_audio(utt.path, cfg.sample_rate, utt.start, utt.end)
                feats = compute_fbank(audio, cfg, f"{utt.path} (utterance {utt.utt_id})")
                if feats.shape[0] == 0:
                    reason = f"too short: {len(audio)} samples at {cfg.sample_rate} Hz, less than one " \
                             f"{cfg.frame_length_ms:g} ms frame"
                    log.warning("%s: skipped: %s", utt.utt_id, reason)
                    skipped.append((utt.utt_id, reason))
                    continue
                f.write(feats.astype("<f4").tobytes())
                stats.accumulate(feats)
                lines.append(f"{utt.utt_id} {path.name}:{offset}:{feats.shape[0]}")
                offset += feats.shape[0]
    return lines, stats, skipped


def dump_features(data_dir: str | Path, out_dir: str | Path, cfg: FbankConfig, nj: int = 1,
                  shard_size: int = 1000, progress: bool = True) -> Path:
    """Compute fbank features of every utterance in ``data_dir`` into ``out_dir`` with ``nj`` processes;
    returns the path of ``feats.scp``. Utterances shorter than one frame are skipped: a warning names each,
    and ``out_dir/skipped`` lists them with the reason."""
    utts = read_speech_dir(data_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / FEATS_SCP).unlink(missing_ok=True)
    num_shards = max(1, math.ceil(len(utts) / shard_size))
    jobs = [(utts[i::num_shards], out / f"feats.{i:05d}.f32", cfg) for i in range(num_shards)]
    stats, lines, skipped = CMVNStats(cfg.num_mel_bins), [], []
    with progress_bar(total=len(utts), unit="utt", enabled=progress, desc=f"fbank {data_dir}") as bar:
        pool = multiprocessing.Pool(nj) if nj > 1 else None
        results = pool.imap_unordered(_dump_shard, jobs) if pool else map(_dump_shard, jobs)
        try:
            for shard_lines, shard_stats, shard_skipped in results:
                lines += shard_lines
                skipped += shard_skipped
                stats.merge(shard_stats)
                bar.update(len(shard_lines) + len(shard_skipped))
        finally:
            if pool:
                pool.terminate()
    write_skipped(dict(sorted(skipped)), out / SKIPPED)
    write_atomic(json.dumps({"fbank": asdict(cfg), "dim": cfg.num_mel_bins}, indent=1), out / META_FILE)
    stats.save(out / (CMVN_FILE + ".tmp"))
    os.replace(out / (CMVN_FILE + ".tmp"), out / CMVN_FILE)
    write_atomic("".join(line + "\n" for line in sorted(lines)), out / FEATS_SCP)
    return out / FEATS_SCP


class FeatureReader:
    """Random access to a feature dump: ``reader[utt_id] -> (T, F) float32``; shards are memory-mapped
    lazily (so the reader can be copied into DataLoader worker processes before first use)."""

    def __init__(self, feats_scp: str | Path) -> None:
        self.scp = Path(feats_scp)
        meta_path = self.scp.parent / META_FILE
        if not self.scp.is_file() or not meta_path.is_file():
            raise LegokitError(f"{self.scp}: feature index not found (or the dump was interrupted); run "
                               f"`legokit features --data-dir DIR --out-dir {self.scp.parent}`")
        try:
            self.dim: int = int(json.loads(meta_path.read_text(encoding="utf-8"))["dim"])
        except (ValueError, KeyError, TypeError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise LegokitError(f"{meta_path}: corrupt feature dump metadata ({type(err).__name__}: {err}); "
                               "re-run `legokit features`") from None
        try:
            lines = split_lines(self.scp.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as err:
            raise LegokitError(f"{self.scp}: not a UTF-8 text file ({err.reason} at byte {err.start}); re-run "
                               "`legokit features`") from None
        self.index: dict[str, tuple[str, int, int]] = {}
        for lineno, line in enumerate(lines, start=1):
            try:
                utt, loc = line.split()
                shard, first, num = loc.rsplit(":", 2)
                self.index[utt] = (shard, int(first), int(num))
            except ValueError:
                raise LegokitError(f"{self.scp}:{lineno}: malformed line; expected "
                                   "'<utt_id> <shard>:<first_frame>:<num_frames>'") from None
        self._maps: dict[str, np.ndarray] = {}

    def check_dim(self, expected: int, where: str) -> None:
        """Refuse this dump if its features are not ``expected``-dimensional (the feat_dim named by ``where``)."""
        if self.dim != expected:
            raise LegokitError(f"{self.scp}: the features are {self.dim}-dimensional but {where} expects {expected}; "
                               f"dump them with `legokit features --num-mel-bins {expected}` or use a model with "
                               f"feat_dim {self.dim}")

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, utt_id: str) -> bool:
        return utt_id in self.index

    def num_frames(self, utt_id: str) -> int:
        return self.index[utt_id][2]

    def __getitem__(self, utt_id: str) -> np.ndarray:
        shard, first, num = self.index[utt_id]
        if shard not in self._maps:
            self._maps[shard] = self._map(shard)
        frames = self._maps[shard]
        if not 0 <= first <= first + num <= frames.shape[0]:
            raise LegokitError(f"{self.scp}: frames {first}..{first + num} of '{utt_id}' lie outside {shard} "
                               f"({frames.shape[0]} frames): the dump is truncated; re-run `legokit features`")
        return np.array(frames[first:first + num], dtype=np.float32)

    def _map(self, shard: str) -> np.ndarray:
        """Memory-map one shard as (frames, dim); a missing or truncated shard is a LegokitError."""
        path = self.scp.parent / shard
        size = path.stat().st_size if path.is_file() else -1
        if size <= 0 or size % (4 * self.dim):
            problem = "is missing or empty" if size <= 0 else f"has {size} bytes, not a whole number of frames"
            raise LegokitError(f"{path}: feature shard {problem}; re-run `legokit features`")
        return np.memmap(path, dtype="<f4", mode="r").reshape(-1, self.dim)
