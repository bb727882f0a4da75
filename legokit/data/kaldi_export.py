"""Export a legokit feature dump as Kaldi files that Kaldi, ESPnet, lhotse and ``kaldiio`` read.

legokit's own ``feats.scp`` is an index into raw float32 shards (``<utt> <shard>:<first>:<frames>``), not a
Kaldi script file. :func:`export_kaldi` writes, into an output directory::

    feats.ark    every utterance's (frames, dim) float32 matrix, Kaldi binary, in the dump's order
    feats.scp    Kaldi script file: ``<utt> <absolute path of feats.ark>:<byte offset>``
    cmvn.ark     global CMVN stats as Kaldi's compute-cmvn-stats writes them: one (2, dim + 1) float64
                 matrix, row 0 = per-dimension sums and the frame count, row 1 = sums of squares and 0

``feats.scp`` is removed first and written last (atomically), so an interrupted export leaves no index.
"""

from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np

from legokit.data.featdump import CMVN_FILE, FEATS_SCP, FeatureReader
from legokit.data.features import CMVNStats
from legokit.fileio import atomic_output, check_outputs

ARK, CMVN_ARK = "feats.ark", "cmvn.ark"


def kaldi_cmvn(stats: CMVNStats) -> np.ndarray:
    """CMVN stats as Kaldi's (2, dim + 1) float64 matrix."""
    return np.stack([np.append(stats.sum, stats.count), np.append(stats.sumsq, 0.0)])


def export_kaldi(dump: str | Path, out_dir: str | Path) -> Path:
    """Write ``feats.ark``, a Kaldi ``feats.scp`` and ``cmvn.ark`` of the legokit dump ``dump`` (its directory or
    its feats.scp) into ``out_dir``; returns the path of the Kaldi feats.scp."""
    dump = Path(dump)
    reader = FeatureReader(dump / FEATS_SCP if dump.is_dir() else dump)
    stats = CMVNStats.load(reader.scp.parent / CMVN_FILE)
    out = Path(out_dir)
    scp, ark = out / FEATS_SCP, (out / ARK).resolve()
    check_outputs([reader.scp.parent], [scp, ark, out / CMVN_ARK])
    scp.unlink(missing_ok=True)
    with atomic_output(out / CMVN_ARK) as tmp:
        kaldiio.save_mat(str(tmp), kaldi_cmvn(stats))
    with atomic_output(scp) as tmp_scp, open(ark, "wb") as ark_file, open(tmp_scp, "w", encoding="utf-8") as lines:
        for utt in reader.index:
            kaldiio.save_ark(ark_file, {utt: reader[utt]}, scp=lines)
    return scp
