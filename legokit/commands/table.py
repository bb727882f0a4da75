"""`legokit table`: summary tables across the experiments of a recipe."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "summary tables of a recipe's experiments (e.g. the LegoNN reuse table)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["reuse", "losses"],
                        help="reuse: baseline / zero-shot / fine-tuned score per task (egs/lego_reuse), "
                             "then the paired bootstrap of zero-shot - baseline, fine-tuned - baseline and "
                             "fine-tuned - zero-shot (difference [95%% interval] p, as `legokit score METRIC "
                             "--compare` prints them, from the ref/hyp files each results.json records; "
                             "'n/a: FILE missing' without them; utterances a system has no hypothesis for are scored "
                             "as empty and counted under the table); a row with any system above 60%% WER or below "
                             "1.0 BLEU is marked 'not converged' and not compared; "
                             "losses: BLEU, chrF and rare-word F per training loss (compare_losses.sh)")
    parser.add_argument("--exp-dir", required=True, type=Path, help="the recipe's experiment root (exp/)")
    parser.add_argument("--out", type=Path, help="also write the table to this file (e.g. exp/RESULTS.md)")
    parser.add_argument("--losses", default="ce,ce_ls,af,ls_af", help="losses: loss names (loss_<name>_s<seed>)")
    parser.add_argument("--seeds", default="1,2,3", help="losses: comma-separated seeds")
    parser.add_argument("--longtail", type=Path, help="losses: JSON of `legokit analyze longtail` over the systems")


def run(args: argparse.Namespace) -> int:
    from legokit.fileio import check_outputs, write_atomic

    # inputs: the systems' results.json (in sub-directories) and, for losses, the long-tail JSON; not the exp dir's
    # own files, which include the table an earlier run wrote (exp/RESULTS.md is rewritten on every run)
    longtail = (args.longtail or args.exp_dir / "longtail.json") if args.kind == "losses" else None
    check_outputs([longtail, *sorted(args.exp_dir.glob("*/results.json"))], [args.out])
    if args.kind == "reuse":
        from legokit.score.reuse_table import render_reuse_table

        text = render_reuse_table(args.exp_dir)
    else:
        from legokit.score.loss_table import render_loss_table

        text = render_loss_table(args.exp_dir, args.losses.split(","), [int(s) for s in args.seeds.split(",")],
                                 longtail)
    if args.out:
        write_atomic(text, args.out)
    print(text)
    return 0
