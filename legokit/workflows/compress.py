"""Compressed bricks: int8 dynamic quantisation (PTQ and QAT) and magnitude pruning of Linear layers.

A compressed brick keeps its interfaces (same signatures, same tokenizers), so it stays swappable. Its
manifest gains a ``compression`` entry::

    {"method": "int8-dynamic" | "int8-qat" | "prune",
     "layers": {"<module name>": "int8" | "sparse"},   # how each compressed Linear is stored
     "size_bytes": {"before": n, "after": m}, "sparsity": s, "scores": {"before": {...}, "after": {...}}}

and the brick file stays plain data (``torch.load(weights_only=True)``): for an ``int8`` layer L the state
holds ``L.weight_int8`` (out, in) int8 and ``L.weight_scale`` (out,) float64 (per-channel symmetric, zero
point 0) instead of ``L.weight``; for a ``sparse`` layer ``L.weight_values`` (nnz,) and ``L.weight_bitmask``
(packed bits, row-major). :func:`decode_module` rebuilds the fp32 brick, then swaps every int8 layer for
``torch.ao.nn.quantized.dynamic.Linear`` built from exactly the stored integers. Dynamic int8 Linear
layers run on CPU only (fbgemm/qnnpack kernels); pruned bricks run anywhere.

Linear layers whose weight is shared with another parameter (a decoder's output projection tied to its
embedding) are left in fp32: compressing one copy would silently change the other.

Quantisation-aware training (QAT) fine-tunes the brick against its own interface loss (CTC for an
encoder, CE for a decoder, upstream bricks frozen) with the quantisation error simulated exactly as
the dynamic int8 kernels make it: per-channel symmetric int8 weights, per-tensor affine 7-bit
activations (fbgemm's ``reduce_range``), straight-through gradients; then converts to int8.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
from torch.nn.utils import parametrize, prune

from legokit.data.datadir import read_kaldi_map
from legokit.data.datasets import SpeechDataset, TextPairDataset
from legokit.data.tokenizer import Tokenizer
from legokit.decode.runner import DecodeConfig, decode_dir
from legokit.errors import LegokitError
from legokit.experiment import DataConfig, make_loader
from legokit.lego.bricks import Brick, brick_payload, compose, load_weights, save_model
from legokit.lego.model import ChainLossConfig, LegoModel
from legokit.score import metrics
from legokit.train.seeding import seed_everything

log = logging.getLogger(__name__)

METHODS = ("int8-dynamic", "int8-qat", "prune")
PRUNE_SCOPES = ("global", "layer")
_BIT_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


@dataclass
class CompressConfig:
    """How to compress a brick (``legokit brick compress`` options)."""

    method: str = "int8-dynamic"  # int8-dynamic (PTQ), int8-qat (fine-tune with fake quantisation), prune
    sparsity: float = 0.5         # prune: fraction of the compressible Linear weights set to zero
    prune_scope: str = "global"   # prune: "global" (one L1 threshold over all layers) or "layer" (each layer)
    qat_steps: int = 200          # int8-qat: fine-tuning updates
    qat_lr: float = 1e-4          # int8-qat: Adam learning rate
    seed: int = 0                 # int8-qat: data order and dropout

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise LegokitError(f"--method: unknown compression {self.method!r}; expected one of {', '.join(METHODS)}")
        if not 0.0 < self.sparsity < 1.0:
            raise LegokitError(f"--sparsity: expected a fraction in (0, 1), got {self.sparsity}")
        if self.prune_scope not in PRUNE_SCOPES:
            raise LegokitError(f"--prune-scope: expected one of {', '.join(PRUNE_SCOPES)}, got {self.prune_scope!r}")
        if self.qat_steps < 1:
            raise LegokitError(f"--qat-steps: expected at least 1, got {self.qat_steps}")


# --- which layers -------------------------------------------------------------------------------------
def compressible_linears(module: nn.Module) -> dict[str, nn.Linear]:
    """Name -> Linear for every Linear whose weight no other module shares (tied weights stay fp32)."""
    owners: dict[int, int] = {}
    for sub in module.modules():
        for param in sub.parameters(recurse=False):
            owners[id(param)] = owners.get(id(param), 0) + 1
    return {name: sub for name, sub in module.named_modules()
            if type(sub) is nn.Linear and owners[id(sub.weight)] == 1}


# --- int8 ---------------------------------------------------------------------------------------------
def weight_scale(weight: Tensor) -> Tensor:
    """Per-output-channel symmetric int8 scale (out,), as torch's per-channel weight observer: amax/127.5."""
    return (weight.detach().abs().amax(dim=1) / 127.5).clamp_min(torch.finfo(torch.float32).eps)


def fake_quant_weight(weight: Tensor) -> Tensor:
    """(out, in) -> int8-rounded weights (per-channel symmetric), straight-through gradient."""
    scale = weight_scale(weight).float()
    zero = torch.zeros(weight.size(0), dtype=torch.int32, device=weight.device)
    return _straight_through(weight, torch.fake_quantize_per_channel_affine(weight.detach(), scale, zero, 0, -128, 127))


