"""`legokit decode`: decode a data dir with a trained or composed model (batched beam search)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "decode a data dir with a model file (trained model.pt, composed model, or one encoder brick)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path,
                        help="model.pt from `legokit train`/`legokit compose`, or a single encoder .brick (CTC)")
    parser.add_argument("--data-dir", required=True, type=Path,
                        help="Kaldi-style data dir: text.<src-lang> for MT; text (+ --feats) for speech")
    parser.add_argument("--feats", type=Path, help="speech: feats.scp of the data dir's feature dump")
    parser.add_argument("--src-lang", default="de", help="MT: read source sentences from text.<src-lang>")
    parser.add_argument("--out", required=True, type=Path,
                        help="hypotheses in Kaldi text format (<id> <text>), one per input")
    parser.add_argument("--config", help="YAML decode config (keys of DecodeConfig: beam.*, max_tokens, ...)")
    parser.add_argument("--device", help="torch device, e.g. cpu, cuda, cuda:1 or auto (cuda if available); "
                        "overrides the config's device (cpu unless the config sets one)")
    parser.add_argument("--on-long-input", choices=("truncate", "skip", "error"),
                        help="an input longer than max_source_tokens (MT, default 1024) or max_source_frames "
                             "(speech, default 100000) is truncated with a warning (the default), skipped (listed "
                             "in OUT.skipped) or refused; same as the override on_long_input=...")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides, e.g. beam.beam_size=10 beam.ctc_weight=0.3 max_tokens=8000 "
                             "beam.early_stop=beam|bound|none beam.end_detect=3 (ESPnet's end detection) "
                             "dtype=bfloat16 (weights and activations in bf16: fast on CPUs with AMX/AVX512-BF16), "
                             "ctc_lm.arpa=lm.arpa ctc_lm.alpha=0.5 ctc_lm.beta=1.0 (models without a decoder: CTC "
                             "prefix beam search with a word n-gram LM from `legokit lm train`; docs/decoding.md)")


def run(args: argparse.Namespace) -> int:
    from legokit.config import load_config
    from legokit.workflows.decode import DecodeConfig, decode_dir

    overrides = args.overrides + ([f"on_long_input={args.on_long_input}"] if args.on_long_input else [])
    overrides += [f"device={args.device}"] if args.device else []
    cfg = load_config(DecodeConfig, args.config, overrides)
    decode_dir(args.model, args.data_dir, args.out, cfg, feats=args.feats, src_lang=args.src_lang)
    return 0
