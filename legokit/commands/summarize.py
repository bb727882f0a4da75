"""`legokit summarize --model M talk.flac ...`: one ``<file>\\t<summary>`` line per recording."""

from __future__ import annotations

import argparse

from legokit.commands._inference import add_model_arguments, run_speech

HELP = "summarise recordings (any libsndfile format, any sample rate) with a trained speech summarisation model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", nargs="+", help="audio files (wav, flac, ogg, ...), each decoded in one pass")
    add_model_arguments(parser, speech=True)


def run(args: argparse.Namespace) -> int:
    return run_speech(args, "summarize")
