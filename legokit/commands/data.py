"""`legokit data split|merge-hyps|merge-feats|combine|augment|export-kaldi`: split a data dir into N jobs' parts and
merge their outputs; combine data dirs; write a noisy/reverberant copy of a data dir; export a feature dump as Kaldi
feats.ark/feats.scp/cmvn.ark."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from legokit.commands._types import finite_float, fraction, nonnegative_int, positive_float, positive_int
from legokit.errors import LegokitError

HELP = ("split a data dir for N jobs (DIR/splitN/k, as Kaldi) and merge the jobs' hypotheses or feature dumps; "
        "combine data dirs; write a noisy/reverberant copy of a data dir; export a feature dump as Kaldi files")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    split = sub.add_parser("split", help="write DIR/splitN/1..N: contiguous runs of utterances, every Kaldi file "
                                         "(text, text.<lang>, utt2spk, spk2utt, segments, wav.scp, ...) filtered",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    split.add_argument("data_dir", type=Path, metavar="DIR", help="Kaldi-style speech or MT data dir")
    split.add_argument("num", type=positive_int, metavar="N", help="number of parts (jobs)")
    for name, what in (("merge-hyps", "hypothesis files of N decode jobs into one, in the data dir's order"),
                       ("merge-feats", "feature dumps of N features jobs into one index (CMVN stats summed)")):
        p = sub.add_parser(name, help=f"join the {what}", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.add_argument("--data-dir", required=True, type=Path, help="the data dir that was split (gives the ids)")
        p.add_argument("--nj", required=True, type=positive_int, help="number of jobs (parts) to merge")
        p.add_argument("pattern", metavar="PATTERN",
                       help="path of one job's output with JOB for its index, e.g. exp/dec/split4/hyp.JOB"
                            if name == "merge-hyps" else "dump dir of one job with JOB for its index, e.g. "
                            "dump/test/split4/JOB")
        if name == "merge-hyps":
            p.add_argument("--out", required=True, type=Path, help="merged hypotheses (<id> <text>)")
        else:
            p.add_argument("--out-dir", required=True, type=Path,
                           help="merged dump: feats.scp (pointing at the parts' shards), cmvn.json, fbank.json")
    combine = sub.add_parser("combine", help="write OUT, the union of data dirs (Kaldi's utils/combine_data.sh): "
                                             "the files every source has, sorted; spk2utt rebuilt",
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    combine.add_argument("out", type=Path, metavar="OUT", help="output data dir (not one of the sources)")
    combine.add_argument("sources", type=Path, nargs="+", metavar="DIR", help="data dirs to join (ids must differ)")
    combine.add_argument("--normalise-text", action="store_true",
                         help="write `text` in the ASR scoring form (lower-case, punctuation removed, apostrophes "
                              "inside words kept) and the original in `text.cased`")
    _augment_arguments(sub)
    export = sub.add_parser("export-kaldi", help="write a feature dump as Kaldi feats.ark, feats.scp (a real Kaldi "
                                                 "script file, which legokit's own feats.scp index is not) and "
                                                 "cmvn.ark, for Kaldi, ESPnet, lhotse or kaldiio")
    export.add_argument("dump", type=Path, metavar="DUMP", help="legokit feature dump: its directory or feats.scp")
    export.add_argument("out_dir", type=Path, metavar="OUT", help="output directory (not the dump itself)")


def _augment_arguments(sub: argparse._SubParsersAction) -> None:
    aug = sub.add_parser("augment", help="write OUT, a corrupted copy of a speech data dir (additive noise, synthetic "
                                         "reverberation, speed perturbation, vocoder resynthesis; Kaldi's "
                                         "augment_data_dir.py and reverberate_data_dir.py): OUT/wav/<utt>.wav, "
                                         "OUT/wav.scp, the other Kaldi files copied",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    aug.add_argument("src", type=Path, metavar="SRC", help="source speech data dir (wav.scp, text, utt2spk, "
                                                           "optional segments: OUT then has one wav per utterance)")
    aug.add_argument("out", type=Path, metavar="OUT", help="output data dir (not SRC, not inside SRC)")
    aug.add_argument("--noise-dir", default="", help="dir of noise recordings (*.wav/.flac/.ogg, e.g. from "
                                                     "`legokit prepare debian-noise`); empty: no added noise")
    aug.add_argument("--snr-db", nargs=2, type=finite_float, default=[10.0, 20.0], metavar=("LOW", "HIGH"),
                     help="signal-to-noise ratio in dB, drawn uniformly from [LOW, HIGH] per utterance")
    aug.add_argument("--noise-prob", type=fraction, default=1.0,
                     help="fraction of utterances that get noise (with --noise-dir)")
    aug.add_argument("--reverb-prob", type=fraction, default=0.0,
                     help="fraction of utterances convolved with a synthetic room impulse response (length and "
                          "RMS kept)")
    aug.add_argument("--rt60", nargs=2, type=positive_float, default=[0.2, 0.8], metavar=("LOW", "HIGH"),
                     help="reverberation time in seconds, drawn uniformly from [LOW, HIGH] per reverberated utterance")
    aug.add_argument("--speed", nargs="+", type=positive_float, default=[], metavar="F",
                     help="speed factors, one drawn per utterance (tempo and pitch change, length / F); none: off")
    aug.add_argument("--vocode-prob", type=fraction, default=0.0,
                     help="fraction of utterances resynthesised by a pulse/noise vocoder (legokit/data/vocoder.py: "
                          "the sound of HTS-style parametric synthesis), before speed, reverberation and noise")
    aug.add_argument("--vocode-f0-scale", nargs=2, type=positive_float, default=[1.0, 1.0], metavar=("LOW", "HIGH"),
                     help="vocoded pitch = the source's times a factor drawn uniformly from [LOW, HIGH]")
    aug.add_argument("--vocode-warp", nargs=2, type=positive_float, default=[1.0, 1.0], metavar=("LOW", "HIGH"),
                     help="vocoded formants = the source's times a factor drawn uniformly from [LOW, HIGH] (> 1: a "
                          "shorter vocal tract)")
    aug.add_argument("--vocode-smooth", nargs=2, type=positive_int, default=[1, 1], metavar=("LOW", "HIGH"),
                     help="the vocoded spectral envelope is averaged over N 5-ms frames, N drawn from [LOW, HIGH] "
                          "(1: not smoothed)")
    aug.add_argument("--utt-prefix", default="",
                     help="prefix every utterance id of OUT with this (Kaldi's --utt-prefix), so OUT can be combined "
                          "with SRC by `legokit data combine`")
    aug.add_argument("--spk-prefix", default="",
                     help="prefix every speaker id of OUT with this (a vocoded voice is another speaker)")
    aug.add_argument("--seed", type=nonnegative_int, default=0,
                     help="random seed; utterance u draws from (seed, 0, crc32(u)): the same seed gives "
                          "byte-identical output")
    aug.add_argument("--force", action="store_true", help="overwrite an OUT that already holds a data dir")


def _augment(args: argparse.Namespace) -> dict:
    from legokit.data.augment import AugmentConfig
    from legokit.data.corrupt import augment_data_dir

    for name, (low, high) in (("--snr-db", args.snr_db), ("--rt60", args.rt60),
                              ("--vocode-f0-scale", args.vocode_f0_scale), ("--vocode-warp", args.vocode_warp),
                              ("--vocode-smooth", args.vocode_smooth)):
        if low > high:
            raise LegokitError(f"{name} {low:g} {high:g}: expected LOW <= HIGH")
    cfg = AugmentConfig(speed_perturb=args.speed, noise_dir=args.noise_dir, noise_prob=args.noise_prob,
                        noise_snr_db=list(args.snr_db), reverb_prob=args.reverb_prob, rt60=list(args.rt60),
                        vocode_prob=args.vocode_prob, vocode_f0_scale=list(args.vocode_f0_scale),
                        vocode_warp=list(args.vocode_warp), vocode_smooth=list(args.vocode_smooth))
    return augment_data_dir(args.src, args.out, cfg, seed=args.seed, force=args.force, utt_prefix=args.utt_prefix,
                            spk_prefix=args.spk_prefix)


def _parts(pattern: str, num: int) -> list[Path]:
    if "JOB" not in pattern:
        raise LegokitError(f"PATTERN '{pattern}' has no JOB to replace by the job index 1..{num}")
    return [Path(pattern.replace("JOB", str(k))) for k in range(1, num + 1)]


def run(args: argparse.Namespace) -> int:
    from legokit.data import split

    logger = logging.getLogger(__name__)
    if args.action == "split":
        parts = split.split_data_dir(args.data_dir, args.num)
        logger.info("wrote %d parts under %s", len(parts), parts[0].parent)
    elif args.action == "merge-hyps":
        count = split.merge_hyps(args.data_dir, _parts(args.pattern, args.nj), args.out)
        logger.info("merged %d hypotheses of %d jobs into %s", count, args.nj, args.out)
    elif args.action == "merge-feats":
        scp = split.merge_features(args.data_dir, _parts(args.pattern, args.nj), args.out_dir)
        logger.info("merged the feature dumps of %d jobs into %s", args.nj, scp)
    elif args.action == "combine":
        count = split.combine_data_dirs(args.sources, args.out, args.normalise_text)
        logger.info("combined %d utterances of %d data dirs into %s", count, len(args.sources), args.out)
    elif args.action == "augment":
        stats = _augment(args)
        logger.info("wrote %d corrupted utterances (%.3f h, %d scaled down from past full scale) and %s into %s",
                    stats["utterances"], stats["hours"], stats["rescaled"], ", ".join(stats["copied"]), args.out)
    else:
        from legokit.data.kaldi_export import export_kaldi

        logger.info("wrote Kaldi features of %s: %s", args.dump, export_kaldi(args.dump, args.out_dir))
    return 0
