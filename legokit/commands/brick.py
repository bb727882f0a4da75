"""`legokit brick`: inspect brick and model files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from legokit.commands.brick_compress import add_compress_parser, run_compress

HELP = "inspect and compress bricks: `brick info FILE` prints manifests as JSON; `brick compress` (int8, pruning)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="brick_command", metavar="SUBCOMMAND")
    sub.required = True
    info = sub.add_parser("info", help="print a brick's manifest (or a model's list of manifests) as JSON",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    info.add_argument("file", type=Path, help="a .brick file or a model.pt made by train/compose")
    add_compress_parser(sub)


def run(args: argparse.Namespace) -> int:
    if args.brick_command == "compress":
        return run_compress(args)
    from legokit.lego.bricks import load_bricks

    bricks = load_bricks(args.file)
    manifests = [dict(b.manifest, tokenizers=sorted(b.tokenizers)) for b in bricks]
    print(json.dumps(manifests[0] if len(manifests) == 1 else manifests, indent=2, sort_keys=True))
    return 0
