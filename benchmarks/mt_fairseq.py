"""MT Transformer side by side with fairseq: training tokens/s + peak RSS, and beam search with the same weights.

The model on both sides: 6+6 pre-norm layers (fairseq --encoder-normalize-before --decoder-normalize-before),
d 512, 8 heads, FFN 2048, vocabulary 8k, decoder input/output embeddings tied, dropout 0.1 on residuals,
attention probabilities and FFN activations. Batches are random tokens (same seed, same tensors on both sides).

- train: forward + backward + Adam step on B × S source + B × U target tokens; target tokens/s counts the
  U + 1 positions (eos included) per sentence, like fairseq's wps; peak RSS of that worker process.
- decode: beam 5, N sentences × S source tokens, exactly U output tokens forced (min = max length);
  legokit runs with the weights of the fairseq model copied across (:func:`fairseq_to_legokit`), so the
  hypotheses can be compared token by token.

--precision bf16 runs both sides the way their trainers/decoders do mixed precision: legokit with
`amp: bf16` (torch.autocast, fp32 weights and optimiser), fairseq as `fairseq-train --bf16` does (the model cast
to bfloat16, fp32 master copies of the weights for clipping and Adam, as its FP16Optimizer) and
`fairseq-generate --bf16` (the bfloat16 model). On CPUs with AMX/AVX512-BF16 bfloat16 matmuls run several
times faster than fp32.

Each toolkit runs in its own subprocess (fairseq in benchmarks/venvs/fairseq, built by
benchmarks/peers/setup_peers.sh); the fp32 matmul ceiling is measured in the same run.

Usage:
    .venv/bin/python benchmarks/mt_fairseq.py                 # full: 128×30 train batch, 64 sentences decode
    .venv/bin/python benchmarks/mt_fairseq.py --quick         # small shapes, one timed repeat
    .venv/bin/python benchmarks/mt_fairseq.py --precision bf16  # both sides in bfloat16 mixed precision
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    LEGOKIT_PYTHON,
    benchmark_main,
    machine,
    matmul_gflops,
    peer_python,
    run_worker,
    summary,
    table,
    timed,
)

DIM, HEADS, FFN, LAYERS, VOCAB, DROPOUT = 512, 8, 2048, 6, 8000, 0.1
FS_BOS, FS_PAD, FS_EOS, FS_UNK = 0, 1, 2, 3  # fairseq Dictionary
LK_BLANK, LK_UNK, LK_BOS, LK_EOS = 0, 1, 2, 3  # legokit convention
# fairseq id -> legokit id. fairseq bans only pad, and unk through unk_penalty; legokit bans blank and bos:
# pad -> blank and unk -> bos keep the banned sets equal, fairseq's (ordinary) bos becomes legokit's unk.
FS_TO_LK = {FS_BOS: LK_UNK, FS_PAD: LK_BLANK, FS_EOS: LK_EOS, FS_UNK: LK_BOS}
UNK_PENALTY = 1e9
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def legokit_ids():
    """legokit's special ids of the benchmark vocabulary (imported here: the fairseq worker runs without legokit)."""
    from legokit.data.vocab import VocabularyInfo

    return VocabularyInfo(VOCAB, blank=LK_BLANK, pad=LK_BLANK, unk=LK_UNK, bos=LK_BOS, eos=LK_EOS)

def token_permutation(vocab: int, mapping: dict[int, int] | None = None) -> torch.Tensor:
    """perm (V,): legokit row i of an embedding = fairseq row perm[i]; ``mapping`` (fairseq id -> legokit id,
    default FS_TO_LK) must be a permutation of the special ids."""
    perm = torch.arange(vocab)
    for fs, lk in (FS_TO_LK if mapping is None else mapping).items():
        perm[lk] = fs
    return perm


def random_tokens(rows: int, length: int, seed: int) -> torch.Tensor:
    """(rows, length) ordinary token ids (>= 4: the same id in both vocabularies)."""
    return torch.randint(4, VOCAB, (rows, length), generator=torch.Generator().manual_seed(seed))


