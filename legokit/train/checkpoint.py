"""Checkpoint files: atomic writes, a sha256 checksum, RNG states, and N-best averaging.

A checkpoint is a plain ``torch.save`` zip of a dict holding tensors and primitive types only, so any
PyTorch program opens it with ``torch.load(path, weights_only=True)``. The checksum travels inside it::

    {"_legokit": {"format": "legokit-checkpoint/2", "sha256": <digest of every other entry>}, "model": ...}

The digest runs over a canonical walk of the other entries (keys, types, dtypes, shapes, tensor bytes,
values; see `payload_digest`), not over the file bytes, so it does not depend on how a torch version
lays out the zip. `load_checkpoint` verifies it and returns the dict without the ``_legokit`` entry.
Files of format 1 (``MAGIC`` + hex digest of the torch bytes + newline + torch bytes) still load.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from legokit.errors import LegokitError
from legokit.fileio import write_atomic
from legokit.train.monitor import read_metrics

#: header of format-1 checkpoint files (still readable; written by legokit before format 2)
MAGIC = b"legokit-checkpoint 1\n"
_DIGEST_LEN = 64
FORMAT = "legokit-checkpoint/2"
#: the payload entry that identifies a format-2 checkpoint and carries its checksum
META_KEY = "_legokit"
_ZIP_MAGIC = b"PK\x03\x04"
CKPT_RE = re.compile(r"^ckpt-(\d+)\.pt$")
_REMEDY = "Delete it and resume from an older ckpt-*.pt, or retrain"
_MISMATCH = f"checkpoint is corrupted (sha256 mismatch; the file was truncated or altered). {_REMEDY}"


def payload_digest(payload: Any) -> str:
    """sha256 hex digest of a canonical walk of ``payload``: dict keys in order, list/tuple items, tensors
    as dtype, shape and bytes, other values as type name and repr."""
    digest = hashlib.sha256()
    _feed(digest, payload)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}:".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}:".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}{len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    else:
        text = repr(value)
        digest.update(f"{type(value).__name__}{len(text)}:{text}".encode())


def encode_checkpoint(payload: dict[str, Any]) -> bytes:
    """The bytes of a checkpoint file holding `payload` (a plain torch.save zip with the checksum inside)."""
    if META_KEY in payload:
        raise ValueError(f"checkpoint payload must not hold the reserved key {META_KEY!r}")
    buffer = io.BytesIO()
    torch.save({META_KEY: {"format": FORMAT, "sha256": payload_digest(payload)}, **payload}, buffer)
    return buffer.getvalue()


def save_checkpoint(payload: dict[str, Any], *paths: Path) -> None:
    """Serialise `payload` once and write it atomically to every path."""
    data = encode_checkpoint(payload)
    for path in paths:
        write_atomic(data, Path(path))


def _unpickle(path: Path, source: Path | bytes) -> Any:
    """torch.load(weights_only=True) of a checkpoint file or of the payload bytes of a format-1 file."""
    try:
        return torch.load(source if isinstance(source, Path) else io.BytesIO(source), map_location="cpu",
                          weights_only=True)
    except pickle.UnpicklingError:  # pickled code or objects, refused by weights_only before running
        raise LegokitError(f"{path}: checkpoint payload cannot be loaded safely (UnpicklingError); it was altered "
                           "or not written by legokit: delete it or resume from another ckpt-*.pt") from None
    except Exception as err:  # a foreign torch file, a truncated or altered zip ...
        if isinstance(source, Path):
            raise LegokitError(f"{path}: checkpoint is corrupted (unreadable torch archive: {type(err).__name__}; "
                               f"the file was truncated or altered). {_REMEDY}") from None
        raise LegokitError(f"{path}: checkpoint payload cannot be loaded safely ({type(err).__name__}); "
                           "it was not written by legokit: delete it or resume from another ckpt-*.pt") from None


def _load_format1(path: Path, raw: bytes) -> Any:
    header_len = len(MAGIC) + _DIGEST_LEN + 1
    digest, data = raw[len(MAGIC):header_len - 1].decode("ascii", "replace"), raw[header_len:]
    if len(raw) < header_len or hashlib.sha256(data).hexdigest() != digest:
        raise LegokitError(f"{path}: {_MISMATCH}")
    return _unpickle(path, data)


def _as_dict(path: Path, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise LegokitError(f"{path}: checkpoint payload is a {type(payload).__name__}, expected a dict; "
                           "delete it or resume from another ckpt-*.pt")
    return payload


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (either format), verifying its checksum; tensors land
    on CPU."""
    path = Path(path)
    if not path.is_file():
        raise LegokitError(f"{path}: checkpoint not found")
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    not_ours = f"{path}: not a legokit checkpoint (expected a file written by legokit train or legokit average)"
    if head.startswith(MAGIC):
        return _as_dict(path, _load_format1(path, path.read_bytes()))
    if not head.startswith(_ZIP_MAGIC):
        raise LegokitError(not_ours)
    payload = _as_dict(path, _unpickle(path, path))
    meta = payload.pop(META_KEY, None)
    if not isinstance(meta, dict):
        raise LegokitError(not_ours)
    if meta.get("format") != FORMAT:
        raise LegokitError(f"{path}: checkpoint format {meta.get('format')!r} is not {FORMAT!r}; it was written "
                           "by another legokit version: read it with that version")
    if payload_digest(payload) != meta.get("sha256"):
        raise LegokitError(f"{path}: {_MISMATCH}")
    return payload


