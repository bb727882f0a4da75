"""Greedy CTC decoding of N sentences with one encoder brick: onnxruntime (CPU) vs PyTorch (eager, no_grad).

The brick is ``--brick`` (an encoder .brick, a model.pt — its first brick — or a packaged folder), or, without
it, an untrained brick of the demo's MT encoder architecture (``--config``, default the lego_reuse demo's
mt_lego.yaml: embedding -> 2-layer Transformer -> OLC (r = 2) -> CTC; the speed does not depend on the weights).
Sentences are random token ids of 5..40 tokens (seeded), decoded in batches of ``--batch`` sorted by length;
log-probs are checked to agree within 1e-4, and the share of identical greedy hypotheses is recorded (an
untrained brick's near-uniform log-probs have argmax near-ties that a 1e-6 difference flips). Times are the
best of ``--repeats`` passes over all sentences on ``--threads`` threads. Writes
benchmarks/results/onnx_vs_torch[_quick].json (record: rows, command, machine).

    .venv/bin/python benchmarks/onnx_vs_torch.py --sentences 2000 --threads 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from legokit.config import from_dict
from legokit.data.vocab import VocabularyInfo
from legokit.lego.bricks import Brick
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.loading import load_bricks
from legokit.lego.onnx import GreedyCTCEncoder, OnnxEncoder, export_encoder_onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, set_threads, write_record  # noqa: E402

DEMO = ROOT / "egs" / "lego_reuse" / "lego1" / "conf" / "demo" / "mt_lego.yaml"


def demo_brick(config: Path, vocab: int) -> Brick:
    """An untrained text encoder brick of ``config``'s model.encoder architecture."""
    cfg = from_dict(EncoderBrickConfig, yaml.safe_load(config.read_text())["model"]["encoder"], source=str(config))
    module = EncoderBrick(cfg, vocab, vocab)
    manifest = {"kind": "encoder", "output_interface": {"type": "vocabulary", "size": vocab,
                                                   **VocabularyInfo(vocab, 0, 0, 1, 2, 3).describe()}}
    return Brick(module, manifest, {}, str(config))


def batches(brick: EncoderBrick, n: int, batch: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    lengths = sorted(torch.randint(5, 41, (n,), generator=gen).tolist())
    out = []
    for i in range(0, n, batch):
        lens = torch.tensor(lengths[i:i + batch])
        tokens = torch.randint(4, brick.input_vocab_size, (len(lens), int(lens.max())), generator=gen)
        out.append((tokens.masked_fill(torch.arange(tokens.size(1))[None] >= lens[:, None], 0), lens))
    return out


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brick", help="encoder brick / model.pt / packaged folder (default: the demo architecture)")
    parser.add_argument("--config", type=Path, default=DEMO, help="experiment config whose model.encoder to build")
    parser.add_argument("--vocab", type=int, default=1000, help="vocabulary size of the built brick")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="200 sentences, one repeat (record *_quick.json)")
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.repeats = 200, 1
    set_threads(args.threads)
    torch.manual_seed(args.seed)
    brick = load_bricks(args.brick)[0] if args.brick else demo_brick(args.config, args.vocab)
    module = GreedyCTCEncoder(brick.module.eval(), blank=brick.vocabulary.blank).eval()
    data = batches(brick.module, args.sentences, args.batch, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = export_encoder_onnx(brick, Path(tmp) / "encoder.onnx")
        export_s = time.perf_counter() - start
        runner = OnnxEncoder(path, threads=args.threads)

        def run_torch() -> list[list[int]]:
            with torch.inference_mode():
                return [t for x, lens in data
                        for t in OnnxEncoder.token_lists(dict(zip(("tokens", "token_lengths"),
                                                                  (o.numpy() for o in module(x, lens)[2:]))))]

        def run_onnx() -> list[list[int]]:
            return [t for x, lens in data for t in runner.token_lists(runner.run(x.numpy(), lens.numpy()))]

        max_diff = 0.0
        with torch.inference_mode():
            for x, lens in data[:: max(1, len(data) // 8)]:
                reference = module(x, lens)[0].numpy()
                max_diff = max(max_diff, float(np.abs(runner.run(x.numpy(), lens.numpy())["log_probs"]
                                                      - reference).max()))
        pairs = list(zip(run_torch(), run_onnx()))
        same_tokens = sum(a == b for a, b in pairs) / len(pairs)
        torch_s, onnx_s = best_time(run_torch, args.repeats), best_time(run_onnx, args.repeats)
    record = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": machine(),
              "brick": args.brick or f"untrained, architecture of {args.config.relative_to(ROOT)}",
              "sentences": args.sentences, "batch": args.batch, "threads": args.threads, "repeats": args.repeats,
              "export_s": round(export_s, 1), "max_abs_log_prob_diff": max_diff,
              "identical_greedy_hypotheses": same_tokens,
              "rows": [{"side": "pytorch", "seconds": torch_s, "sentences_per_s": args.sentences / torch_s},
                       {"side": "onnxruntime", "seconds": onnx_s, "sentences_per_s": args.sentences / onnx_s}],
              "speedup_onnx_over_torch": torch_s / onnx_s}
    path = write_record("onnx_vs_torch", record, args.quick)
    print(f"pytorch {torch_s:.2f}s, onnxruntime {onnx_s:.2f}s for {args.sentences} sentences: "
          f"onnxruntime is {torch_s / onnx_s:.2f}x PyTorch's speed; max |Δ log p| {max_diff:.1e}; "
          f"{same_tokens:.2%} of greedy hypotheses identical; record: {path}")
    return 0 if max_diff <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
