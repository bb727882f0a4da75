"""`legokit table`: summary tables across the experiments of a recipe."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "summary tables of a recipe's experiments (e.g. the LegoNN reuse table)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["reuse"],
                        help="reuse: baseline / zero-shot / fine-tuned per task (egs/lego_reuse)")
    parser.add_argument("--exp-dir", required=True, type=Path, help="the recipe's experiment root (exp/)")
    parser.add_argument("--out", type=Path, help="also write the table to this file (e.g. exp/RESULTS.md)")


def run(args: argparse.Namespace) -> int:
    from legokit.score.reuse_table import render_reuse_table

    text = render_reuse_table(args.exp_dir)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0
