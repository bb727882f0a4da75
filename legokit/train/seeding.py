"""Reproducible training: one seed for every random generator, and torch's deterministic algorithms.

A training entry point calls :func:`seed_everything` before it builds anything random (model weights
first). Data order and augmentation do not use the global generators: they draw from generators made
by :func:`derive_seed` from (seed, epoch, ...), so they do not depend on how many numbers model
initialisation consumed, on the number of DataLoader workers, or on where a run was resumed.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

_U64 = 2**64


def seed_everything(seed: int) -> None:
    """Seed python's `random`, numpy's global generator and torch's CPU and CUDA generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed % _U64)  # also seeds every CUDA device


def derive_seed(*keys: int) -> int:
    """A 63-bit seed for the stream named by integer `keys`, e.g. (seed, epoch): distinct keys give
    independent streams (numpy's SeedSequence), equal keys the same one on every machine."""
    state = np.random.SeedSequence([k % _U64 for k in keys]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def generator(*keys: int) -> torch.Generator:
    """A CPU torch.Generator seeded with :func:`derive_seed` of `keys`."""
    return torch.Generator().manual_seed(derive_seed(*keys))


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool, device: torch.device) -> Iterator[None]:
    """With `enabled`: torch.use_deterministic_algorithms(True), cudnn.benchmark off (and cudnn
    deterministic), and CUBLAS_WORKSPACE_CONFIG=:4096:8 on CUDA (unless already set); a kernel that has
    no deterministic implementation then raises. The previous settings are restored on exit."""
    if not enabled:
        yield
        return
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
                torch.backends.cudnn.deterministic)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = previous[1:]
