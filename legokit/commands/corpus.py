"""`legokit corpus {download,prepare} NAME ...`: fetch and read the papers' corpora (see docs/corpora.md).
The prepared dirs are read back (validated) before the command returns.

    legokit corpus download wmt16 --root downloads/wmt16 --pair de-en
    legokit corpus prepare wmt16 --root downloads/wmt16 --pair de-en --out data [--download]
    legokit corpus download europarl-st --root downloads/europarl-st
    legokit corpus prepare europarl-st --root downloads/europarl-st --out data --audio-dir downloads/flac
    legokit corpus prepare how2 --root /data/how2 --out data --dump-dir dump [--max-duration 100]
"""

from __future__ import annotations

import argparse
import json

from legokit.commands._types import nonnegative_float, nonnegative_int, positive_float, positive_int

HELP = "download and prepare the real corpora: Europarl-ST (ASR), WMT16 (De-En, Ro-En), How2 (summarisation)"
NAMES = ("europarl-st", "wmt16", "how2")


def _corpus_args(p: argparse.ArgumentParser, prepare: bool) -> None:
    p.add_argument("name", choices=NAMES, help="corpus")
    p.add_argument("--root", required=True,
                   help="corpus directory: downloaded/extracted here, or a copy already on disk (db.sh)")
    p.add_argument("--pair", default="de-en", help="wmt16: language pair (de-en or ro-en)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    if not prepare:
        return
    p.add_argument("--out", required=True, help="output: Kaldi-style data dirs <out>/{train,valid,test}")
    p.add_argument("--download", action="store_true",
                   help="first download what --root lacks (as the download action does)")
    p.add_argument("--lang", default="en", help="europarl-st: spoken language to transcribe")
    p.add_argument("--targets", nargs="+", default=None,
                   help="europarl-st: target-language dirs whose segments to pool; if not given, all present")
    p.add_argument("--audio-dir", default="downloads/europarl-st-flac",
                   help="europarl-st: where m4a recordings converted to flac (ffmpeg) are written")
    p.add_argument("--nj", type=positive_int, default=1, help="europarl-st: parallel ffmpeg conversions")
    p.add_argument("--cased", action="store_true",
                   help="europarl-st: keep transcripts as released in text; without it they are lower-cased without "
                        "punctuation, as ASR is scored (text.cased always holds the released form)")
    p.add_argument("--max-words", type=positive_int, default=250, help="wmt16: drop training pairs with a longer side")
    p.add_argument("--max-ratio", type=positive_float, default=1.5, help="wmt16: drop pairs with a larger word ratio")
    p.add_argument("--dump-dir", default="dump", help="how2: feature dumps <dump-dir>/{train,valid,test}")
    p.add_argument("--max-frames", type=nonnegative_int, default=0,
                   help="how2: keep the first N frames per video (0: all)")
    p.add_argument("--max-duration", type=nonnegative_float, default=100.0,
                   help="how2: train/valid keep inputs of 0.1 s < duration < this many seconds, as ESPnet's "
                        "how2_2000h/sum1 (mdur=100); 0: keep all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter
    _corpus_args(sub.add_parser("download", formatter_class=fmt,
                                help="download (resumably) and extract a corpus into --root"), prepare=False)
    _corpus_args(sub.add_parser("prepare", formatter_class=fmt,
                                help="read a corpus in --root into Kaldi-style data dirs"), prepare=True)


def _download(args: argparse.Namespace) -> dict:
    from legokit.corpora.europarl_st import download_europarl_st
    from legokit.corpora.how2 import download_how2
    from legokit.corpora.wmt import download_wmt16

    progress = not args.no_progress
    if args.name == "europarl-st":
        path = download_europarl_st(args.root, progress=progress)
    elif args.name == "wmt16":
        path = download_wmt16(args.root, args.pair, progress=progress)
    else:
        path = download_how2(args.root)
    return {"corpus": args.name, "path": str(path)}


def _prepare(args: argparse.Namespace) -> dict:
    from legokit.corpora.europarl_st import prepare_europarl_st
    from legokit.corpora.how2 import prepare_how2
    from legokit.corpora.wmt import WMTPrepConfig, prepare_wmt16

    if args.name == "europarl-st":
        return prepare_europarl_st(args.root, args.out, args.audio_dir, lang=args.lang, targets=args.targets,
                                   nj=args.nj, cased=args.cased)
    if args.name == "wmt16":
        return prepare_wmt16(args.root, args.out, args.pair, WMTPrepConfig(args.max_words, args.max_ratio))
    return prepare_how2(args.root, args.out, args.dump_dir, max_frames=args.max_frames,
                        max_duration=args.max_duration)


def run(args: argparse.Namespace) -> int:
    if args.action == "prepare" and args.download:
        _download(args)
    stats = _download(args) if args.action == "download" else _prepare(args)
    print(json.dumps(stats, indent=1))
    return 0
