"""Options and output shared by `legokit translate`, `legokit transcribe` and `legokit summarize`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from legokit.commands._types import nonnegative_float, positive_float


def add_model_arguments(parser: argparse.ArgumentParser, speech: bool) -> None:
    """--model, --config, --device, --dtype, --jsonl, --output, overrides (and the chunking options for speech)."""
    parser.add_argument("--model", required=True,
                        help="model.pt, a .brick, a folder of bricks or of `legokit brick export --format hf`, "
                             "or hf://owner/name")
    parser.add_argument("--config", help="YAML decode config (keys of DecodeConfig: beam.*, max_tokens, ...)")
    parser.add_argument("--device", help="torch device, e.g. cpu, cuda, cuda:1 or auto; if not given, the --config's "
                        "device (cpu by default)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                        help="weights and activations while decoding; if not given, the config's (float32)")
    parser.add_argument("--jsonl", action="store_true",
                        help="one JSON object per output line: text, score, tokens and timings (seconds)")
    parser.add_argument("--output", type=Path, help="write the lines to this file (atomically) instead of stdout")
    if speech:
        parser.add_argument("--chunk-seconds", type=positive_float,
                            help="decode in windows of this many seconds (the fallback for full-attention models "
                                 "on long recordings); if not given, each recording in one pass")
        parser.add_argument("--chunk-overlap", type=nonnegative_float, default=5.0,
                            help="seconds shared by neighbouring windows; the words of each overlap are split at "
                                 "its middle between the two windows")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted DecodeConfig overrides, e.g. beam.beam_size=10 max_tokens=8000")


def load_model(args: argparse.Namespace, inputs: list[str | Path]):
    """The model of ``args``, after refusing an --output that would overwrite the model or an input."""
    import legokit
    from legokit.config import load_config
    from legokit.fileio import check_outputs
    from legokit.workflows.decode import DecodeConfig
    from legokit.workflows.inference import LONG_SPEECH_FRAMES

    check_outputs([args.model if Path(args.model).exists() else None, *inputs], [args.output])
    cfg = load_config(DecodeConfig, args.config, [f"max_source_frames={LONG_SPEECH_FRAMES}", *args.overrides])
    return legokit.load(args.model, device=args.device, dtype=args.dtype, config=cfg)


def write_results(args: argparse.Namespace, names: list[str], results: list, label: str | None) -> None:
    """One line per result: ``<name>\\t<text>`` (``label`` = "input") or the text alone (label None), or JSON."""
    from legokit.fileio import write_atomic

    lines = []
    for name, result in zip(names, results, strict=True):
        if args.jsonl:
            record = {label: name} if label else {}
            record |= {"text": result.text, "score": result.score, "tokens": result.tokens,
                       "timings": {k: round(v, 4) for k, v in result.timings.items()}}
            lines.append(json.dumps(record, ensure_ascii=False))
        else:
            lines.append(f"{name}\t{result.text}" if label else result.text)
    text = "".join(f"{line}\n" for line in lines)
    if args.output:
        write_atomic(text, args.output)
    else:
        sys.stdout.write(text)


def run_speech(args: argparse.Namespace, method: str) -> int:
    """transcribe/summarize: each file of args.audio -> one line."""
    model = load_model(args, args.audio)
    results = getattr(model, method)(args.audio, chunk_seconds=args.chunk_seconds, chunk_overlap=args.chunk_overlap)
    write_results(args, [str(a) for a in args.audio], results, "file")
    return 0
