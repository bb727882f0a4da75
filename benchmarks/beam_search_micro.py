"""Micro-benchmark of legokit's batched beam search: ms per decoder step vs batch × beam.

The decoder is a dummy (embedding of the last token + mean memory -> linear to V), so the figures are
the search's own overhead plus one small matmul; a real model adds its step cost on top. Output length
is forced (min = max = --length tokens) so every configuration runs the same number of steps.

--mt times the real thing instead: the MT Transformer of benchmarks/mt_fairseq.py (6+6 layers, d 512,
vocabulary 8k, seeded random weights), beam 5 over --sentences × --length source tokens with --length output
tokens forced, the search alone (encoder outside the timing): wall and process CPU seconds per repeat and
the process's peak RSS; --dump writes the hypotheses and scores as JSON, so that two versions can be checked
for identical output.

Usage:
    .venv/bin/python benchmarks/beam_search_micro.py                       # attention only
    .venv/bin/python benchmarks/beam_search_micro.py --ctc-weight 0.3 --frames 250
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/beam_search_micro.py --mt --threads 1 --dump hyps.json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from legokit.data.vocab import VocabularyInfo
from legokit.decode import BeamSearchConfig, beam_search, reorder_nested

BOS, EOS = 2, 3


class DummyDecoder(nn.Module):
    """Cheapest StepDecoder with a realistic output layer: (N, D) -> (N, V) log-probs per step."""

    def __init__(self, vocab: int, dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.out = nn.Linear(dim, vocab)

    def init_state(self, memory: Tensor, memory_padding_mask: Tensor) -> dict[str, Tensor]:
        keep = (~memory_padding_mask).unsqueeze(-1).to(memory.dtype)
        return {"context": (memory * keep).sum(1) / keep.sum(1)}

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        return self.out(self.embed(tokens[:, -1]) + state["context"]).log_softmax(-1), state

    def reorder_state(self, state: dict[str, Tensor], index: Tensor) -> dict[str, Tensor]:
        return reorder_nested(state, index)


def measure(batch: int, beam: int, args: argparse.Namespace) -> float:
    """Median over --repeats of the wall time per decoder step, in ms."""
    decoder = DummyDecoder(args.vocab, args.dim).eval()
    memory = torch.randn(batch, args.source, args.dim)
    mask = torch.zeros(batch, args.source, dtype=torch.bool)
    lengths = torch.full((batch,), args.length)
    ctc = torch.randn(batch, args.frames, args.vocab).log_softmax(-1) if args.ctc_weight else None
    cfg = BeamSearchConfig(beam_size=beam, max_len_ratio=0.0, max_len_offset=args.length, min_len_ratio=1.0,
                           ctc_weight=args.ctc_weight)
    ids = VocabularyInfo(args.vocab, blank=0, pad=0, unk=1, bos=BOS, eos=EOS)
    times = []
    with torch.inference_mode():
        for _ in range(args.repeats):
            start = time.perf_counter()
            beam_search(decoder, memory, mask, lengths, cfg, ids, ctc_log_probs=ctc,
                        ctc_lengths=torch.full((batch,), args.frames))
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1000 / (args.length + 1)


def decoder_step_ms(batch: int, beam: int, args: argparse.Namespace) -> float:
    """Median wall time of one bare decoder step on batch × beam rows, in ms (the search's floor)."""
    decoder = DummyDecoder(args.vocab, args.dim).eval()
    rows = batch * beam
    memory = torch.randn(rows, args.source, args.dim)
    state = decoder.init_state(memory, torch.zeros(rows, args.source, dtype=torch.bool))
    tokens = torch.full((rows, 1), BOS)
    times = []
    with torch.inference_mode():
        for _ in range(args.length):
            start = time.perf_counter()
            decoder.step(tokens, state)
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1000


def measure_mt(args: argparse.Namespace) -> None:
    """Time beam search (one warm-up, then --repeats) on the MT benchmark model; print one line per repeat."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from mt_fairseq import build_legokit, legokit_batch, legokit_ids

    torch.manual_seed(0)
    model = build_legokit(tie=False).eval()
    batch = legokit_batch(args.sentences, args.length, args.length, seed=3)
    cfg = BeamSearchConfig(beam_size=args.beams[0], max_len_ratio=0.0, max_len_offset=args.length,
                           min_len_ratio=1.0)
    with torch.inference_mode():
        last = model.encode(batch)[-1]
        memory, mask = model.decoder.ingest(model.decoder_input(last), last.lengths)
        hyps = beam_search(model.decoder, memory, mask, batch["source_lengths"], cfg, legokit_ids())
        for _ in range(args.repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            hyps = beam_search(model.decoder, memory, mask, batch["source_lengths"], cfg, legokit_ids())
            print(f"mt beam {cfg.beam_size} {args.sentences} sentences: wall {time.perf_counter() - wall:.3f} s "
                  f"cpu {time.process_time() - cpu:.3f} s", flush=True)
    print(f"peak RSS of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.dump:
        Path(args.dump).write_text(json.dumps([[(h.tokens, h.score) for h in hs] for hs in hyps]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64], help="batch sizes")
    parser.add_argument("--beams", type=int, nargs="+", help="beam sizes (default 1 5 10; --mt: 5)")
    parser.add_argument("--vocab", type=int, default=8000, help="vocabulary size V")
    parser.add_argument("--dim", type=int, default=256, help="model dimension of the dummy decoder")
    parser.add_argument("--source", type=int, default=30, help="memory length S")
    parser.add_argument("--length", type=int, default=30, help="forced output length (tokens, eos excluded)")
    parser.add_argument("--ctc-weight", type=float, default=0.0, help="joint CTC weight (0 = attention only)")
    parser.add_argument("--frames", type=int, default=250, help="CTC frames T when --ctc-weight > 0")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (median kept)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--mt", action="store_true", help="time the MT Transformer decoder instead")
    parser.add_argument("--sentences", type=int, default=16, help="--mt: sentences in the batch")
    parser.add_argument("--dump", default="", help="--mt: write the hypotheses and scores to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.beams = args.beams or ([5] if args.mt else [1, 5, 10])
    if args.mt:
        measure_mt(args)
        return
    print(f"# V={args.vocab} D={args.dim} length={args.length} ctc_weight={args.ctc_weight} "
          f"frames={args.frames} threads={args.threads}")
    print("| batch | beam | ms / step | ms / output token / sentence | bare decoder ms / step |")
    print("|---|---|---|---|---|")
    for batch in args.batches:
        for beam in args.beams:
            ms = measure(batch, beam, args)
            bare = decoder_step_ms(batch, beam, args)
            print(f"| {batch} | {beam} | {ms:.2f} | {ms / batch:.3f} | {bare:.2f} |", flush=True)


if __name__ == "__main__":
    main()
