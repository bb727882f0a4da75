"""`legokit compose`: join bricks into one model after checking their interfaces."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from legokit.commands._types import positive_float

HELP = "compose bricks (encoders..., [decoder]) into a model; refuses mismatched interfaces"
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bricks", nargs="+",
                        help="brick files in chain order: encoder brick(s) then an optional decoder brick "
                             "(a model.pt, a packaged folder or an hf://owner/name hub id contributes all of "
                             "its bricks; docs/export.md)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="composed model file to write")
    parser.add_argument("--length-rate", default="auto", type=_length_rate,
                        help="length rate r of the last encoder's output length controller: 'auto' (match "
                             "the interface lengths the decoder saw in training), 'keep', or a number > 0")


def _length_rate(text: str) -> str | float | None:
    """'auto', 'keep' (None) or a finite rate > 0."""
    if text in ("auto", "keep"):
        return {"auto": "auto", "keep": None}[text]
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto', 'keep' or a number > 0, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from legokit.fileio import check_outputs
    from legokit.lego.bricks import compose, save_model
    from legokit.lego.loading import load_bricks

    check_outputs(args.bricks, [args.output])
    bricks = [b for path in args.bricks for b in load_bricks(path)]
    compose(bricks, length_rate=args.length_rate)
    save_model(bricks, args.output)
    chain = " -> ".join(f"{b.kind}({b.path})" for b in bricks)
    print(f"composed {chain} -> {args.output}")
    last_encoder = [b for b in bricks if b.kind == "encoder"][-1]
    if last_encoder.module.olc is not None:
        print(f"length rate of {last_encoder.path}: {last_encoder.module.olc.rate:.3f}")
    return 0
