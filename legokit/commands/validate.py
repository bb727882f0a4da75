"""`legokit validate DIR [--langs de en]`: check a Kaldi-style data dir, report the first bad line."""

from __future__ import annotations

import argparse

from legokit.data.datadir import read_speech_dir, validate_text_dir

HELP = "check a speech data dir (wav.scp, text, utt2spk[, segments]) or an MT dir (text.<lang>)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", help="the data directory to check")
    parser.add_argument("--langs", nargs="+", default=None,
                        help="check an MT dir with files text.<lang> for these languages (else a speech dir)")


def run(args: argparse.Namespace) -> int:
    if args.langs:
        count = validate_text_dir(args.data_dir, args.langs)
        print(f"{args.data_dir}: OK, {count} aligned examples in {', '.join(args.langs)}")
    else:
        utts = read_speech_dir(args.data_dir)
        speakers = len({u.speaker for u in utts})
        print(f"{args.data_dir}: OK, {len(utts)} utterances, {speakers} speakers")
    return 0
