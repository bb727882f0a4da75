"""cluster.yaml: SLURM resources per stage kind, with a ``default`` section the kinds inherit from.

    default: {partition: cpu, cpus_per_task: 2, mem: 8G, time: "4:00:00"}
    features: {cpus_per_task: 8}
    train: {partition: gpu, gpus: 4, nodes: 2, time: "2-00:00:00", grace: 300}
    decode: {partition: gpu, gpus: 1}

A key left out takes the ``default`` section's value, then legokit's (:data:`BUILTIN`). Unknown keys and
values of the wrong kind are refused by name (legokit.config).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from legokit.config import InvalidValue, load_config, ranged

KINDS = ("data", "features", "train", "decode")
_TIME = re.compile(r"^(\d+-)?\d+(:\d+){0,2}$")
_MEM = re.compile(r"^\d+[KMGT]?$")


@dataclass
class Resources:
    """What one job of a kind asks SLURM for; None = inherit (from ``default``, then :data:`BUILTIN`)."""

    partition: str | None = None  # sbatch --partition (None: the cluster's default partition)
    gpus: int | None = ranged(None, "[0, inf)")  # GPUs per node (--gres=gpu:N); train: processes per node
    cpus_per_task: int | None = ranged(None, "[1, inf)")  # --cpus-per-task
    mem: str | None = None  # memory per node, e.g. 16G (--mem)
    time: str | None = None  # time limit, SLURM format: minutes, H:MM:SS, D-HH:MM:SS (--time)
    nodes: int | None = ranged(None, "[1, inf)")  # train only: nodes of one job (srun torchrun, c10d rendezvous)
    grace: int | None = ranged(None, "[1, inf)")  # train: SIGTERM this many seconds before the time limit
    port: int | None = ranged(None, "[1, 65535]")  # train: rendezvous port on the first node
    extra: list[str] | None = None  # more sbatch arguments, e.g. ["--account=abc", "--qos=high"]

    def validate(self) -> None:
        if self.time is not None and not _TIME.match(self.time):
            raise InvalidValue("time", "a SLURM time limit (minutes, H:MM:SS or D-HH:MM:SS)", self.time)
        if self.mem is not None and not _MEM.match(self.mem):
            raise InvalidValue("mem", "a size like 4000M or 16G", self.mem)


#: what a kind gets when neither its section nor ``default`` sets a key
BUILTIN = Resources(partition=None, gpus=0, cpus_per_task=1, mem=None, time=None, nodes=1, grace=300, port=29500,
                    extra=[])


@dataclass
class ClusterConfig:
    """The sections of cluster.yaml."""

    default: Resources = field(default_factory=Resources)
    data: Resources = field(default_factory=Resources)
    features: Resources = field(default_factory=Resources)
    train: Resources = field(default_factory=Resources)
    decode: Resources = field(default_factory=Resources)

    def resources(self, kind: str) -> Resources:
        """The resources of ``kind``: its section over ``default`` over :data:`BUILTIN`."""
        merged = dataclasses.replace(BUILTIN)
        for layer in (self.default, getattr(self, kind)):
            for f in dataclasses.fields(Resources):
                if getattr(layer, f.name) is not None:
                    setattr(merged, f.name, getattr(layer, f.name))
        return merged


def load_cluster_config(path: str | Path | None) -> ClusterConfig:
    """Read cluster.yaml (None: every kind gets :data:`BUILTIN`)."""
    return load_config(ClusterConfig, path)
