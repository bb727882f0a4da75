"""`legokit average`: average the N best (or last) checkpoints of a training run into one model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from legokit.commands._types import positive_int
from legokit.fileio import check_outputs

HELP = "average the N best (by a validation statistic) or the last N checkpoints of an experiment"

logger = logging.getLogger("legokit.average")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp-dir", type=Path, required=True,
                        help="training directory holding checkpoints/ckpt-<step>.pt and metrics.jsonl")
    parser.add_argument("--num", type=positive_int, default=5, help="number of checkpoints to average")
    parser.add_argument("--metric", default="loss",
                        help="validation statistic in metrics.jsonl that ranks the checkpoints")
    parser.add_argument("--mode", choices=["min", "max"], default="min",
                        help="whether a lower (min) or higher (max) --metric is better")
    parser.add_argument("--last", action="store_true",
                        help="average the newest --num checkpoints instead of the best ones")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="averaged checkpoint to write (its 'model' entry is the averaged state dict)")
    parser.add_argument("--export-dir", type=Path, default=None,
                        help="also export the average as bricks/ and model.pt in this directory (what `legokit "
                             "decode`, `compose` and `legokit.load` read), with the experiment's config.yaml, "
                             "tokenizers and CMVN: e.g. an earlier point of a run, or a last-N average")


def run(args: argparse.Namespace) -> int:
    from legokit.train.checkpoint import average_checkpoints, save_checkpoint, select_checkpoints  # torch

    paths = select_checkpoints(args.exp_dir, args.num, None if args.last else args.metric, args.mode)
    check_outputs([args.exp_dir / "checkpoints", args.exp_dir / "metrics.jsonl"], [args.output])
    if len(paths) < args.num:
        logger.warning("only %d checkpoint(s) available; averaging those", len(paths))
    save_checkpoint({"model": average_checkpoints(paths), "averaged": [p.name for p in paths],
                     "metric": "last" if args.last else f"{args.mode} {args.metric}"}, args.output)
    logger.info("averaged %s into %s", ", ".join(p.name for p in paths), args.output)
    if args.export_dir is not None:
        from legokit.workflows.experiment import export_checkpoints

        check_outputs([args.exp_dir / "checkpoints", args.exp_dir / "config.yaml"],
                      [args.export_dir / "model.pt"])
        export_checkpoints(args.exp_dir, paths, args.export_dir)
        logger.info("exported the average as %s and %s", args.export_dir / "model.pt", args.export_dir / "bricks")
    return 0
