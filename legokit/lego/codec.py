"""The brick codec: a compressed brick module <-> the plain tensors of its file.

A compressed brick's manifest names how each compressed Linear layer is stored (``compression.layers``:
``{"<module name>": "int8" | "sparse"}``), and the state stays plain data (``torch.load(weights_only=True)``):
for an ``int8`` layer L it holds ``L.weight_int8`` (out, in) int8 and ``L.weight_scale`` (out,) float64
(per-channel symmetric, zero point 0) instead of ``L.weight``; for a ``sparse`` layer ``L.weight_values``
(nnz,) and ``L.weight_bitmask`` (packed bits, row-major). :func:`decode_module` rebuilds the fp32 brick,
then swaps every int8 layer for a dynamic int8 Linear built from exactly the stored integers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from legokit.errors import LegokitError
from legokit.nn.quantize import int8_linear

_BIT_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


def pack_bits(mask: Tensor) -> Tensor:
    """bool (N,) -> uint8 (ceil(N/8),), most significant bit first."""
    padded = torch.cat([mask.flatten().to(torch.uint8), mask.new_zeros((-mask.numel()) % 8, dtype=torch.uint8)])
    return (padded.view(-1, 8) * _BIT_WEIGHTS).sum(1, dtype=torch.uint8)


def unpack_bits(bits: Tensor, count: int) -> Tensor:
    """uint8 (ceil(N/8),) -> bool (N,); inverse of :func:`pack_bits`."""
    return ((bits[:, None] & _BIT_WEIGHTS) != 0).flatten()[:count]


def load_weights(module: nn.Module, state: dict[str, Tensor], origin: str) -> None:
    """Load a brick's fp32 state; every key must fit the architecture."""
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise LegokitError(f"{origin}: weights do not fit the manifest's architecture "
                           f"(missing {missing[:5]}, unexpected {unexpected[:5]})")


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
        module.set_submodule(name, int8_linear(weight_int8, scale, module.get_submodule(name).bias))
    return module
