"""Conformer ASR side by side with ESPnet: encoder training frames/s and joint CTC/attention beam search RTF.

- encoder: 12 Conformer blocks, d 256, 4 heads, FFN 1024, kernel 31, conv2d subsampling ×4 from 80-dim
  fbank, dropout 0.1; forward + backward of B × T random frames; input frames/s and peak RSS. ESPnet runs
  its recipe configuration (macaron, rel-pos self-attention, "latest" rel-pos) and, like for like with
  legokit's absolute positions, abs-pos self-attention.
- decode: that encoder + a 6-block d 256 Transformer decoder (FFN 2048) + CTC head over a V-token
  vocabulary; beam 10, ctc_weight 0.3 (pre-beam 1.5 × beam), a 10 s utterance (1000 frames), exactly
  U output tokens (eos banned before, forced after). ESPnet decodes one utterance at a time
  (BatchBeamSearch vectorises over the beam); legokit decodes it alone and N of them in one batch.
  RTF = wall time (encoder + search) / audio seconds.

--precision bf16: the encoder step runs under torch.autocast(bfloat16) on both sides (legokit's `amp: bf16`;
ESPnet's trainer autocasts only on CUDA — `torch.cuda.amp.autocast` — so on a CPU its users train in fp32,
and this row compares kernels, not what its trainer offers), and decoding casts both models to bfloat16
(legokit `decode dtype=bfloat16`; ESPnet's `--dtype` option does the same cast, for float16/32/64).

Random weights on both sides (the search does the same work whatever the weights); each toolkit in its own
subprocess (ESPnet in benchmarks/venvs/espnet, built by benchmarks/peers/setup_peers.sh).

Usage:
    .venv/bin/python benchmarks/asr_espnet.py            # 8 × 1000 frames, 3 repeats
    .venv/bin/python benchmarks/asr_espnet.py --quick    # 4 × 500 frames, 1 repeat, shorter output
    .venv/bin/python benchmarks/asr_espnet.py --precision bf16   # both sides in bfloat16
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    LEGOKIT_PYTHON,
    benchmark_main,
    machine,
    matmul_gflops,
    peak_rss_mb,
    peer_python,
    run_worker,
    summary,
    table,
    timed,
)

FEATS, DIM, HEADS, FFN, BLOCKS, KERNEL, DEC_LAYERS, DEC_FFN, DROPOUT = 80, 256, 4, 1024, 12, 31, 6, 2048, 0.1
FRAME_S = 0.01  # 10 ms fbank hop


def random_speech(batch: int, frames: int, seed: int) -> torch.Tensor:
    """(batch, frames, 80) standard-normal features (same tensors in every worker)."""
    return torch.randn(batch, frames, FEATS, generator=torch.Generator().manual_seed(seed))


def autocast(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for --precision bf16 (training), else nothing."""
    if args.precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def decode_dtype(args: argparse.Namespace) -> torch.dtype:
    return torch.bfloat16 if args.precision == "bf16" else torch.float32


# --- legokit side ------------------------------------------------------------------------------------------
def build_legokit(vocab: int, decoder: bool):
    """Speech EncoderBrick (conformer, CTC head) [+ a DecoderBrick reading its states]."""
    from legokit.data.vocab import VocabularyInfo
    from legokit.lego.decoders import DecoderBrick, DecoderBrickConfig
    from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
    from legokit.lego.ingestors import IngestorConfig
    from legokit.lego.model import LegoModel
    from legokit.nn.config import EncoderConfig

    enc_cfg = EncoderConfig(kind="conformer", num_layers=BLOCKS, dim=DIM, num_heads=HEADS, ffn_dim=FFN,
                            dropout=DROPOUT, kernel_size=KERNEL)
    encoder = EncoderBrick(EncoderBrickConfig(input="speech", encoder=enc_cfg, feat_dim=FEATS, ctc_head=decoder),
                           0, vocab)
    if not decoder:
        return encoder
    dec = DecoderBrick(DecoderBrickConfig(ingestor=IngestorConfig(kind="states"), dim=DIM, num_layers=DEC_LAYERS,
                                          num_heads=HEADS, ffn_dim=DEC_FFN, dropout=DROPOUT), 0, vocab,
                       input_dim=DIM)
    ids = VocabularyInfo(vocab, blank=0, pad=0, unk=1, bos=2, eos=3)  # the legokit convention
    return LegoModel([encoder], dec, vocabularies=[ids, ids])