def rng_state() -> dict[str, Any]:
    """States of the python, numpy and torch (CPU and CUDA) generators as weights_only-safe values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from `rng_state()` output."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the "model" state dicts of `paths` (accumulated in float64).

    Integer tensors (e.g. BatchNorm's num_batches_tracked) are not averaged: they are copied from
    the first path. All checkpoints must hold the same keys and shapes.
    """
    if not paths:
        raise LegokitError("average_checkpoints: no checkpoint given")
    first = load_checkpoint(paths[0])["model"]
    sums = {k: v.double() if v.is_floating_point() else v for k, v in first.items()}
    for path in paths[1:]:
        state = load_checkpoint(path)["model"]
        if state.keys() != sums.keys():
            missing = sorted(set(sums) ^ set(state))[:5]
            raise LegokitError(f"{path}: parameters differ from {paths[0]} ({', '.join(missing)}); "
                               "average only checkpoints of the same model")
        for key, value in state.items():
            if value.shape != sums[key].shape:
                raise LegokitError(f"{path}: {key} has shape {tuple(value.shape)}, {paths[0]} has "
                                   f"{tuple(sums[key].shape)}; average only checkpoints of the same model")
            if value.is_floating_point():
                sums[key] += value.double()
    return {k: (v / len(paths)).to(first[k].dtype) if first[k].is_floating_point() else v
            for k, v in sums.items()}


def list_checkpoints(ckpt_dir: Path) -> dict[int, Path]:
    """step -> path of the ckpt-{step}.pt files in `ckpt_dir`."""
    if not ckpt_dir.is_dir():
        return {}
    found = {}
    for path in ckpt_dir.iterdir():
        match = CKPT_RE.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def read_valid_history(metrics_jsonl: Path, metric: str) -> dict[int, float]:
    """step -> validation `metric` from metrics.jsonl (a later record of a step wins, as after resume)."""
    history: dict[int, float] = {}
    if not metrics_jsonl.is_file():
        return history
    for record in read_metrics(metrics_jsonl):
        if record.get("event") == "valid" and metric in record:
            history[int(record["step"])] = float(record[metric])
    return history


def select_checkpoints(exp_dir: Path, num: int, metric: str | None = "loss",
                       mode: str = "min") -> list[Path]:
    """The `num` ckpt-{step}.pt of `exp_dir` with the best validation `metric` (best first), or the
    newest `num` (newest first) when `metric` is None."""
    available = list_checkpoints(exp_dir / "checkpoints")
    if not available:
        raise LegokitError(f"{exp_dir / 'checkpoints'}: no ckpt-<step>.pt files; is {exp_dir} a "
                           "training directory?")
    if metric is None:
        steps = sorted(available, reverse=True)
    else:
        history = read_valid_history(exp_dir / "metrics.jsonl", metric)
        steps = sorted((s for s in available if s in history), reverse=True)  # ties: newest first
        if not steps:
            raise LegokitError(f"{exp_dir / 'metrics.jsonl'}: no validation {metric!r} recorded at the "
                               f"steps of the checkpoints {sorted(available)}; use the last checkpoints "
                               "instead or check the metric name")
        steps.sort(key=lambda s: history[s], reverse=(mode == "max"))
    return [available[s] for s in steps[:num]]
