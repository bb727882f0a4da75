"""`legokit score`: BLEU, chrF, WER, CER and ROUGE of a hypothesis file against a reference file.

    legokit score bleu --ref data/test/text.en --hyp exp/mt/decode_test/hyp.txt --json
    legokit score all --ref ref.txt --hyp hyp.txt --metrics bleu,chrf --output scores.json
    legokit score wer --ref data/test/text --hyp exp/asr/decode_test/text --kaldi
    legokit score wer --ref data/test/text --hyp exp/asr/decode_test/text --kaldi --utt2spk data/test/utt2spk
    legokit score rouge --ref data/test/text --hyp exp/sum_e2e/decode_test/hyp \
        --compare exp/cascade/decode_test/hyp --kaldi     # paired bootstrap: E2E vs cascade, p-values
"""

from __future__ import annotations

import argparse
import json

from legokit.commands._types import nonnegative_int, positive_int
from legokit.errors import LegokitError
from legokit.fileio import check_outputs
from legokit.score.io import read_pair, write_json
from legokit.score.metrics import DEFAULT_METRICS, METRICS, parse_metrics, score_files
from legokit.score.significance import format_results, paired_bootstrap
from legokit.score.speakers import format_speaker_lines, score_files_by_speaker

HELP = "score hypotheses against references (BLEU, chrF, WER, CER, ROUGE, METEOR)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("metric", choices=[*METRICS, "all"],
                        help="metric to compute; 'all' computes those listed by --metrics")
    parser.add_argument("--ref", required=True, help="reference file, one segment per line")
    parser.add_argument("--hyp", required=True, help="hypothesis file, one segment per line")
    parser.add_argument("--kaldi", action="store_true",
                        help="both files are Kaldi style '<id> <text>' lines, matched by id")
    parser.add_argument("--utt2spk", metavar="FILE", default=None,
                        help="with --kaldi: Kaldi utt2spk ('<id> <speaker>' lines) covering every reference id; "
                             "also print WER/CER per speaker (utterances, reference words/characters, score, "
                             "missing hypotheses; 'speakers' in the JSON), as sclite's per-speaker report")
    parser.add_argument("--metrics", default=None,
                        help=f"comma-separated metrics for 'all', from {','.join(METRICS)} if not given: "
                             f"{','.join(DEFAULT_METRICS)} (meteor fetches WordNet from Debian on first use)")
    parser.add_argument("--output", default=None, help="also write the JSON scores to this file")
    parser.add_argument("--json", action="store_true",
                        help="print the scores as one JSON object on the last line")
    parser.add_argument("--compare", metavar="HYP_B", default=None,
                        help="a second system's hypotheses: paired bootstrap resampling (Koehn, 2004) of --hyp "
                             "against them, printing both scores, the difference with its 95%% interval and p, "
                             "and each system's number of missing hypotheses (with --kaldi: reference ids without "
                             "one, scored as empty; also 'missing_a'/'missing_b' in every JSON record)")
    parser.add_argument("--bootstrap-samples", type=positive_int, default=1000,
                        help="resamples of the test set for --compare")
    parser.add_argument("--seed", type=nonnegative_int, default=12345,
                        help="random seed of the resampling")


def selected_metrics(args: argparse.Namespace) -> list[str]:
    """The metric names asked for by the positional metric (or 'all' + --metrics)."""
    if args.metric != "all":
        if args.metrics is not None:
            raise LegokitError(f"--metrics is only used with 'legokit score all', not with '{args.metric}'")
        return [args.metric]
    return parse_metrics(args.metrics or ",".join(DEFAULT_METRICS))


def run(args: argparse.Namespace) -> int:
    check_outputs([args.ref, args.hyp, args.compare, args.utt2spk], [args.output])
    if args.utt2spk and (not args.kaldi or args.compare):
        raise LegokitError("--utt2spk needs --kaldi (utterance ids) and is not used with --compare")
    if args.compare:
        return run_compare(args)
    speakers = None
    if args.utt2spk:
        scores, speakers = score_files_by_speaker(args.ref, args.hyp, selected_metrics(args), args.utt2spk)
    else:
        scores = score_files(args.ref, args.hyp, selected_metrics(args), kaldi=args.kaldi, count_missing=True)
    for key, value in scores.items():
        print(f"{key}\t{value}" if key == "missing" else f"{key}\t{value:.2f}")
    if speakers is not None:
        print(format_speaker_lines(speakers), end="")
        scores = {**scores, "speakers": speakers}
    if args.output:
        write_json(scores, args.output)
    if args.json:
        print(json.dumps(scores))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """--compare: paired bootstrap of --hyp (A) against --compare (B) on the same references. With --kaldi a
    reference id missing from either file is scored as an empty hypothesis of that system (read_pair warns);
    each system's count of them is printed (header and last table row) and in every JSON record."""
    missing_a: list[str] = []
    missing_b: list[str] = []
    ids, refs, hyps_a = read_pair(args.ref, args.hyp, kaldi=args.kaldi, missing=missing_a if args.kaldi else None)
    ids_b, refs_b, hyps_b = read_pair(args.ref, args.compare, kaldi=args.kaldi,
                                      missing=missing_b if args.kaldi else None)
    assert ids == ids_b and refs == refs_b  # both aligned to the reference order
    results = paired_bootstrap(refs, hyps_a, hyps_b, selected_metrics(args), args.bootstrap_samples, args.seed)
    print(f"A = {args.hyp}, B = {args.compare}: {len(refs)} segments, {args.bootstrap_samples} paired resamples; "
          f"hypotheses missing (scored as empty, all words deleted): A {len(missing_a)}, B {len(missing_b)}\n")
    print(format_results(results, missing=(len(missing_a), len(missing_b))), end="")
    records = [{**r.as_dict(), "missing_a": len(missing_a), "missing_b": len(missing_b)} for r in results]
    if args.output:
        write_json(records, args.output)
    if args.json:
        print(json.dumps(records))
    return 0
