"""`legokit brick`: inspect brick and model files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from legokit.commands._types import nonnegative_int
from legokit.commands.brick_compress import add_compress_parser, run_compress

HELP = ("inspect, compress and export bricks: `brick info FILE` prints manifests as JSON; `brick compress` "
        "(int8, pruning); `brick export --format hf|onnx` (docs/export.md)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="brick_command", metavar="SUBCOMMAND")
    sub.required = True
    info = sub.add_parser("info", help="print a brick's manifest (or a model's list of manifests) as JSON",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    info.add_argument("file", help="a .brick file, a model.pt, a packaged folder or an hf://owner/name hub id")
    add_compress_parser(sub)
    export = sub.add_parser("export", help="package bricks in the Hugging Face hub layout (--format hf) or an "
                            "encoder brick with greedy CTC as ONNX (--format onnx); docs/export.md",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    export.add_argument("file", help="a .brick file, a model.pt (a chain), a packaged folder or an hf:// hub id")
    export.add_argument("output", type=Path, help="hf: the folder to write; onnx: the .onnx file to write")
    export.add_argument("--format", required=True, choices=("hf", "onnx"), help="what to write")
    export.add_argument("--brick", type=nonnegative_int, default=0,
                        help="onnx: which brick of a chain to export (chain index; it must be an encoder)")
    export.add_argument("--license", default="unknown", help="hf: licence of the weights (model card front matter)")
    export.add_argument("--language", action="append",
                        help="hf: a language code of the model card (repeatable; default: the training config's "
                             "source and target languages)")
    export.add_argument("--data-license", help="hf: licence of the training data; if not given, the manifest's, "
                        "or 'not recorded'")


def run_export(args: argparse.Namespace) -> int:
    """Write the packaged folder or the ONNX model."""
    from legokit.errors import LegokitError
    from legokit.fileio import check_outputs
    from legokit.lego import hub
    from legokit.lego.loading import load_bricks

    if args.format == "hf" and args.output.is_file():
        raise LegokitError(f"{args.output}: --format hf writes a folder, but this is an existing file")
    if args.format == "hf" and args.output.is_dir() and any(args.output.iterdir()) \
            and not (args.output / hub.CONFIG).is_file():
        raise LegokitError(f"{args.output}: not empty and not a packaged brick folder; choose a new or empty folder")
    if args.format == "onnx":
        check_outputs([] if hub.is_hub_id(args.file) else [args.file], [args.output])
    bricks = load_bricks(args.file)
    if args.format == "hf":
        hub.export_folder(bricks, args.output, args.license, args.language, args.data_license)
        print(f"wrote {len(bricks)} brick(s) of {args.file} to {args.output}/ (config.json, {hub.WEIGHTS}, "
              f"tokenizers, {hub.CARD})")
        return 0
    if args.brick >= len(bricks):
        raise LegokitError(f"{args.file}: --brick {args.brick}, but the chain has {len(bricks)} brick(s)")
    from legokit.lego.onnx import export_encoder_onnx

    export_encoder_onnx(bricks[args.brick], args.output)
    print(f"wrote {args.output}: brick {args.brick} of {args.file} with greedy CTC (onnxruntime, dynamic batch/time)")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.brick_command == "compress":
        return run_compress(args)
    if args.brick_command == "export":
        return run_export(args)
    from legokit.lego.loading import load_bricks

    bricks = load_bricks(args.file)
    manifests = [dict(b.manifest, tokenizers=sorted(b.tokenizers)) for b in bricks]
    print(json.dumps(manifests[0] if len(manifests) == 1 else manifests, indent=2, sort_keys=True))
    return 0
