"""`legokit results`: add a test set's scores to an experiment's RESULTS.md, or compare experiments.

A recipe's scoring stage calls it once per test set (scoring and recording in one step):

    legokit results --exp-dir exp/mt --test-set test --ref data/test/text.en \\
        --hyp exp/mt/decode_test/hyp.txt --metrics bleu,chrf --config conf/train.yaml
    legokit results --exp-dir exp/asr --test-set test --ref data/test/text --hyp exp/asr/decode_test/hyp \
        --kaldi --metrics wer,cer --utt2spk data/test/utt2spk     # and a WER/CER table per speaker
    legokit results --exp-dir exp/mt --test-set dev --scores exp/mt/decode_dev/scores.json
    legokit results --compare exp/mt_ce exp/mt_afl        # markdown table, one row per experiment/set
"""

from __future__ import annotations

import argparse

from legokit.errors import LegokitError
from legokit.fileio import check_outputs
from legokit.score.metrics import METRICS, parse_metrics, score_files
from legokit.score.results import (
    MARKDOWN_NAME,
    RECORD_NAME,
    comparison_rows,
    markdown_table,
    read_scores_file,
    update_results,
)
from legokit.score.speakers import score_files_by_speaker, speaker_markdown

HELP = "record scores in an experiment's RESULTS.md (environment, git hash, config) or compare experiments"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp-dir", help="experiment directory that holds (or will hold) RESULTS.md")
    parser.add_argument("--test-set", help="name of the test set (one table row); re-scoring replaces it")
    parser.add_argument("--scores", help="JSON scores written by `legokit score --output` (instead of "
                                         "--ref/--hyp)")
    parser.add_argument("--ref", help="reference file to score, one segment per line")
    parser.add_argument("--hyp", help="hypothesis file to score, one segment per line")
    parser.add_argument("--kaldi", action="store_true",
                        help="--ref/--hyp are Kaldi style '<id> <text>' lines, matched by id")
    parser.add_argument("--utt2spk", metavar="FILE", default=None,
                        help="with --kaldi --ref/--hyp: Kaldi utt2spk ('<id> <speaker>' lines) covering every "
                             "reference id; WER and CER are also recorded per speaker (results.json 'speakers', a "
                             "per-speaker table in RESULTS.md); other metrics have none")
    parser.add_argument("--metrics", default="bleu,chrf",
                        help=f"comma-separated metrics for --ref/--hyp, from {','.join(METRICS)}")
    parser.add_argument("--config", help="training config to record; if not given, <exp-dir>/config.yaml if "
                                         "it exists, else the one recorded before")
    parser.add_argument("--compare", nargs="+", metavar="EXP_DIR",
                        help="print a markdown table of the scores of these experiment directories")


def run(args: argparse.Namespace) -> int:
    if args.compare:
        print(markdown_table(comparison_rows(args.compare), row_header="experiment/test set"), end="")
        return 0
    if not args.exp_dir or not args.test_set:
        raise LegokitError("give --exp-dir and --test-set (or --compare EXP_DIR ...)")
    if args.scores and (args.ref or args.hyp):
        raise LegokitError("give either --scores or --ref/--hyp, not both")
    if args.utt2spk and (args.scores or not args.kaldi):
        raise LegokitError("--utt2spk needs --kaldi --ref/--hyp (for --scores, write the per-speaker scores with "
                           "`legokit score --utt2spk --output`)")
    check_outputs([args.scores, args.ref, args.hyp, args.config, args.utt2spk],
                  [f"{args.exp_dir}/{RECORD_NAME}", f"{args.exp_dir}/{MARKDOWN_NAME}"])
    speakers = None
    if args.scores:
        (scores, speakers), files = read_scores_file(args.scores), {"scores": args.scores}
    elif args.ref and args.hyp:
        files = {"ref": args.ref, "hyp": args.hyp}
        if args.utt2spk:
            scores, speakers = score_files_by_speaker(args.ref, args.hyp, parse_metrics(args.metrics), args.utt2spk)
            files["utt2spk"] = args.utt2spk
        else:
            scores = score_files(args.ref, args.hyp, parse_metrics(args.metrics), kaldi=args.kaldi,
                                 count_missing=True)
    else:
        raise LegokitError("give --scores FILE.json, or both --ref and --hyp to score")
    path = update_results(args.exp_dir, args.test_set, scores, config=args.config, files=files, speakers=speakers)
    print(markdown_table([(args.test_set, scores)], row_header="test set"), end="")
    if speakers:
        print(speaker_markdown(speakers), end="")
    print(f"updated {path}")
    return 0
