"""`legokit features --data-dir D --out-dir O`: dump log-mel fbank features and global CMVN stats."""

from __future__ import annotations

import argparse
import logging

from legokit.commands._types import nonnegative_float, positive_float, positive_int
from legokit.data.fbank_config import FbankConfig
from legokit.fileio import check_outputs
from legokit.lock import lock_dir

HELP = "compute Kaldi-compatible log-mel fbank features of a speech data dir (feats.scp + cmvn.json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = FbankConfig()
    parser.add_argument("--data-dir", required=True, help="speech data dir to read")
    parser.add_argument("--out-dir", required=True, help="output dir (shards, feats.scp, cmvn.json)")
    parser.add_argument("--nj", type=positive_int, default=1, help="number of parallel processes")
    parser.add_argument("--shard-size", type=positive_int, default=1000, help="utterances per shard file")
    parser.add_argument("--num-mel-bins", type=positive_int, default=defaults.num_mel_bins, help="feature dimension")
    parser.add_argument("--sample-rate", type=positive_int, default=defaults.sample_rate,
                        help="audio is resampled to this rate (Hz) first")
    parser.add_argument("--frame-length-ms", type=positive_float, default=defaults.frame_length_ms,
                        help="window length")
    parser.add_argument("--frame-shift-ms", type=positive_float, default=defaults.frame_shift_ms, help="frame hop")
    parser.add_argument("--dither", type=nonnegative_float, default=defaults.dither, help="dither (0 = deterministic)")


def run(args: argparse.Namespace) -> int:
    from legokit.data.featdump import CMVN_FILE, FEATS_SCP, META_FILE, dump_features  # imports torch

    check_outputs([args.data_dir], [f"{args.out_dir}/{name}" for name in (FEATS_SCP, CMVN_FILE, META_FILE)])
    cfg = FbankConfig(num_mel_bins=args.num_mel_bins, frame_length_ms=args.frame_length_ms,
                      frame_shift_ms=args.frame_shift_ms, dither=args.dither, sample_rate=args.sample_rate)
    with lock_dir(args.out_dir):
        scp = dump_features(args.data_dir, args.out_dir, cfg, nj=args.nj, shard_size=args.shard_size,
                            progress=logging.getLogger().isEnabledFor(logging.INFO))
    logging.getLogger(__name__).info("wrote %s", scp)
    return 0
