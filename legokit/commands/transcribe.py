"""`legokit transcribe --model M a.wav b.flac ...`: one ``<file>\\t<text>`` line per recording."""

from __future__ import annotations

import argparse

from legokit.commands._inference import add_model_arguments, run_speech

HELP = "transcribe recordings (any libsndfile format, any sample rate) with a trained speech recognition model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", nargs="+", help="audio files (wav, flac, ogg, ...), each decoded in one pass")
    add_model_arguments(parser, speech=True)


def run(args: argparse.Namespace) -> int:
    return run_speech(args, "transcribe")
