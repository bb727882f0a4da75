"""`legokit brick compress`: int8 quantisation (PTQ or QAT) or magnitude pruning of one brick.

    legokit brick compress exp/de_en/bricks/decoder.brick -o decoder.int8.brick --method int8-dynamic \\
        --upstream exp/de_en/bricks/encoder.brick --eval-data data/test --src-lang de --tgt-lang en
    legokit brick compress encoder.brick -o encoder.qat.brick --method int8-qat --qat-data data/train
    legokit brick compress decoder.brick -o decoder.pruned.brick --method prune --sparsity 0.5

The output keeps the brick's interfaces; its manifest records the method, size and (with --eval-data)
BLEU (text input) or WER (speech input) and decoding speed of the chain before and after.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from legokit.commands._types import fraction, nonnegative_int, positive_float, positive_int

#: the choices of legokit.workflows.compress (METHODS, PRUNE_SCOPES), spelt out so that `--help` does not import
#: torch; tests/commands/test_help.py checks that they agree
METHODS = ("int8-dynamic", "int8-qat", "prune")
PRUNE_SCOPES = ("global", "layer")

HELP = "compress a brick: int8 dynamic quantisation, int8 quantisation-aware fine-tuning, or pruning"


def add_compress_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``compress`` subcommand to ``legokit brick``'s subparsers."""
    p = subparsers.add_parser("compress", help=HELP, description=__doc__,
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("input", type=Path, help="the fp32 .brick file to compress")
    p.add_argument("-o", "--output", required=True, type=Path, help="where to write the compressed .brick")
    p.add_argument("--method", choices=METHODS, default="int8-dynamic",
                   help="int8-dynamic: post-training dynamic int8 Linear layers; int8-qat: fine-tune with "
                        "simulated int8 against the brick's interface loss, then int8; prune: L1 magnitude pruning")
    p.add_argument("--sparsity", type=fraction, default=0.5, help="prune: fraction of Linear weights set to zero")
    p.add_argument("--prune-scope", choices=PRUNE_SCOPES, default="global",
                   help="prune: one magnitude threshold over all layers (global) or the sparsity in each layer")
    p.add_argument("--upstream", type=Path,
                   help="brick or model file feeding this brick (kept fp32, frozen): needed to fine-tune or "
                        "evaluate a decoder or an interface-reading encoder")
    p.add_argument("--downstream", type=Path,
                   help="decoder brick after this encoder, to evaluate the whole chain (kept fp32)")
    p.add_argument("--qat-data", type=Path, help="int8-qat: training data dir (MT text.<lang> files, or speech)")
    p.add_argument("--qat-feats", type=Path, help="int8-qat, speech: feats.scp of the --qat-data feature dump")
    p.add_argument("--qat-steps", type=positive_int, default=200, help="int8-qat: fine-tuning updates")
    p.add_argument("--qat-lr", type=positive_float, default=1e-4, help="int8-qat: Adam learning rate")
    p.add_argument("--qat-dir", type=Path, help="int8-qat: where the trainer writes checkpoints, train.log and "
                        "metrics.jsonl; the same command resumes from them; if not given, a temporary directory")
    p.add_argument("--eval-data", type=Path,
                   help="data dir to decode before and after compression (BLEU for text, WER for speech)")
    p.add_argument("--eval-feats", type=Path, help="speech: feats.scp of the --eval-data feature dump")
    p.add_argument("--src-lang", default="de", help="MT: source side text.<src-lang>")
    p.add_argument("--tgt-lang", default="en", help="MT: target side text.<tgt-lang> (QAT targets, references)")
    p.add_argument("--max-tokens", type=positive_int, default=2000, help="QAT batch budget (padded tokens or frames)")
    p.add_argument("--beam-size", type=positive_int, default=5, help="evaluation: beam size")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="int8-qat: data order and dropout")
    return p


def _chain_data(data_dir: Path | None, feats: Path | None, args: argparse.Namespace):
    from legokit.workflows.compress import ChainData

    if data_dir is None:
        return None
    return ChainData(str(data_dir), args.src_lang, args.tgt_lang, str(feats) if feats else None, args.max_tokens)


def run_compress(args: argparse.Namespace) -> int:
    import json

    from legokit.decode.beam_search import BeamSearchConfig
    from legokit.fileio import check_outputs
    from legokit.lego.bricks import save_brick
    from legokit.lego.loading import load_brick, load_bricks
    from legokit.workflows.compress import CompressConfig, compress_brick, evaluate_chain
    from legokit.workflows.decode import DecodeConfig

    check_outputs([args.input, args.upstream, args.downstream], [args.output])
    cfg = CompressConfig(method=args.method, sparsity=args.sparsity, prune_scope=args.prune_scope,
                         qat_steps=args.qat_steps, qat_lr=args.qat_lr, seed=args.seed,
                         qat_dir=str(args.qat_dir) if args.qat_dir else None)
    brick = load_brick(args.input)
    upstream = load_bricks(args.upstream) if args.upstream else []
    downstream = load_bricks(args.downstream) if args.downstream else []
    compressed = compress_brick(brick, cfg, upstream, _chain_data(args.qat_data, args.qat_feats, args))
    eval_data = _chain_data(args.eval_data, args.eval_feats, args)
    if eval_data is not None:
        decode = DecodeConfig(beam=BeamSearchConfig(beam_size=args.beam_size))
        compressed.manifest["compression"]["scores"] = {
            "data": str(args.eval_data),
            "before": evaluate_chain([*upstream, brick, *downstream], eval_data, decode),
            "after": evaluate_chain([*upstream, compressed, *downstream], eval_data, decode),
        }
    save_brick(compressed, args.output)
    print(json.dumps(compressed.manifest["compression"] | {"layers": len(compressed.manifest["compression"]["layers"])},
                     indent=2, sort_keys=True))
    return 0