def legokit_encoder(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    encoder = build_legokit(args.vocab, decoder=False).train()
    speech, lengths = random_speech(args.batch, args.frames, args.seed), torch.full((args.batch,), args.frames)

    def step() -> None:
        with autocast(args):
            out = encoder(speech, lengths).states.sum()
        out.backward()
        encoder.zero_grad(set_to_none=True)

    return {"times": summary(timed(step, args.repeats)), "params": sum(p.numel() for p in encoder.parameters())}


def legokit_decode(args: argparse.Namespace) -> dict:
    """args.count utterances in one batch (1: alone, like ESPnet); each count in its own process, so that the
    peak RSS of one utterance is not the peak of the batch."""
    from legokit.decode import BeamSearchConfig
    from legokit.nn.subsampling import subsampled_length

    torch.manual_seed(0)
    model = build_legokit(args.vocab, decoder=True).eval().to(decode_dtype(args))
    model_rss = peak_rss_mb()
    enc_frames = int(subsampled_length(torch.tensor([args.decode_frames]), 4))
    cfg = BeamSearchConfig(beam_size=args.beam, ctc_weight=args.ctc_weight, max_len_ratio=0.0,
                           max_len_offset=args.tokens, min_len_ratio=(args.tokens + 0.5) / enc_frames,
                           length_penalty=0.0)
    speech = random_speech(args.count, args.decode_frames, args.seed + 1).to(decode_dtype(args))
    batch = {"speech": speech, "speech_lengths": torch.full((args.count,), args.decode_frames)}
    hyps: list = []
    times = timed(lambda: hyps.append(model.recognize(batch, cfg)), args.repeats)
    return {"times": summary(times), "utterances": args.count, "output_tokens": sum(len(h) for h in hyps[-1]),
            "model_rss_mb": model_rss}


# --- ESPnet side (runs in benchmarks/venvs/espnet) ---------------------------------------------------------
def build_espnet_encoder(rel_pos: bool):
    from espnet2.asr.encoder.conformer_encoder import ConformerEncoder

    attention = ({"pos_enc_layer_type": "rel_pos", "selfattention_layer_type": "rel_selfattn"} if rel_pos else
                 {"pos_enc_layer_type": "abs_pos", "selfattention_layer_type": "selfattn"})
    return ConformerEncoder(FEATS, output_size=DIM, attention_heads=HEADS, linear_units=FFN, num_blocks=BLOCKS,
                            dropout_rate=DROPOUT, positional_dropout_rate=DROPOUT, attention_dropout_rate=DROPOUT,
                            input_layer="conv2d", normalize_before=True, macaron_style=True, rel_pos_type="latest",
                            activation_type="swish", use_cnn_module=True, cnn_module_kernel=KERNEL, **attention)


def espnet_encoder(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    encoder = build_espnet_encoder(rel_pos=args.variant == "rel_pos").train()
    speech, lengths = random_speech(args.batch, args.frames, args.seed), torch.full((args.batch,), args.frames)

    def step() -> None:
        with autocast(args):
            out = encoder(speech, lengths)[0].sum()
        out.backward()
        encoder.zero_grad(set_to_none=True)

    return {"times": summary(timed(step, args.repeats)), "params": sum(p.numel() for p in encoder.parameters())}


def espnet_decode(args: argparse.Namespace) -> dict:
    """ESPnet BatchBeamSearch (decoder 0.7 + CTC prefix scorer 0.3), eos banned until the forced end."""
    from espnet.nets.batch_beam_search import BatchBeamSearch
    from espnet.nets.scorer_interface import BatchScorerInterface
    from espnet.nets.scorers.ctc import CTCPrefixScorer
    from espnet2.asr.ctc import CTC
    from espnet2.asr.decoder.transformer_decoder import TransformerDecoder

    eos = args.vocab - 1

    class NoEarlyEos(BatchScorerInterface):
        """Bans eos; the search ends at maxlen, where ESPnet appends eos (forced output length)."""

        def score(self, y, state, x):
            return self.batch_score(y[None], [state], x[None])[0][0], None

        def batch_score(self, ys, states, xs):
            scores = xs.new_zeros(ys.size(0), args.vocab)
            scores[:, eos] = float("-inf")
            return scores, [None] * ys.size(0)

    torch.manual_seed(0)
    encoder = build_espnet_encoder(rel_pos=args.variant == "rel_pos").eval()
    decoder = TransformerDecoder(args.vocab, DIM, attention_heads=HEADS, linear_units=DEC_FFN,
                                 num_blocks=DEC_LAYERS).eval()
    ctc = CTC(args.vocab, DIM).eval()
    search = BatchBeamSearch(
        scorers={"decoder": decoder, "ctc": CTCPrefixScorer(ctc=ctc, eos=eos), "no_early_eos": NoEarlyEos()},
        weights={"decoder": 1 - args.ctc_weight, "ctc": args.ctc_weight, "no_early_eos": 1.0},
        beam_size=args.beam, vocab_size=args.vocab, sos=eos, eos=eos, pre_beam_score_key="full",
    ).eval()
    for module in (encoder, decoder, ctc):
        module.to(decode_dtype(args))
    speech = random_speech(1, args.decode_frames, args.seed + 1).to(decode_dtype(args))
    model_rss = peak_rss_mb()
    hyps: list = []

    @torch.no_grad()
    def run() -> None:
        enc, _, _ = encoder(speech, torch.tensor([args.decode_frames]))
        hyps.append(search(x=enc[0], maxlenratio=-args.tokens, minlenratio=0.0))

    times = timed(run, args.repeats)
    return {"times": summary(times), "utterances": 1, "output_tokens": len(hyps[-1][0].yseq) - 2,
            "model_rss_mb": model_rss}


WORKERS = {"legokit:encoder": legokit_encoder, "legokit:decode": legokit_decode,
           "espnet:encoder": espnet_encoder, "espnet:decode": espnet_decode}


# --- driver ------------------------------------------------------------------------------------------------
def decode_figures(run: dict, args: argparse.Namespace) -> dict:
    seconds, count = run["times"]["median_s"], run["utterances"]
    return {"rtf": seconds / (count * args.decode_frames * FRAME_S), "utterances_per_s": count / seconds,
            "ms_per_token": 1000 * seconds / max(run["output_tokens"], 1), "output_tokens": run["output_tokens"]}


def drive(args: argparse.Namespace) -> dict:
    script, espnet = Path(__file__).resolve(), peer_python("espnet")
    shape = ["--batch", str(args.batch), "--frames", str(args.frames), "--decode-frames", str(args.decode_frames),
             "--tokens", str(args.tokens), "--beam", str(args.beam), "--ctc-weight", str(args.ctc_weight),
             "--vocab", str(args.vocab), "--utterances", str(args.utterances), "--repeats", str(args.repeats),
             "--threads", str(args.threads), "--precision", args.precision]
    record: dict = {"benchmark": "asr_espnet", "machine": machine(), "args": vars(args),
                    "matmul_gflops_before": matmul_gflops(args.threads)}

    def run(worker: str, extra: list[str] = ()) -> dict:
        python = LEGOKIT_PYTHON if worker.startswith("legokit") else espnet
        return run_worker(python, script, worker, shape + list(extra), args.threads)

    frames = args.batch * args.frames
    enc = {"legokit": run("legokit:encoder")}
    if espnet:
        for variant in ("rel_pos", "abs_pos"):
            enc[f"espnet_{variant}"] = run("espnet:encoder", ["--variant", variant])
    record["encoder"] = {k: {"frames_per_s": frames / v["times"]["median_s"], "peak_rss_mb": v["peak_rss_mb"],
                             "params": v["params"], "times": v["times"], "load_avg": v["load_avg"]}
                         for k, v in enc.items()}
    dec = {"legokit_single": run("legokit:decode", ["--count", "1"]),
           "legokit_batched": run("legokit:decode", ["--count", str(args.utterances)])}
    if espnet:
        dec["espnet_single"] = run("espnet:decode", ["--variant", "rel_pos"])
    record["decode"] = {k: {**decode_figures(v, args), "peak_rss_mb": v["peak_rss_mb"],
                            "model_rss_mb": v["model_rss_mb"], "times": v["times"]} for k, v in dec.items()}
    record["matmul_gflops_after"] = matmul_gflops(args.threads)
    return record


def report(record: dict) -> str:
    enc, dec = record["encoder"], record["decode"]

    def get(group: dict, key: str, field: str) -> float | None:
        return group[key][field] if key in group else None

    rows = [
        ("encoder fwd+bwd vs ESPnet rel-pos", "input frames/s", get(enc, "legokit", "frames_per_s"),
         get(enc, "espnet_rel_pos", "frames_per_s"), True),
        ("encoder fwd+bwd vs ESPnet abs-pos", "input frames/s", get(enc, "legokit", "frames_per_s"),
         get(enc, "espnet_abs_pos", "frames_per_s"), True),
        ("encoder training peak RSS (rel-pos)", "MB", get(enc, "legokit", "peak_rss_mb"),
         get(enc, "espnet_rel_pos", "peak_rss_mb"), False),
        ("joint CTC/attention search, 1 utterance", "RTF", get(dec, "legokit_single", "rtf"),
         get(dec, "espnet_single", "rtf"), False),
        (f"same, legokit {record['args']['utterances']} utterances batched", "RTF",
         get(dec, "legokit_batched", "rtf"), get(dec, "espnet_single", "rtf"), False),
        ("search, 1 utterance", "ms/output token", get(dec, "legokit_single", "ms_per_token"),
         get(dec, "espnet_single", "ms_per_token"), False),
        ("search peak RSS, 1 utterance", "MB", get(dec, "legokit_single", "peak_rss_mb"),
         get(dec, "espnet_single", "peak_rss_mb"), False),
        ("RSS after import + model build", "MB", get(dec, "legokit_single", "model_rss_mb"),
         get(dec, "espnet_single", "model_rss_mb"), False),
        (f"search peak RSS, legokit {record['args']['utterances']} utterances batched", "MB",
         get(dec, "legokit_batched", "peak_rss_mb"), get(dec, "espnet_single", "peak_rss_mb"), False),
    ]
    return "\n".join([table(rows), "", f"fp32 matmul ceiling: {record['matmul_gflops_before']:.0f} / "
                      f"{record['matmul_gflops_after']:.0f} GFLOP/s (before / after); load average at start "
                      f"{record['machine']['load_avg']}"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes and one timed repeat (make bench)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on every side")
    parser.add_argument("--batch", type=int, default=8, help="utterances per encoder training batch")
    parser.add_argument("--frames", type=int, default=1000, help="input frames per training utterance")
    parser.add_argument("--decode-frames", type=int, default=1000, help="input frames of the decoded utterance")
    parser.add_argument("--tokens", type=int, default=35, help="forced output tokens per utterance")
    parser.add_argument("--beam", type=int, default=10, help="beam size")
    parser.add_argument("--ctc-weight", type=float, default=0.3, help="CTC weight of the joint score")
    parser.add_argument("--vocab", type=int, default=5000, help="output vocabulary size")
    parser.add_argument("--utterances", type=int, default=8, help="utterances legokit decodes in one batch")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the median is reported)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random features")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="fp32 on both sides, or bfloat16 on both (training under autocast, decoding with the "
                             "models cast to bfloat16)")
    parser.add_argument("--count", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="rel_pos", choices=["rel_pos", "abs_pos"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.frames, args.decode_frames, args.tokens, args.utterances, args.repeats = 4, 500, 500, 15, 4, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return benchmark_main("asr_espnet" + ("" if args.precision == "fp32" else f"_{args.precision}"), args, WORKERS,
                          drive, report)


if __name__ == "__main__":
    sys.exit(main())
