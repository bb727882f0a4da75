"""The brick codec: a compressed brick module <-> the plain tensors of its file.

A compressed brick's manifest names how each compressed Linear layer is stored (``compression.layers``:
``{"<module name>": "int8" | "sparse"}``), and the state stays plain data (``torch.load(weights_only=True)``):
for an ``int8`` layer L it holds ``L.weight_int8`` (out, in) int8 and ``L.weight_scale`` (out,) float64
(per-channel symmetric, zero point 0) instead of ``L.weight``; for a ``sparse`` layer ``L.weight_values``
(nnz,) and ``L.weight_bitmask`` (packed bits, row-major). :func:`decode_module` rebuilds the fp32 brick,
then swaps every int8 layer for a dynamic int8 Linear built from exactly the stored integers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from legokit.errors import LegokitError
from legokit.nn.quantize import int8_linear

M = TypeVar("M", bound=nn.Module)
_BIT_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


def pack_bits(mask: Tensor) -> Tensor:
    """bool (N,) -> uint8 (ceil(N/8),), most significant bit first."""
    padded = torch.cat([mask.flatten().to(torch.uint8), mask.new_zeros((-mask.numel()) % 8, dtype=torch.uint8)])
    return (padded.view(-1, 8) * _BIT_WEIGHTS).sum(1, dtype=torch.uint8)


def unpack_bits(bits: Tensor, count: int) -> Tensor:
    """uint8 (ceil(N/8),) -> bool (N,); inverse of :func:`pack_bits`."""
    return ((bits[:, None] & _BIT_WEIGHTS) != 0).flatten()[:count]


def load_weights(module: nn.Module, state: dict[str, Tensor], origin: str, assign: bool = False) -> None:
    """Load a brick's fp32 state (copied into the module's tensors, or with ``assign`` put in their place);
    every key must fit the architecture, in name and shape."""
    try:
        missing, unexpected = module.load_state_dict(state, strict=False, assign=assign)
    except RuntimeError as err:  # a size mismatch (torch lists every one; the first says enough)
        lines = [line.strip() for line in str(err).splitlines()[1:] if line.strip()] or [str(err)]
        raise LegokitError(f"{origin}: weights do not fit the manifest's architecture ({lines[0]})") from None
    if missing or unexpected:
        raise LegokitError(f"{origin}: weights do not fit the manifest's architecture "
                           f"(missing {missing[:5]}, unexpected {unexpected[:5]})")


class _SkipRandomInit(TorchFunctionMode):
    """Inside it, the random initialisers of parameters are no-ops (they keep torch.empty's uninitialised
    memory; other tensors are initialised); the parameters skipped are kept in ``skipped``. Thread-local, as
    torch function modes are."""

    FUNCTIONS = frozenset({nn.init.uniform_, nn.init.normal_, nn.init.trunc_normal_, nn.init.kaiming_uniform_,
                           nn.init.kaiming_normal_, Tensor.uniform_, Tensor.normal_})

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[Tensor] = []

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if func in self.FUNCTIONS:
            tensor = args[0] if args else kwargs["tensor"]
            if isinstance(tensor, nn.Parameter):  # in the state, every one (load_weights)
                self.skipped.append(tensor)
                return tensor
        return func(*args, **kwargs)


def _tensors(module: nn.Module) -> list[Tensor]:
    """The parameters, buffers (persistent or not) and tensor attributes of ``module`` and its submodules."""
    found = [t for _, t in (*module.named_parameters(remove_duplicate=False),
                            *module.named_buffers(remove_duplicate=False))]
    return found + [v for sub in module.modules() for v in vars(sub).values() if isinstance(v, Tensor)]


def build_loaded(build: Callable[[], M], state: dict[str, Tensor], origin: str) -> M:
    """``build()`` holding ``state`` (as :func:`load_weights` loads it), without the random initialisation that
    ``state`` would overwrite (0.17 CPU s for a 31M-parameter Conformer model).

    ``build()`` runs with the random initialisers of parameters skipped (so it draws fewer random numbers) and
    the state's tensors take the place of the module's parameters and buffers (cast to their dtypes, as copying
    would): no weight is initialised or copied. Parameters that are one tensor in the module (tied embeddings)
    stay one, with the value of the last name in module order, the one copying leaves. Buffers outside the
    state (positional tables) are computed as ``build()`` computes them; if a tensor sharing the memory of a
    skipped parameter is still in the module, it is built and loaded the ordinary way. (Not the meta device:
    normal_ and arange on meta tensors import sympy and torch._dynamo, ≈ 0.9 CPU s.)
    """
    with _SkipRandomInit() as mode:
        module = build()
    names: dict[int, list[str]] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), []).append(name)
    expected = module.state_dict()
    state = {k: v.to(expected[k].dtype) if k in expected and v.dtype != expected[k].dtype else v
             for k, v in state.items()}
    load_weights(module, state, origin, assign=True)
    for group in (g for g in names.values() if len(g) > 1):
        shared = module.get_parameter(group[-1])
        for name in group[:-1]:
            owner, _, attr = name.rpartition(".")
            setattr(module.get_submodule(owner), attr, shared)
    uninitialised = {t.untyped_storage().data_ptr() for t in mode.skipped if t.numel()}
    if any(t.numel() and t.untyped_storage().data_ptr() in uninitialised for t in _tensors(module)):
        module = build()
        load_weights(module, state, origin)
    return module


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
