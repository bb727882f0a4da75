"""`legokit translate --model M [--input FILE|-]`: translate sentences, one output line per input line."""

from __future__ import annotations

import argparse
import sys

from legokit.commands._inference import add_model_arguments, load_model, write_results

HELP = "translate sentences (one per line, from a file or stdin) with a trained MT model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", default="-", help="UTF-8 text file of sentences, one per line; - reads stdin")
    add_model_arguments(parser, speech=False)


def run(args: argparse.Namespace) -> int:
    from legokit.errors import LegokitError
    from legokit.fileio import read_text_lines, split_lines

    if args.input == "-":
        try:
            sentences = split_lines(sys.stdin.buffer.read().decode("utf-8"))
        except UnicodeDecodeError as err:
            raise LegokitError(f"<stdin>: not UTF-8 text ({err.reason} at byte {err.start})") from None
    else:
        sentences = read_text_lines(args.input)
    model = load_model(args, [] if args.input == "-" else [args.input])
    write_results(args, sentences, model.translate(sentences), None)
    return 0
