"""`legokit train`: train a brick chain (or a baseline) from a YAML config with dotted overrides."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "train a model from conf/*.yaml (+ key=value overrides); resumes a killed run; exports bricks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML experiment config (sections data, model, loss, optim, train)")
    parser.add_argument("--out-dir", required=True, type=Path,
                        help="experiment dir: checkpoints/, train.log, tensorboard/, curves.png, bricks/, model.pt")
    parser.add_argument("--print-config", action="store_true",
                        help="print the fully resolved config as YAML and exit")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides, e.g. optim.lr=1e-3 model.encoder.encoder.num_layers=6; "
                             "train.seed=N reproduces a run bit for bit on the same machine and thread count, "
                             "train.deterministic=true also on GPU (docs/training.md#reproducibility)")


def run(args: argparse.Namespace) -> int:
    from legokit.config import dump_yaml, load_config
    from legokit.lock import lock_dir_rank0
    from legokit.workflows.experiment import ExperimentConfig, train

    cfg = load_config(ExperimentConfig, args.config, args.overrides)  # bad values: refused before --out-dir exists
    if args.print_config:
        print(dump_yaml(cfg), end="")
        return 0
    from legokit.train.trainer import TrainingInterrupted

    try:
        with lock_dir_rank0(args.out_dir):
            train(args.config, args.overrides, args.out_dir)
    except TrainingInterrupted as stop:
        logging.getLogger(__name__).warning("%s", stop)
        return 128 + int(stop.signal)  # not finished: a recipe must not go on to decode
    return 0
