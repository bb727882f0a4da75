"""`legokit tokenizer train ...`: sentencepiece models with legokit's id convention."""

from __future__ import annotations

import argparse
import logging

from legokit.commands._types import fraction, nonnegative_int, positive_int
from legokit.data.tokenizer import MODEL_TYPES, Tokenizer, train_tokenizer
from legokit.fileio import check_outputs

HELP = "train sentencepiece tokenizers (<blank>=0, <unk>=1, <s>=2, </s>=3)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train a tokenizer on text files",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--input", nargs="+", required=True, help="training text files, one sentence a line")
    train.add_argument("--kaldi-text", action="store_true",
                       help="the input files are Kaldi text files: strip the first (id) column")
    train.add_argument("--model-prefix", required=True, help="writes <prefix>.model and <prefix>.vocab")
    train.add_argument("--vocab-size", type=positive_int, required=True,
                       help="vocabulary size including the 4 special pieces (an upper bound for char)")
    train.add_argument("--model-type", default="unigram", choices=MODEL_TYPES, help="model type")
    train.add_argument("--character-coverage", type=fraction, default=1.0,
                       help="fraction of characters covered (0.9995 for large CJK alphabets)")
    train.add_argument("--user-defined-symbols", nargs="*", default=[],
                       help="pieces always kept whole (e.g. language tags <de> <en>)")
    train.add_argument("--input-sentence-size", type=nonnegative_int, default=2_000_000,
                       help="sample at most this many sentences for training (0: all)")


def run(args: argparse.Namespace) -> int:
    check_outputs(args.input, [f"{args.model_prefix}.model", f"{args.model_prefix}.vocab"])
    path = train_tokenizer(args.input, args.model_prefix, args.vocab_size, model_type=args.model_type,
                           character_coverage=args.character_coverage,
                           user_defined_symbols=args.user_defined_symbols, kaldi_text=args.kaldi_text,
                           input_sentence_size=args.input_sentence_size)
    logging.getLogger(__name__).info("wrote %s (%d pieces)", path, Tokenizer.load(path).vocab_size)
    return 0
