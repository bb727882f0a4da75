"""`legokit brick compress`: compress a brick (int8 dynamic PTQ, int8 QAT, magnitude pruning) and evaluate it.

A compressed brick keeps its interfaces (same signatures, same tokenizers), so it stays swappable. Its
manifest gains a ``compression`` entry::

    {"method": "int8-dynamic" | "int8-qat" | "prune",
     "layers": {"<module name>": "int8" | "sparse"},   # how each compressed Linear is stored
     "size_bytes": {"before": n, "after": m}, "sparsity": s, "scores": {"before": {...}, "after": {...}}}

How the layers are stored in the brick file: :mod:`legokit.lego.codec`; the quantisation and pruning ops:
:mod:`legokit.nn.quantize`. Dynamic int8 Linear layers run on CPU only (fbgemm/qnnpack kernels); pruned
bricks run anywhere.

Quantisation-aware training (QAT) fine-tunes the brick against its own interface loss (CTC for an
encoder, CE for a decoder, upstream bricks frozen) with the quantisation error simulated exactly as
the dynamic int8 kernels make it: per-channel symmetric int8 weights, per-tensor affine 7-bit
activations (fbgemm's ``reduce_range``), straight-through gradients; then converts to int8.
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from legokit.data.datadir import read_kaldi_map
from legokit.data.datasets import SpeechDataset, TextPairDataset
from legokit.data.tokenizer import Tokenizer
from legokit.errors import LegokitError
from legokit.lego.bricks import Brick, brick_payload, compose, save_model
from legokit.lego.model import ChainLossConfig, LegoModel
from legokit.nn.quantize import compressible_linears, fake_quantized, int8_layers, prune_linears, quantize_int8
from legokit.score import metrics
from legokit.train.config import OptimConfig, TrainConfig
from legokit.train.monitor import read_metrics
from legokit.train.seeding import seed_everything
from legokit.train.trainer import fit
from legokit.workflows.decode import DecodeConfig, decode_dir
from legokit.workflows.experiment import DataConfig, make_loader

log = logging.getLogger(__name__)

METHODS = ("int8-dynamic", "int8-qat", "prune")
PRUNE_SCOPES = ("global", "layer")


@dataclass
class CompressConfig:
    """How to compress a brick (``legokit brick compress`` options)."""

    method: str = "int8-dynamic"  # int8-dynamic (PTQ), int8-qat (fine-tune with fake quantisation), prune
    sparsity: float = 0.5         # prune: fraction of the compressible Linear weights set to zero
    prune_scope: str = "global"   # prune: "global" (one L1 threshold over all layers) or "layer" (each layer)
    qat_steps: int = 200          # int8-qat: fine-tuning updates
    qat_lr: float = 1e-4          # int8-qat: Adam learning rate
    seed: int = 0                 # int8-qat: data order and dropout
    qat_dir: str | None = None    # int8-qat: the trainer's checkpoints, train.log, metrics (resumable); None: temp

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise LegokitError(f"--method: unknown compression {self.method!r}; expected one of {', '.join(METHODS)}")
        if not 0.0 < self.sparsity < 1.0:
            raise LegokitError(f"--sparsity: expected a fraction in (0, 1), got {self.sparsity}")
        if self.prune_scope not in PRUNE_SCOPES:
            raise LegokitError(f"--prune-scope: expected one of {', '.join(PRUNE_SCOPES)}, got {self.prune_scope!r}")
        if self.qat_steps < 1:
            raise LegokitError(f"--qat-steps: expected at least 1, got {self.qat_steps}")


# --- whole bricks -------------------------------------------------------------------------------------
def brick_size(brick: Brick) -> int:
    """Bytes of the brick's file (its payload as ``torch.save`` writes it)."""
    buffer = io.BytesIO()
    torch.save(brick_payload(brick), buffer)
    return buffer.tell()


def nonzero_parameters(module: nn.Module) -> int:
    """Non-zero weights, int8 layers included (their integer weights)."""
    count = sum(int((p != 0).sum()) for p in module.parameters())
    return count + sum(int((m.weight().int_repr() != 0).sum()) for _, m in int8_layers(module))


