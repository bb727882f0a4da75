"""`legokit prepare {debian-mt,espeak-speech,festival-speech,debian-noise,debian-sum,debian-lm-text}`: data sets from
Debian."""

from __future__ import annotations

import argparse
import json

from legokit.commands._types import fraction, nonnegative_int, positive_int
from legokit.corpora.debian_lm import LMTextConfig, prepare_debian_lm_text
from legokit.corpora.debian_mt import DEFAULT_SIZES, PAIRS, SOURCES, MTPrepConfig, prepare_debian_mt
from legokit.corpora.debian_sum import SumPrepConfig, prepare_debian_sum
from legokit.corpora.espeak import EspeakConfig, make_espeak_speech
from legokit.corpora.festival import FestivalConfig, make_festival_speech
from legokit.corpora.noise import PACKAGES as NOISE_PACKAGES
from legokit.corpora.noise import prepare_noise
from legokit.lock import lock_dir

HELP = ("prepare data sets from Debian packages: De-En/Ro-En text, espeak-ng and Festival English speech, "
        "summarisation, English LM text")


def _common(p: argparse.ArgumentParser, download: bool = True) -> None:
    p.add_argument("--out", required=True, help="output directory (Kaldi-style data dirs)")
    if download:
        p.add_argument("--download-dir", default="downloads", help="cache for .deb files and apt lists")
    p.add_argument("--force", action="store_true", help="redo the work even if a .completed marker exists")


def _speech_output(p: argparse.ArgumentParser, defaults: EspeakConfig | FestivalConfig, program: str) -> None:
    """The options espeak-speech and festival-speech share: sample rate, sides, size, splits and processes."""
    p.add_argument("--sample-rate", type=positive_int, default=defaults.sample_rate, help="output sample rate in Hz")
    p.add_argument("--speak", default=defaults.speak, help="spoken side: reads text.<speak> (e.g. en, doc)")
    p.add_argument("--target", default=defaults.target, help="side written to `text`: text.<target> (e.g. en, sum)")
    p.add_argument("--max-utts", type=nonnegative_int, default=0, help="utterances per split, chosen by hash (0: all)")
    p.add_argument("--skip-utts", type=nonnegative_int, default=0,
                   help="pass over this many utterances of the hash order first: other sentences than a run with 0 "
                        "(e.g. Festival training text disjoint from espeak-ng's)")
    p.add_argument("--splits", nargs="+", default=defaults.splits, help="splits to speak")
    p.add_argument("--nj", type=positive_int, default=1, help=f"parallel {program} processes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    mt = sub.add_parser("debian-mt", formatter_class=fmt,
                        help="De-En or Ro-En parallel text from Ding, DDTP and gettext catalogs")
    _common(mt)
    mt.add_argument("--pair", choices=PAIRS, default="de-en", help="language pair (English is the target)")
    mt.add_argument("--valid-size", type=nonnegative_int, default=0,
                    help=f"sentences in valid (0: pair default, valid/test {DEFAULT_SIZES})")
    mt.add_argument("--test-size", type=nonnegative_int, default=0, help="sentences in test (0: pair default)")
    mt.add_argument("--heldout-fraction", type=fraction, default=0.1,
                    help="English hash region reserved for valid/test; keep it equal across pairs")
    mt.add_argument("--max-pairs", type=nonnegative_int, default=0, help="cap on pairs, chosen by hash (0: all)")
    mt.add_argument("--sources", nargs="+", default=[s.tag for s in SOURCES],
                    choices=[s.tag for s in SOURCES], help="sources to use, in de-duplication priority")

    sp = sub.add_parser("espeak-speech", formatter_class=fmt,
                        help="speak an MT-style dir (train/valid/test) with espeak-ng into speech dirs")
    _common(sp, download=False)
    d = EspeakConfig()
    sp.add_argument("--text-dir", required=True, help="dir with <split>/text.<speak> (from debian-mt/-sum)")
    sp.add_argument("--voices", nargs="+", default=d.voices, help="espeak-ng voices for train and valid")
    sp.add_argument("--test-voices", nargs="+", default=d.test_voices,
                    help="espeak-ng voices for test (must differ from --voices)")
    sp.add_argument("--speeds", nargs="+", type=positive_int, default=d.speeds, help="speaking rates (-s, words/min)")
    sp.add_argument("--pitches", nargs="+", type=nonnegative_int, default=d.pitches, help="pitches (-p, 0-99)")
    _speech_output(sp, d, "espeak-ng")

    fe = sub.add_parser("festival-speech", formatter_class=fmt,
                        help="speak an MT-style dir (train/valid/test) with Festival's Debian English voices")
    _common(fe, download=False)
    f = FestivalConfig()
    fe.add_argument("--text-dir", required=True, help="dir with <split>/text.<speak> (from debian-mt/-sum)")
    fe.add_argument("--voices", nargs="+", default=f.voices, help="Festival voices for train and valid")
    fe.add_argument("--test-voices", "--heldout-voice", nargs="+", default=f.test_voices,
                    help="held-out Festival voices, the only ones in test (must differ from --voices)")
    fe.add_argument("--stretches", nargs="+", type=float, default=f.stretches,
                    help="Duration_Stretch values (>1: slower)")
    fe.add_argument("--f0-means", nargs="+", type=float, default=f.f0_means,
                    help="mean pitches in Hz, one drawn per utterance (40-400; not given: each voice's own, "
                         "~105 Hz for kal and ked): moves the diphone voices' intonation targets (int_lr_params), "
                         "e.g. 105 140 175 210 for female-range pitch too; HTS voices keep their own")
    _speech_output(fe, f, "Festival")

    no = sub.add_parser("debian-noise", formatter_class=fmt,
                        help="recorded noises from a Debian package (openttd-opensfx for data.augment.noise_dir, "
                             "extremetuxracer-data for noisy test sets)")
    _common(no)
    no.add_argument("--package", choices=list(NOISE_PACKAGES), default="openttd-opensfx",
                    help="package of recordings: " + "; ".join(f"{k}: {v.about}" for k, v in NOISE_PACKAGES.items()))
    no.add_argument("--sample-rate", type=positive_int, default=16000, help="output sample rate in Hz")

    sm = sub.add_parser("debian-sum", formatter_class=fmt,
                        help="summarisation set: package long descriptions -> synopses")
    _common(sm)
    s = SumPrepConfig()
    sm.add_argument("--lists-dir", default=None,
                    help="apt lists dir holding Translation-en files; if not given, a private apt-get update")
    sm.add_argument("--min-words", type=nonnegative_int, default=s.min_words, help="minimum document length in words")
    sm.add_argument("--max-words", type=nonnegative_int, default=s.max_words, help="maximum document length (0: none)")
    sm.add_argument("--max-docs", type=nonnegative_int, default=s.max_docs, help="cap on documents, by hash (0: all)")
    sm.add_argument("--valid-size", type=nonnegative_int, default=s.valid_size, help="documents in valid")
    sm.add_argument("--test-size", type=nonnegative_int, default=s.test_size, help="documents in test")
    sm.add_argument("--heldout-fraction", type=fraction, default=s.heldout_fraction,
                    help="document hash region reserved for valid/test")

    lm = sub.add_parser("debian-lm-text", formatter_class=fmt,
                        help="English LM text: package descriptions, without debian-mt's valid/test sentences",
                        description="Every synopsis and long-description sentence of Debian's Translation-en, one a "
                                    "line, as Kaldi text (<out>/text) for `legokit lm train --kaldi-text`. Left out: "
                                    "sentences in the hash region from which `legokit prepare debian-mt` draws valid "
                                    "and test (same --heldout-fraction), and sentences equal (in the ASR scoring "
                                    "form) to one of an --exclude file.")
    _common(lm)
    t = LMTextConfig()
    lm.add_argument("--lists-dir", default=None,
                    help="apt lists dir holding Translation-en files; if not given, a private apt-get update")
    lm.add_argument("--heldout-fraction", type=fraction, default=t.heldout_fraction,
                    help="sentence hash region left out: debian-mt's --heldout-fraction")
    lm.add_argument("--no-synopses", dest="synopses", action="store_false",
                    help="leave out the one-line synopses (long-description sentences only)")
    lm.add_argument("--exclude", nargs="+", default=[], metavar="TEXT",
                    help="Kaldi text files (<id> <sentence>) whose sentences are left out, e.g. the test sets")


