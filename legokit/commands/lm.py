"""`legokit lm train ...`: word n-gram language models (ARPA) for CTC shallow fusion (docs/decoding.md)."""

from __future__ import annotations

import argparse

from legokit.commands._types import positive_int

HELP = "train a word n-gram LM (interpolated modified Kneser-Ney, ARPA) for CTC decoding with an LM"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser(
        "train", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="estimate an n-gram LM on text and write it in ARPA format",
        description="Estimate an interpolated modified Kneser-Ney word n-gram LM (as KenLM's lmplz, without "
                    "pruning) on text in the ASR scoring form (lower-cased, punctuation removed, apostrophes in "
                    "words kept) and write it in ARPA format, for `legokit decode ... ctc_lm.arpa=OUT`. Orders "
                    "with too few distinct counts to estimate their discounts use 0.5, 1.0, 1.5 (lmplz's "
                    "--discount_fallback), as the log says. KenLM reads the file (kenlm.Model) from order 2 on.")
    train.add_argument("--text", nargs="+", required=True,
                       help="training text files, one sentence a line (Kaldi text files with --kaldi-text)")
    train.add_argument("--kaldi-text", action="store_true",
                       help="the text files are Kaldi text files: drop the first (id) field of each line")
    train.add_argument("--order", type=positive_int, default=3, help="n-gram order")
    train.add_argument("--out", required=True, help="the ARPA file to write")


def run(args: argparse.Namespace) -> int:
    from legokit.fileio import check_outputs
    from legokit.lm.ngram import train_arpa

    check_outputs(args.text, [args.out])
    train_arpa(args.text, args.out, order=args.order, kaldi_text=args.kaldi_text)
    return 0
