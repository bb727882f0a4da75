"""`legokit analyze`: analyses of system outputs.

    legokit analyze longtail --train-ref data/train/text.en --ref data/test/text.en \\
        --hyp exp/ce/hyp.txt exp/afl/hyp.txt --labels ce,anti-focal --tokenize spm:data/spm.model \\
        --png exp/longtail.png --json exp/longtail.json
"""

from __future__ import annotations

import argparse

from legokit.errors import LegokitError

HELP = "analyse system outputs (longtail: token F-measure by training-set frequency)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    p = sub.add_parser("longtail", help="token F-measure and token shares bucketed by training frequency",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--train-ref", required=True, help="training target text (one segment per line) "
                                                      "whose token counts define the buckets")
    p.add_argument("--ref", required=True, help="test references, one segment per line")
    p.add_argument("--hyp", required=True, nargs="+", help="hypothesis file(s), one per system")
    p.add_argument("--labels", default=None, help="comma-separated system names; if not given, the file names")
    p.add_argument("--buckets", default="1,2,3,4,5-9,10-99,100-999,1000+",
                   help="training-frequency buckets: N, A-B or N+; unseen (0) and open-ended buckets "
                        "are added when missing")
    p.add_argument("--tokenize", default="13a", help="token definition: word, 13a or spm:MODEL")
    p.add_argument("--kaldi", action="store_true",
                   help="all files are Kaldi style '<id> <text>' lines (ref/hyp matched by id)")
    p.add_argument("--png", default=None, help="write a bar chart here")
    p.add_argument("--json", default=None, help="write the per-bucket counts and scores here")


def _labels(args: argparse.Namespace) -> list[str]:
    if args.labels is None:
        return list(args.hyp)
    labels = [label.strip() for label in args.labels.split(",")]
    if len(labels) != len(args.hyp):
        raise LegokitError(f"--labels gives {len(labels)} name(s) for {len(args.hyp)} --hyp file(s)")
    return labels


def run(args: argparse.Namespace) -> int:
    from legokit.fileio import check_outputs
    from legokit.score import longtail
    from legokit.score.io import read_kaldi, read_lines, read_pair, write_json

    check_outputs([args.train_ref, args.ref, *args.hyp], [args.json, args.png])
    buckets = longtail.parse_buckets(args.buckets)
    tokenize = longtail.make_tokenizer(args.tokenize)
    train = list(read_kaldi(args.train_ref).values()) if args.kaldi else read_lines(args.train_ref)
    systems = {}
    for label, hyp in zip(_labels(args), args.hyp):
        _, refs, systems[label] = read_pair(args.ref, hyp, kaldi=args.kaldi)
    result = longtail.analyze(train, refs, systems, buckets, tokenize)
    print(longtail.format_table(result), end="")
    if args.json:
        write_json(result, args.json)
    if args.png:
        longtail.plot(result, args.png)
    return 0
