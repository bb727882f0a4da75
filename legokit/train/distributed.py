"""torch.distributed set-up for runs launched by torchrun (gloo on CPU, NCCL on CUDA).

torchrun exports RANK, WORLD_SIZE and LOCAL_RANK (plus MASTER_ADDR/MASTER_PORT); a plain
`python ...` run has none of them and is rank 0 of 1.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def distributed_info() -> tuple[int, int]:
    """(rank, world_size) of this process; usable by data samplers before the process group exists."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def local_rank() -> int:
    """Index of this process on its node (torchrun's LOCAL_RANK)."""
    return int(os.environ.get("LOCAL_RANK", 0))


def init_distributed(device: torch.device) -> bool:
    """Join the process group torchrun describes; returns True if this call created it."""
    _, world_size = distributed_info()
    if world_size == 1 or dist.is_initialized():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, init_method="env://")
    return True


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum `tensor` over ranks in place (no-op on one process); returns it."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_objects(obj: Any) -> list[Any]:
    """[obj of rank 0, obj of rank 1, ...] (picklable objects)."""
    if not is_distributed():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier() -> None:
    if is_distributed():
        dist.barrier()
