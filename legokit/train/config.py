"""Configs of the trainer: the optimiser/scheduler (`OptimConfig`) and the loop (`TrainConfig`).

Values are checked when the dataclass is built, so a bad YAML value fails before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from legokit.config import InvalidValue

OPTIMIZERS = ("adam", "adamw")
SCHEDULERS = ("noam", "inverse_sqrt", "constant", "warmup_cosine")
AMP_MODES = ("none", "bf16", "fp16", "auto")
DEVICES = ("auto", "cpu", "cuda")
METRIC_MODES = ("min", "max")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidValue(key, f"one of {', '.join(choices)}", value)


def _check_positive(key: str, value: float | None, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidValue(key, ">= 0" if allow_zero else "> 0", value)


@dataclass
class OptimConfig:
    """Optimiser, learning-rate schedule, clipping and gradient accumulation.

    Learning rate at update s = 1, 2, ... (w = warmup_steps):
      constant:      lr · min(1, s/w)                                   (no warm-up when w = 0)
      inverse_sqrt:  lr · min(s/w, sqrt(w/s))       fairseq's inverse_sqrt, peak lr at s = w
      noam:          lr · model_dim^-0.5 · min(s^-0.5, s·w^-1.5)   ESPnet's NoamLR / "Attention is all
                     you need"; here `lr` is the scale factor, the peak is lr·(model_dim·w)^-0.5 at s = w
      warmup_cosine: lr · s/w during warm-up, then min_lr + (lr - min_lr)·(1 + cos(π·p))/2 with
                     p = (s - w)/(total_steps - w) clipped to [0, 1]
    """

    optimizer: str = "adam"
    """"adam" (L2 weight decay added to the gradient) or "adamw" (decoupled weight decay)."""
    lr: float = 1e-3
    """Peak learning rate; for "noam" the scale factor of the Noam formula."""
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    """Adam's (beta1, beta2)."""
    eps: float = 1e-9
    """Adam's epsilon."""
    weight_decay: float = 0.0
    """Weight decay (L2 for adam, decoupled for adamw)."""
    scheduler: str = "inverse_sqrt"
    """"noam", "inverse_sqrt", "constant" or "warmup_cosine" (formulas above)."""
    warmup_steps: int = 4000
    """Number of warm-up updates (linear increase of the learning rate)."""
    model_dim: int = 256
    """Model width d used by the "noam" formula."""
    min_lr: float = 0.0
    """Final learning rate of "warmup_cosine"."""
    total_steps: int | None = None
    """Length of the "warmup_cosine" schedule in updates; defaults to TrainConfig.max_steps."""
    clip_grad_norm: float = 0.0
    """Clip the global gradient L2 norm to this value; 0 disables clipping (the norm is still logged)."""
    accum_grad: int = 1
    """Number of batches whose gradients are summed into one update."""

    def __post_init__(self) -> None:
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("scheduler", self.scheduler, SCHEDULERS)
        if len(self.betas) != 2:
            raise InvalidValue("betas", "two numbers", self.betas)
        for key in ("lr", "eps", "model_dim", "accum_grad"):
            _check_positive(key, getattr(self, key))
        for key in ("weight_decay", "warmup_steps", "min_lr", "clip_grad_norm"):
            _check_positive(key, getattr(self, key), allow_zero=True)
        _check_positive("total_steps", self.total_steps)


@dataclass
class TrainConfig:
    """The training loop: length, validation, checkpoints, early stopping, precision and device."""

    max_epochs: int = 100
    """Number of passes over the training data."""
    max_steps: int | None = None
    """Stop after this many updates (optional; whichever of max_epochs/max_steps comes first)."""
    log_interval: int = 100
    """Write a training log line / metrics record every this many updates."""
    valid_interval: int | None = None
    """Also validate every this many updates (validation always runs at the end of each epoch)."""
    save_interval_steps: int | None = None
    """Also write ckpt-{step}.pt every this many updates (one is always written at each epoch end)."""
    keep_last_checkpoints: int = 5
    """Keep the newest this many ckpt-{step}.pt files (0 keeps all)."""
    keep_best: int = 5
    """Also keep the this many ckpt-{step}.pt files with the best validation metric."""
    best_metric: str = "loss"
    """Validation statistic that ranks checkpoints (a key of the model's output, e.g. "loss", "acc")."""
    best_mode: str = "min"
    """"min" if lower best_metric is better, "max" if higher is better."""
    patience: int | None = None
    """Stop when best_metric has not improved for this many epochs (optional)."""
    seed: int = 1
    """Seed of everything random: weights (seeded before the model is built), data order and augmentation
    (generators derived from seed and epoch), dropout (a stream derived from seed and rank)."""
    deterministic: bool = False
    """torch.use_deterministic_algorithms(True), cudnn.benchmark off, CUBLAS_WORKSPACE_CONFIG=:4096:8 on CUDA:
    bit-identical runs on GPU too, slower; an op without a deterministic kernel then raises."""
    amp: str = "none"
    """Mixed precision: "none"; "bf16" (autocast; CPU, and CUDA GPUs with native bfloat16: Ampere and newer);
    "fp16" (autocast + a dynamic loss scale, torch.amp.GradScaler, saved in checkpoints; CUDA, and CPU where it
    is slow without AMX-FP16); "auto": bf16 where the device has it, else fp16 on CUDA (V100, T4), else none."""
    device: str = "auto"
    """"auto" (CUDA if available), "cpu" or "cuda" (under torchrun: cuda:LOCAL_RANK)."""
    max_bad_steps: int = 10
    """Stop with an error after this many updates in a row with a NaN/inf loss or gradient."""
    num_threads: int | None = None
    """torch.set_num_threads for this process (optional; default: torch's choice)."""
    find_unused_parameters: bool = False
    """Passed to DistributedDataParallel; set when some parameters get no gradient in a step."""

    def __post_init__(self) -> None:
        _check_choice("amp", self.amp, AMP_MODES)
        _check_choice("device", self.device, DEVICES)
        _check_choice("best_mode", self.best_mode, METRIC_MODES)
        for key in ("max_epochs", "log_interval", "max_bad_steps", "max_steps", "valid_interval",
                    "save_interval_steps", "patience", "num_threads"):
            _check_positive(key, getattr(self, key))
        for key in ("keep_last_checkpoints", "keep_best"):
            _check_positive(key, getattr(self, key), allow_zero=True)