def fairseq_positions(length: int, dim: int, padding_idx: int = FS_PAD) -> torch.Tensor:
    """fairseq's sinusoidal table for positions padding_idx+1 .. padding_idx+length: (length, dim)."""
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float) * -(math.log(10000) / (half - 1)))
    angle = torch.arange(padding_idx + 1, padding_idx + 1 + length, dtype=torch.float)[:, None] * freq[None]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


# --- legokit side ------------------------------------------------------------------------------------------
def autocast(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """legokit's `amp: bf16` (the trainer's and `legokit decode`'s torch.autocast), or nothing for fp32."""
    if args.precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_legokit(tie: bool = True):
    """The legokit model: text EncoderBrick without CTC head + DecoderBrick reading its states."""
    from legokit.lego.decoders import DecoderBrick, DecoderBrickConfig
    from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
    from legokit.lego.ingestors import IngestorConfig
    from legokit.lego.model import ChainLossConfig, LegoModel
    from legokit.losses import LossConfig
    from legokit.nn.config import EncoderConfig

    enc_cfg = EncoderConfig(kind="transformer", num_layers=LAYERS, dim=DIM, num_heads=HEADS, ffn_dim=FFN,
                            dropout=DROPOUT)
    encoder = EncoderBrick(EncoderBrickConfig(input="text", encoder=enc_cfg, ctc_head=False), VOCAB)
    decoder = DecoderBrick(DecoderBrickConfig(ingestor=IngestorConfig(kind="states"), dim=DIM, num_layers=LAYERS,
                                              num_heads=HEADS, ffn_dim=FFN, dropout=DROPOUT, tie_embeddings=tie),
                           0, VOCAB, input_dim=DIM)
    loss = ChainLossConfig(ctc_weight=0.0, decoder=LossConfig(label_smoothing=0.1))
    return LegoModel([encoder], decoder, loss=loss, vocabularies=[legokit_ids()] * 2)


_LAYER_MAP = {"self_attn_layer_norm": "norm_self", "encoder_attn_layer_norm": "norm_cross",
              "encoder_attn": "cross_attn", "final_layer_norm": "norm_ffn", "fc1": "ffn.0", "fc2": "ffn.3"}


def fairseq_to_legokit(state: dict[str, torch.Tensor], perm: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """A fairseq pre-norm TransformerModel state dict -> the state dict of :func:`build_legokit` (untied).

    Token rows are permuted by ``perm`` (default :func:`token_permutation` of the benchmark vocabulary);
    legokit's decoder input for bos gets fairseq's eos embedding (fairseq starts decoding from eos); positions
    are set separately (:func:`set_positions`). Any layer count and width.
    """
    perm = token_permutation(VOCAB) if perm is None else perm
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if "embed_positions" in parts or "version" in parts[-1]:
            continue
        side, rest = parts[0], ".".join(parts[1:])
        if rest == "embed_tokens.weight":
            rows = value[perm].clone()
            if side == "decoder":
                rows[LK_BOS] = value[FS_EOS]
            out["encoders.0.frontend.weight" if side == "encoder" else "decoder.embed.weight"] = rows
            continue
        if rest == "output_projection.weight":
            out["decoder.output.weight"] = value[perm].clone()
            continue
        if rest.startswith("layer_norm."):
            out[f"{'encoders.0.encoder' if side == 'encoder' else 'decoder.decoder'}.norm.{parts[-1]}"] = value
            continue
        # layers.<i>.<module>[.<proj>].<param>
        module = parts[3]
        if side == "encoder":
            module = {"self_attn_layer_norm": "norm_attn", "final_layer_norm": "norm_ffn"}.get(
                module, _LAYER_MAP.get(module, module))
        else:
            module = _LAYER_MAP.get(module, module)
        prefix = "encoders.0.encoder" if side == "encoder" else "decoder.decoder"
        out[".".join([prefix, "layers", parts[2], module, *parts[4:]])] = value
    return out


def set_positions(model, length: int = 1024) -> None:
    """Give both legokit position tables fairseq's values (its positions start at padding_idx + 1)."""
    table = fairseq_positions(length, DIM)
    model.encoders[0].pos.pe = table.clone()
    model.decoder.pos.pe = table.clone()


def legokit_batch(batch: int, src: int, tgt: int, seed: int) -> dict:
    """A legokit text batch of random tokens (the same tensors fairseq's worker builds)."""
    return {"ids": [str(i) for i in range(batch)], "source": random_tokens(batch, src, seed),
            "source_lengths": torch.full((batch,), src), "target": random_tokens(batch, tgt, seed + 1),
            "target_lengths": torch.full((batch,), tgt)}


def legokit_train(args: argparse.Namespace) -> dict:
    """Training steps as the trainer does them: forward, backward, 1/weight scaling, clip, Adam (legokit's
    fused Adam of legokit.train.optim with --optimizer own, torch.optim.Adam's default with --optimizer torch)."""
    from legokit.train.config import OptimConfig
    from legokit.train.optim import build_optimizer

    torch.manual_seed(0)
    model = build_legokit().train()
    optimizer = (build_optimizer(model.parameters(), OptimConfig(lr=1e-5)) if args.optimizer == "own"
                 else torch.optim.Adam(model.parameters(), lr=1e-5))
    batch = legokit_batch(args.batch, args.src, args.tgt, args.seed)

    def step() -> None:
        with autocast(args):
            out = model(batch)
        out["loss"].backward()
        torch._foreach_mul_([p.grad for p in model.parameters() if p.grad is not None], 1.0 / out["weight"])
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    times = timed(step, args.repeats, warmup=1)
    return {"times": summary(times), "params": sum(p.numel() for p in model.parameters())}


def legokit_decode(args: argparse.Namespace) -> dict:
    """Beam search with legokit (fairseq's weights if --weights exists, else a seeded random model)."""
    from legokit.decode import BeamSearchConfig, beam_search

    torch.manual_seed(0)
    model = build_legokit(tie=False).eval()
    if args.weights and Path(args.weights).exists():
        state = fairseq_to_legokit(torch.load(args.weights, weights_only=True))
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if "length_stats" not in k]
        if missing or unexpected:
            raise RuntimeError(f"weight mapping: missing {missing}, unexpected {unexpected}")
        set_positions(model)
    if args.precision == "bf16":  # legokit decode with dtype: bfloat16
        model.to(dtype=torch.bfloat16)
    batch = legokit_batch(args.sentences, args.src, args.tgt, args.seed + 2)
    cfg = BeamSearchConfig(beam_size=args.beam, max_len_ratio=0.0, max_len_offset=args.tgt, min_len_ratio=1.0)
    assert args.src == args.tgt, "min_len_ratio 1.0 forces the output length to the source length"
    result = {}

    @torch.no_grad()
    def search() -> None:
        last = model.encode(batch)[-1]
        memory, mask = model.decoder.ingest(model.decoder_input(last), last.lengths)
        result["hyps"] = beam_search(model.decoder, memory, mask, batch["source_lengths"], cfg,
                                     legokit_ids())

    times = timed(search, args.repeats, warmup=1)
    hyps = [h[0] for h in result["hyps"]]
    return {"times": summary(times), "tokens": [h.tokens for h in hyps], "scores": [h.score for h in hyps]}


# --- fairseq side (runs in benchmarks/venvs/fairseq) -------------------------------------------------------
def build_fairseq():
    """fairseq's `transformer` arch with the sizes above, pre-norm, decoder input/output embeddings tied."""
    from fairseq.data import Dictionary
    from fairseq.models.transformer import TransformerModel
    from fairseq.models.transformer.transformer_legacy import base_architecture

    dictionary = Dictionary()
    for i in range(VOCAB - len(dictionary)):
        dictionary.add_symbol(f"w{i}")

    class Task:  # the two attributes build_model reads
        source_dictionary = target_dictionary = dictionary

    args = argparse.Namespace(
        encoder_embed_dim=DIM, encoder_ffn_embed_dim=FFN, encoder_layers=LAYERS, encoder_attention_heads=HEADS,
        decoder_embed_dim=DIM, decoder_ffn_embed_dim=FFN, decoder_layers=LAYERS, decoder_attention_heads=HEADS,
        encoder_normalize_before=True, decoder_normalize_before=True, share_decoder_input_output_embed=True,
        dropout=DROPOUT, attention_dropout=DROPOUT, activation_dropout=DROPOUT, max_source_positions=1024,
        max_target_positions=1024,
    )
    base_architecture(args)
    return TransformerModel.build_model(args, Task()), dictionary


def fairseq_sample(batch: int, src: int, tgt: int, seed: int) -> dict:
    """fairseq's sample dict for the same random tokens (prev_output_tokens start with eos)."""
    target = random_tokens(batch, tgt, seed + 1)
    eos = torch.full((batch, 1), FS_EOS)
    return {"net_input": {"src_tokens": random_tokens(batch, src, seed), "src_lengths": torch.full((batch,), src),
                          "prev_output_tokens": torch.cat([eos, target], 1)},
            "target": torch.cat([target, eos], 1)}


def fairseq_train(args: argparse.Namespace) -> dict:
    """fairseq's model + label-smoothed NLL (its criterion's function), the same step as legokit's; Adam is
    fairseq's own (fairseq.optim.adam.Adam, what FairseqAdam wraps on CPU) with --optimizer own."""
    from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

    torch.manual_seed(0)
    model, dictionary = build_fairseq()
    model.train()
    params = list(model.parameters())
    if args.precision == "bf16":  # fairseq-train --bf16: bf16 model, FP16Optimizer's fp32 copies (unflattened)
        model.to(dtype=torch.bfloat16)
        master = [torch.nn.Parameter(p.data.float()) for p in params]
    else:
        master = params
    if args.optimizer == "own":  # what `fairseq-train --optimizer adam` steps with on CPU (no apex/fused kernel)
        from fairseq.optim.adam import Adam as FairseqAdamKernel

        optimizer = FairseqAdamKernel(master, lr=1e-5)
    else:
        optimizer = torch.optim.Adam(master, lr=1e-5)
    sample = fairseq_sample(args.batch, args.src, args.tgt, args.seed)

    def step() -> None:
        lprobs = model.get_normalized_probs(model(**sample["net_input"]), log_probs=True)
        loss, _ = label_smoothed_nll_loss(lprobs.view(-1, lprobs.size(-1)), sample["target"].view(-1), 0.1,
                                          ignore_index=dictionary.pad())
        loss.backward()
        if master is not params:  # FP16Optimizer._sync_fp16_grads_to_fp32
            for p, p32 in zip(params, master):
                p32.grad = p.grad.float() if p.grad is not None else None
        ntokens = sample["target"].numel()
        for p in master:
            if p.grad is not None:
                p.grad.div_(ntokens)
        torch.nn.utils.clip_grad_norm_(master, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if master is not params:  # FP16Optimizer._sync_fp32_params_to_fp16
            for p, p32 in zip(params, master):
                p.data.copy_(p32.data)
                p.grad = None

    times = timed(step, args.repeats, warmup=1)
    return {"times": summary(times), "params": sum(p.numel() for p in model.parameters())}


def fairseq_decode(args: argparse.Namespace) -> dict:
    """fairseq SequenceGenerator, beam and forced length as legokit's; saves the weights for legokit."""
    from fairseq.sequence_generator import SequenceGenerator

    torch.manual_seed(0)
    model, dictionary = build_fairseq()
    model.eval()
    if args.weights:
        torch.save(model.state_dict(), args.weights)
    if args.precision == "bf16":  # fairseq-generate --bf16
        model.to(dtype=torch.bfloat16)
    generator = SequenceGenerator([model], dictionary, beam_size=args.beam, max_len_a=0, max_len_b=args.tgt,
                                  min_len=args.tgt, unk_penalty=UNK_PENALTY)
    sample = fairseq_sample(args.sentences, args.src, args.tgt, args.seed + 2)
    sample["net_input"].pop("prev_output_tokens")
    result = {}

    @torch.no_grad()
    def search() -> None:
        result["hyps"] = generator.generate([model], sample)

    times = timed(search, args.repeats, warmup=1)
    best = [h[0] for h in result["hyps"]]
    tokens = [[FS_TO_LK.get(t, t) for t in h["tokens"].tolist() if t != FS_EOS] for h in best]
    return {"times": summary(times), "tokens": tokens, "scores": [float(h["score"]) for h in best]}


WORKERS = {"legokit:train": legokit_train, "legokit:decode": legokit_decode,
           "fairseq:train": fairseq_train, "fairseq:decode": fairseq_decode}


# --- driver ------------------------------------------------------------------------------------------------
def agreement(ours: dict, theirs: dict) -> dict:
    """Exact-match rate of the best hypotheses, token agreement, and the largest score difference."""
    same = sum(a == b for a, b in zip(ours["tokens"], theirs["tokens"]))
    tokens = sum(len(b) for b in theirs["tokens"])
    equal = sum(x == y for a, b in zip(ours["tokens"], theirs["tokens"]) for x, y in zip(a, b))
    diffs = [abs(a - b) for a, b in zip(ours["scores"], theirs["scores"])]
    return {"sentences_equal": same, "sentences": len(theirs["tokens"]), "token_agreement": equal / max(tokens, 1),
            "max_score_diff": max(diffs, default=0.0)}


def figures(record: dict | None, args: argparse.Namespace, task: str) -> dict | None:
    """Throughput figures from a worker record."""
    if record is None:
        return None
    seconds = record["times"]["median_s"]
    if task == "train":
        return {"tokens_per_s": args.batch * (args.tgt + 1) / seconds, "peak_rss_mb": record["peak_rss_mb"]}
    return {"sentences_per_s": args.sentences / seconds, "ms_per_token": 1000 * seconds / (args.sentences * args.tgt),
            "peak_rss_mb": record["peak_rss_mb"]}


def train_flops(args: argparse.Namespace) -> float:
    """Matmul FLOPs of one training step (6 × weights × tokens; attention scores neglected at 30 tokens)."""
    enc_layer, dec_layer = 4 * DIM * DIM + 2 * DIM * FFN, 8 * DIM * DIM + 2 * DIM * FFN
    per_sentence = LAYERS * enc_layer * args.src + (LAYERS * dec_layer + DIM * VOCAB) * (args.tgt + 1)
    return 6.0 * per_sentence * args.batch


def drive(args: argparse.Namespace) -> dict:
    script, fairseq = Path(__file__).resolve(), peer_python("fairseq")
    shape = ["--batch", str(args.batch), "--src", str(args.src), "--tgt", str(args.tgt), "--sentences",
             str(args.sentences), "--beam", str(args.beam), "--repeats", str(args.repeats), "--threads",
             str(args.threads), "--optimizer", args.optimizer, "--precision", args.precision]
    record: dict = {"benchmark": "mt_fairseq", "machine": machine(), "args": vars(args),
                    "matmul_gflops_before": matmul_gflops(args.threads, dtype=DTYPES[args.precision])}
    with tempfile.TemporaryDirectory() as tmp:
        weights = ["--weights", str(Path(tmp) / "fairseq.pt")]
        runs = {}
        for task in ("train", "decode"):
            extra = weights if task == "decode" else []
            runs[f"fairseq:{task}"] = (run_worker(fairseq, script, f"fairseq:{task}", shape + extra, args.threads)
                                       if fairseq else None)
            runs[f"legokit:{task}"] = run_worker(LEGOKIT_PYTHON, script, f"legokit:{task}", shape + extra,
                                                 args.threads)
    record["matmul_gflops_after"] = matmul_gflops(args.threads, dtype=DTYPES[args.precision])
    record["runs"] = {k: v and {key: val for key, val in v.items() if key not in ("tokens", "scores")}
                      for k, v in runs.items()}
    for side in ("legokit", "fairseq"):
        record[side] = {task: figures(runs[f"{side}:{task}"], args, task) for task in ("train", "decode")}
    if runs["fairseq:decode"]:
        record["agreement"] = agreement(runs["legokit:decode"], runs["fairseq:decode"])
    ceiling = (record["matmul_gflops_before"] + record["matmul_gflops_after"]) / 2
    for side in ("legokit", "fairseq"):
        if record[side]["train"]:
            gflops = train_flops(args) / runs[f"{side}:train"]["times"]["median_s"] / 1e9
            record[side]["train"]["matmul_utilisation"] = gflops / ceiling
    return record


def report(record: dict) -> str:
    lk, fs = record["legokit"], record["fairseq"]

    def get(side: dict, task: str, key: str) -> float | None:
        return side[task][key] if side[task] else None

    rows = [
        ("training", "target tokens/s", get(lk, "train", "tokens_per_s"), get(fs, "train", "tokens_per_s"), True),
        ("training peak RSS", "MB", get(lk, "train", "peak_rss_mb"), get(fs, "train", "peak_rss_mb"), False),
        ("training matmul utilisation", "fraction", get(lk, "train", "matmul_utilisation"),
         get(fs, "train", "matmul_utilisation"), True),
        ("beam search", "sentences/s", get(lk, "decode", "sentences_per_s"), get(fs, "decode", "sentences_per_s"),
         True),
        ("beam search", "ms/output token", get(lk, "decode", "ms_per_token"), get(fs, "decode", "ms_per_token"),
         False),
        ("beam search peak RSS", "MB", get(lk, "decode", "peak_rss_mb"), get(fs, "decode", "peak_rss_mb"), False),
    ]
    lines = [table(rows), "",
             f"{record['args']['precision']} matmul ceiling: {record['matmul_gflops_before']:.0f} / "
             f"{record['matmul_gflops_after']:.0f} GFLOP/s "
             f"(before / after); load average at start {record['machine']['load_avg']}"]
    if "agreement" in record:
        a = record["agreement"]
        lines.append(f"same weights: {a['sentences_equal']}/{a['sentences']} best hypotheses identical, "
                     f"token agreement {a['token_agreement']:.3f}, max |score diff| {a['max_score_diff']:.2e}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes and one timed repeat (make bench)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on every side")
    parser.add_argument("--batch", type=int, default=128, help="training sentences per batch")
    parser.add_argument("--src", type=int, default=30, help="source tokens per sentence")
    parser.add_argument("--tgt", type=int, default=30, help="target / forced output tokens per sentence")
    parser.add_argument("--sentences", type=int, default=64, help="sentences decoded in one batch")
    parser.add_argument("--beam", type=int, default=5, help="beam size")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (the median is reported)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random token batches")
    parser.add_argument("--optimizer", choices=["own", "torch"], default="own",
                        help="own: each toolkit's trainer optimiser (legokit: fused torch Adam; fairseq: "
                             "fairseq.optim.adam.Adam); torch: torch.optim.Adam's default on both sides")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="fp32 on both sides, or bfloat16 mixed precision on both (legokit amp: bf16; "
                             "fairseq --bf16)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.sentences, args.repeats = 32, 16, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = "mt_fairseq" + ("" if args.optimizer == "own" else "_torch_adam") + \
        ("" if args.precision == "fp32" else f"_{args.precision}")
    return benchmark_main(name, args, WORKERS, drive, report)


if __name__ == "__main__":
    sys.exit(main())