def run(args: argparse.Namespace) -> int:
    with lock_dir(args.out):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.dataset == "debian-mt":
        cfg = MTPrepConfig(pair=args.pair, valid_size=args.valid_size, test_size=args.test_size,
                           heldout_fraction=args.heldout_fraction, max_pairs=args.max_pairs,
                           sources=args.sources)
        stats = prepare_debian_mt(args.out, args.download_dir, cfg, force=args.force)
    elif args.dataset == "espeak-speech":
        cfg = EspeakConfig(voices=args.voices, test_voices=args.test_voices, speeds=args.speeds,
                           pitches=args.pitches, sample_rate=args.sample_rate, speak=args.speak,
                           target=args.target, max_utts=args.max_utts, skip_utts=args.skip_utts,
                           splits=args.splits)
        stats = make_espeak_speech(args.text_dir, args.out, cfg, nj=args.nj, force=args.force)
    elif args.dataset == "festival-speech":
        cfg = FestivalConfig(voices=args.voices, test_voices=args.test_voices, stretches=args.stretches,
                             f0_means=args.f0_means, sample_rate=args.sample_rate, speak=args.speak, target=args.target,
                             max_utts=args.max_utts, skip_utts=args.skip_utts, splits=args.splits)
        stats = make_festival_speech(args.text_dir, args.out, cfg, nj=args.nj, force=args.force)
    elif args.dataset == "debian-noise":
        stats = prepare_noise(args.out, args.download_dir, args.sample_rate, package=args.package)
    elif args.dataset == "debian-lm-text":
        cfg = LMTextConfig(heldout_fraction=args.heldout_fraction, synopses=args.synopses, exclude=args.exclude)
        stats = prepare_debian_lm_text(args.out, args.download_dir, cfg, lists_dir=args.lists_dir, force=args.force)
    else:
        cfg = SumPrepConfig(min_words=args.min_words, max_words=args.max_words, max_docs=args.max_docs,
                            valid_size=args.valid_size, test_size=args.test_size,
                            heldout_fraction=args.heldout_fraction)
        stats = prepare_debian_sum(args.out, args.download_dir, cfg, lists_dir=args.lists_dir, force=args.force)
    print(json.dumps(stats, indent=1))
    return 0