# --- quantisation-aware training --------------------------------------------------------------------
def qat_finetune(model: LegoModel, module: nn.Module, batches: Callable[[int], Iterable[dict]], steps: int,
                 lr: float, out_dir: Path, seed: int = 0, clip_norm: float = 5.0) -> list[float]:
    """Fine-tune ``module`` (one brick of ``model``; the model's other bricks must be frozen) for ``steps`` Adam
    updates of the model's per-token loss with its Linear layers fake-quantised, through the trainer
    (:func:`legokit.train.trainer.fit`: progress, checkpoints in ``out_dir``, resume from them). ``batches(epoch)``
    yields the batches of epoch 1, 2, ... Returns the loss of every update. The brick's length statistics are
    left as they were."""
    length_stats = copy.deepcopy(module.length_stats.state_dict())
    optim = OptimConfig(optimizer="adam", lr=lr, betas=[0.9, 0.999], eps=1e-8, scheduler="constant", warmup_steps=0,
                        clip_grad_norm=clip_norm)
    # an epoch that yields a batch makes an update, so `steps` epochs are enough; an empty one ends fit at step 0
    train = TrainConfig(max_steps=steps, max_epochs=steps, log_interval=1, keep_last_checkpoints=1, keep_best=0,
                        seed=seed, device="cpu")
    with fake_quantized(module, list(compressible_linears(module))):
        result = fit(model, batches, None, optim, train, out_dir)
    model.eval()
    module.length_stats.load_state_dict(length_stats)
    if result.reason == "interrupted":
        raise LegokitError(f"QAT was interrupted at update {result.step}: run the same command with --qat-dir "
                           f"{out_dir} to resume")
    if result.step == 0:
        raise LegokitError("QAT data yields no batch: check --qat-data (and --max-tokens)")
    losses = {r["step"]: r["loss"] for r in read_metrics(out_dir / "metrics.jsonl")
              if r["event"] == "train"}  # a resumed run repeats the steps after its checkpoint: the last wins
    return [losses[step] for step in sorted(losses)]


# --- data for QAT and evaluation ----------------------------------------------------------------------
@dataclass
class ChainData:
    """A data dir a brick chain reads: MT text pairs (text.<src>, text.<tgt>) or speech (text + feats.scp)."""

    data_dir: str
    src_lang: str = "de"          # MT: source side text.<src_lang>
    tgt_lang: str = "en"          # MT: reference side text.<tgt_lang>
    feats: str | None = None      # speech: feats.scp of the data dir's feature dump
    max_tokens: int = 2000        # batch budget (padded tokens or frames)

    def is_speech(self, bricks: list[Brick]) -> bool:
        return bricks[0].module.cfg.input == "speech"

    def dataset(self, bricks: list[Brick]) -> torch.utils.data.Dataset:
        """Inputs for the chain's first brick, targets in its last brick's output vocabulary."""
        first, last = bricks[0], bricks[-1]
        if first.module.cfg.input == "interface":
            raise LegokitError(f"{first.path} reads an interface: give the bricks before it with --upstream")
        target = _tokenizer(last, "output")
        if self.is_speech(bricks):
            if not self.feats:
                raise LegokitError(f"{first.path} reads speech: give the feats.scp of {self.data_dir}")
            return SpeechDataset(self.data_dir, self.feats, target)
        return TextPairDataset(self.data_dir, self.src_lang, self.tgt_lang, _tokenizer(first, "input"), target)

    def loader(self, bricks: list[Brick], seed: int) -> Callable[[int], Iterable[dict]]:
        """epoch -> shuffled, length-bucketed training batches."""
        dataset = self.dataset(bricks)
        cfg = DataConfig(task="asr" if self.is_speech(bricks) else "mt", max_tokens=self.max_tokens)
        return lambda epoch: make_loader(dataset, cfg, True, seed, epoch)

    def references(self, bricks: list[Brick]) -> dict[str, str]:
        return read_kaldi_map(Path(self.data_dir) / ("text" if self.is_speech(bricks) else f"text.{self.tgt_lang}"))


def _tokenizer(brick: Brick, role: str) -> Tokenizer:
    if role not in brick.tokenizers:
        raise LegokitError(f"{brick.path}: the brick carries no {role} tokenizer; re-export it with `legokit train`")
    return brick.tokenizers[role]