def fake_quant_activation(x: Tensor) -> Tensor:
    """Per-tensor affine 7-bit (0..127) rounding over [min(x, 0), max(x, 0)]: fbgemm's dynamic input
    quantisation with ``reduce_range``. Straight-through gradient."""
    lo, hi = x.detach().min().clamp(max=0.0), x.detach().max().clamp(min=0.0)
    scale = ((hi - lo) / 127.0).clamp_min(torch.finfo(torch.float32).eps).float().reshape(1)
    zero = torch.round(-lo / scale).clamp(0, 127).to(torch.int32).reshape(1)
    return _straight_through(x, torch.fake_quantize_per_tensor_affine(x.detach(), scale, zero, 0, 127))


def _straight_through(x: Tensor, rounded: Tensor) -> Tensor:
    """Forward ``rounded``, gradient 1 w.r.t. ``x`` everywhere (also where rounding clipped: the row
    maximum of a symmetric int8 scale sits at +127.5 and is clipped to 127, yet should keep learning)."""
    return x + (rounded - x).detach()


class _FakeQuantWeight(nn.Module):
    """Parametrisation: the Linear's weight as the int8 kernel will see it."""

    def forward(self, weight: Tensor) -> Tensor:
        return fake_quant_weight(weight)


def _int8_linear(weight_int8: Tensor, scale: Tensor, bias: Tensor | None) -> DynamicInt8Linear:
    """A dynamic int8 Linear holding exactly ``weight_int8`` (out, in) with per-channel ``scale`` (out,)."""
    out_features, in_features = weight_int8.shape
    zero = torch.zeros(out_features, dtype=torch.long)
    scale = scale.double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates quantized tensors; the kernels still need them
        qweight = torch.quantize_per_channel((weight_int8.double() * scale[:, None]).float(), scale, zero, 0,
                                          torch.qint8)
        layer = DynamicInt8Linear(in_features, out_features, bias_=bias is not None, dtype=torch.qint8)
        layer.set_weight_bias(qweight, None if bias is None else bias.detach().float())
    return layer


