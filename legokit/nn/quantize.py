"""Quantisation and pruning ops on ``nn.Linear`` layers: int8 rounding as the dynamic int8 CPU kernels do it
(per-channel symmetric int8 weights, per-tensor affine 7-bit activations: fbgemm's ``reduce_range``), fake
quantisation with straight-through gradients for quantisation-aware training, and L1 magnitude pruning.

Linear layers whose weight is shared with another parameter (a decoder's output projection tied to its
embedding) are not compressible: compressing one copy would silently change the other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear
from torch.nn.utils import parametrize, prune


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


def int8_linear(weight_int8: Tensor, scale: Tensor, bias: Tensor | None) -> DynamicInt8Linear:
    """A dynamic int8 Linear holding exactly ``weight_int8`` (out, in) with per-channel ``scale`` (out,)."""
    out_features, in_features = weight_int8.shape
    zero = torch.zeros(out_features, dtype=torch.long)
    scale = scale.double()
    # torch deprecates quantized tensors (a UserWarning, once per process) but its dynamic int8 CPU kernels need
    # them; torchao, where they move, is no dependency of legokit. tests/lego/test_compress.py pins this path.
    qweight = torch.quantize_per_channel((weight_int8.double() * scale[:, None]).float(), scale, zero, 0, torch.qint8)
    layer = DynamicInt8Linear(in_features, out_features, bias_=bias is not None, dtype=torch.qint8)
    layer.set_weight_bias(qweight, None if bias is None else bias.detach().float())
    return layer


def quantize_int8(module: nn.Module, names: list[str]) -> None:
    """Replace the named Linear layers by dynamic int8 ones, in place: per-channel symmetric int8 weights,
    exactly the integers :func:`fake_quant_weight` simulates (what ``torch.ao.quantization.quantize_dynamic``
    with ``per_channel_dynamic_qconfig`` computes; that API is deprecated, tests/lego/test_compress.py compares)."""
    for name in names:
        layer = module.get_submodule(name)
        scale = weight_scale(layer.weight)
        weight_int8 = torch.round(fake_quant_weight(layer.weight.detach()) / scale[:, None]).to(torch.int8)
        module.set_submodule(name, int8_linear(weight_int8, scale, layer.bias))


def int8_layers(module: nn.Module) -> Iterator[tuple[str, DynamicInt8Linear]]:
    return ((n, m) for n, m in module.named_modules() if isinstance(m, DynamicInt8Linear))


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