def evaluate_chain(bricks: list[Brick], data: ChainData, decode: DecodeConfig | None = None) -> dict[str, float]:
    """Decode ``data`` with the chain (as `legokit decode` would) and score it: BLEU for text input, WER
    for speech; plus decoding speed (utterances/s, ms per output token)."""
    with tempfile.TemporaryDirectory() as tmp:
        save_model(bricks, Path(tmp) / "model.pt")
        stats = decode_dir(Path(tmp) / "model.pt", Path(data.data_dir), Path(tmp) / "hyp", decode or DecodeConfig(),
                           feats=Path(data.feats) if data.feats else None, src_lang=data.src_lang)
        hyps = read_kaldi_map(Path(tmp) / "hyp", allow_empty_value=True)
    refs = data.references(bricks)
    ids = [u for u in hyps if u in refs]
    if not ids:
        raise LegokitError(f"{data.data_dir}: no decoded utterance has a reference; check the data dir")
    metric = metrics.wer if data.is_speech(bricks) else metrics.bleu
    return {metric.__name__: metric([refs[u] for u in ids], [hyps[u] for u in ids]),
            "utterances_per_s": stats["utterances_per_s"], "ms_per_token": stats["ms_per_token"]}


# --- whole bricks -------------------------------------------------------------------------------------
def compress_brick(brick: Brick, cfg: CompressConfig, upstream: list[Brick] | None = None,
                   qat_data: ChainData | None = None) -> Brick:
    """A compressed copy of ``brick`` (same interfaces), its manifest recording method, layers and size.

    ``upstream``: the bricks before it in a chain (frozen; a decoder needs its encoder for QAT).
    ``qat_data``: the fine-tuning data of ``int8-qat``.
    """
    if brick.manifest.get("compression"):
        raise LegokitError(f"{brick.path}: already compressed ({brick.manifest['compression']['method']}); "
                           "compress the original fp32 brick instead")
    module = copy.deepcopy(brick.module)
    names = list(compressible_linears(module))
    if not names:
        raise LegokitError(f"{brick.path}: the brick has no Linear layer that can be compressed")
    out = Brick(module, copy.deepcopy(brick.manifest), dict(brick.tokenizers), brick.path)
    record: dict[str, Any] = {"method": cfg.method}
    if cfg.method == "prune":
        record["sparsity"] = prune_linears(module, names, cfg.sparsity, cfg.prune_scope)
        record["prune_scope"] = cfg.prune_scope
        record["layers"] = dict.fromkeys(names, "sparse")
    else:
        if cfg.method == "int8-qat":
            record["qat"] = _run_qat(out, cfg, upstream or [], qat_data)
        quantize_int8(module, names)
        record["layers"] = dict.fromkeys(names, "int8")
    out.manifest["compression"] = record
    record["size_bytes"] = {"before": brick_size(brick), "after": brick_size(out)}
    record["nonzero_parameters"] = {"before": nonzero_parameters(brick.module), "after": nonzero_parameters(module)}
    log.info("%s: %s, %d -> %d bytes", brick.path, cfg.method, record["size_bytes"]["before"],
             record["size_bytes"]["after"])
    return out


def _run_qat(brick: Brick, cfg: CompressConfig, upstream: list[Brick], data: ChainData | None) -> dict[str, Any]:
    if data is None:
        raise LegokitError("--method int8-qat needs fine-tuning data: give --qat-data (a data dir)")
    if brick.kind == "decoder" and not upstream:
        raise LegokitError(f"{brick.path} is a decoder: QAT needs the encoder brick that feeds it (--upstream)")
    seed_everything(cfg.seed)
    # frozen copies: freezing the caller's upstream bricks would leave them without gradients (and in eval mode)
    chain = [*(Brick(copy.deepcopy(b.module), b.manifest, b.tokenizers, b.path) for b in upstream), brick]
    loss = ChainLossConfig(ctc_weight=0.0 if brick.kind == "decoder" else 1.0)  # the brick's own interface loss
    model = compose(chain, length_rate=None, loss=loss)
    for i in range(len(upstream)):
        model.freeze(f"encoders.{i}")
    with contextlib.ExitStack() as stack:
        out_dir = Path(cfg.qat_dir) if cfg.qat_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        losses = qat_finetune(model, brick.module, data.loader(chain, cfg.seed), cfg.qat_steps, cfg.qat_lr, out_dir,
                              cfg.seed)
    log.info("QAT of %s: %d steps, loss %.4f -> %.4f", brick.path, len(losses), losses[0], losses[-1])
    return {"steps": len(losses), "lr": cfg.qat_lr, "data": data.data_dir, "loss_first": losses[0],
            "loss_last": losses[-1], "loss": "ce" if brick.kind == "decoder" else "ctc"}