def quantize_int8(module: nn.Module, names: list[str]) -> None:
    """Replace the named Linear layers by dynamic int8 ones, in place
    (``torch.ao.quantization.quantize_dynamic`` with per-channel symmetric weights)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices; the CPU kernels are what we use
        quantize_dynamic(module, dict.fromkeys(names, per_channel_dynamic_qconfig), dtype=torch.qint8,
                         inplace=True)


def int8_layers(module: nn.Module) -> Iterator[tuple[str, DynamicInt8Linear]]:
    return ((n, m) for n, m in module.named_modules() if isinstance(m, DynamicInt8Linear))


# --- pruning ------------------------------------------------------------------------------------------
def prune_linears(module: nn.Module, names: list[str], sparsity: float, scope: str = "global") -> float:
    """L1 magnitude pruning of the named Linear weights to ``sparsity``, made permanent. Returns the
    achieved sparsity over those weights. ``global``: one threshold over all of them; ``layer``: each."""
    layers = [module.get_submodule(n) for n in names]
    if scope == "global":
        prune.global_unstructured([(m, "weight") for m in layers], prune.L1Unstructured, amount=sparsity)
    else:
        for m in layers:
            prune.l1_unstructured(m, "weight", amount=sparsity)
    for m in layers:
        prune.remove(m, "weight")
    zeros = sum(int((m.weight == 0).sum()) for m in layers)
    return zeros / max(sum(m.weight.numel() for m in layers), 1)


def pack_bits(mask: Tensor) -> Tensor:
    """bool (N,) -> uint8 (ceil(N/8),), most significant bit first."""
    padded = torch.cat([mask.flatten().to(torch.uint8), mask.new_zeros((-mask.numel()) % 8, dtype=torch.uint8)])
    return (padded.view(-1, 8) * _BIT_WEIGHTS).sum(1, dtype=torch.uint8)


def unpack_bits(bits: Tensor, count: int) -> Tensor:
    """uint8 (ceil(N/8),) -> bool (N,); inverse of :func:`pack_bits`."""
    return ((bits[:, None] & _BIT_WEIGHTS) != 0).flatten()[:count]


# --- brick payload encoding (used by legokit.lego.bricks) ----------------------------------------------
def encode_state(module: nn.Module, compression: dict[str, Any]) -> dict[str, Tensor]:
    """Plain-tensor state of a compressed brick module (see the module docstring for the keys)."""
    layers = compression.get("layers", {})
    int8_names = [n for n, kind in layers.items() if kind == "int8"]
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()
             if isinstance(v, Tensor) and not any(k.startswith(f"{n}.") for n in int8_names)}
    for name in int8_names:
        layer = module.get_submodule(name)
        qweight = layer.weight()
        state[f"{name}.weight_int8"] = qweight.int_repr().clone()
        state[f"{name}.weight_scale"] = qweight.q_per_channel_scales().clone()
        if layer.bias() is not None:
            state[f"{name}.bias"] = layer.bias().detach().clone()
    for name in (n for n, kind in layers.items() if kind == "sparse"):
        weight = state.pop(f"{name}.weight")
        state[f"{name}.weight_values"] = weight[weight != 0]
        state[f"{name}.weight_bitmask"] = pack_bits(weight != 0)
    return state


def _pop(state: dict[str, Tensor], key: str, origin: str) -> Tensor:
    if key not in state:
        raise LegokitError(f"{origin}: compressed brick lacks {key!r}; the file is incomplete — re-run "
                           "`legokit brick compress` on the original brick")
    return state.pop(key)


def decode_module(module: nn.Module, state: dict[str, Tensor], compression: dict[str, Any],
                  origin: str) -> nn.Module:
    """Load a compressed payload state into a freshly built fp32 ``module``; int8 layers become dynamic
    int8 Linear layers holding the stored integers."""
    state = dict(state)
    int8: dict[str, tuple[Tensor, Tensor]] = {}
    for name, kind in compression.get("layers", {}).items():
        layer = module.get_submodule(name) if name in dict(module.named_modules()) else None
        if type(layer) is not nn.Linear or kind not in ("int8", "sparse"):
            raise LegokitError(f"{origin}: manifest compression.layers[{name!r}] = {kind!r} does not name an "
                               "int8/sparse Linear layer of this brick's architecture")
        if kind == "int8":
            int8[name] = (_pop(state, f"{name}.weight_int8", origin), _pop(state, f"{name}.weight_scale", origin))
            state[f"{name}.weight"] = (int8[name][0].double() * int8[name][1][:, None]).float()
        else:
            values, bits = _pop(state, f"{name}.weight_values", origin), _pop(state, f"{name}.weight_bitmask", origin)
            mask = unpack_bits(bits, layer.weight.numel())
            weight = values.new_zeros(layer.weight.numel())
            weight[mask] = values
            state[f"{name}.weight"] = weight.view_as(layer.weight)
    load_weights(module, state, origin)
    for name, (weight_int8, scale) in int8.items():
        module.set_submodule(name, _int8_linear(weight_int8, scale, module.get_submodule(name).bias))
    return module


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
@contextlib.contextmanager
def fake_quantized(module: nn.Module, names: list[str]) -> Iterator[None]:
    """While open, the named Linear layers compute as their dynamic int8 versions will (weights and inputs
    rounded, straight-through gradients); the fp32 weights stay the trained parameters."""
    hooks = []
    for name in names:
        layer = module.get_submodule(name)
        parametrize.register_parametrization(layer, "weight", _FakeQuantWeight())
        hooks.append(layer.register_forward_pre_hook(lambda _m, args: (fake_quant_activation(args[0]), *args[1:])))
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
        for name in names:
            parametrize.remove_parametrizations(module.get_submodule(name), "weight", leave_parametrized=False)


def qat_finetune(model: LegoModel, module: nn.Module, batches: Callable[[int], Iterable[dict]], steps: int,
                 lr: float, clip_norm: float = 5.0) -> list[float]:
    """Fine-tune ``module`` (one brick of ``model``, the others frozen) for ``steps`` Adam updates of the
    model's per-token loss with its Linear layers fake-quantised. ``batches(epoch)`` yields batches.
    Returns the loss of every step. The brick's length statistics are left as they were."""
    names = list(compressible_linears(module))
    length_stats = copy.deepcopy(module.length_stats.state_dict())
    losses: list[float] = []
    with fake_quantized(module, names):
        params = [p for p in module.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=lr)
        model.train()
        epoch = 0
        while len(losses) < steps:
            seen = len(losses)
            for batch in itertools.islice(batches(epoch), steps - len(losses)):
                out = model(batch)
                loss = out["loss"] / out["weight"].clamp_min(1.0)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, clip_norm)
                optimizer.step()
                losses.append(float(loss.detach()))
            if len(losses) == seen:
                raise LegokitError("QAT data yields no batch: check --qat-data (and --max-tokens)")
            epoch += 1
    model.eval()
    module.length_stats.load_state_dict(length_stats)
    return losses


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
    losses = qat_finetune(model, brick.module, data.loader(chain, cfg.seed), cfg.qat_steps, cfg.qat_lr)
    log.info("QAT of %s: %d steps, loss %.4f -> %.4f", brick.path, len(losses), losses[0], losses[-1])
    return {"steps": len(losses), "lr": cfg.qat_lr, "data": data.data_dir, "loss_first": losses[0],
            "loss_last": losses[-1], "loss": "ce" if brick.kind == "decoder" else "ctc"}
