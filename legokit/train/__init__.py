"""legokit.train: the one trainer (fit), its configs, checkpoints/averaging, DDP helpers and curves."""

from legokit.train.checkpoint import average_checkpoints, load_checkpoint, save_checkpoint, select_checkpoints
from legokit.train.config import OptimConfig, TrainConfig
from legokit.train.distributed import distributed_info
from legokit.train.monitor import plot_curves
from legokit.train.trainer import FitResult, Trainer, fit

__all__ = [
    "FitResult",
    "OptimConfig",
    "TrainConfig",
    "Trainer",
    "average_checkpoints",
    "distributed_info",
    "fit",
    "load_checkpoint",
    "plot_curves",
    "save_checkpoint",
    "select_checkpoints",
]
