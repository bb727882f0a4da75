"""The one training loop: gradient accumulation, DDP, AMP, checkpoints/resume, faults, logging.

Usage (what `legokit train` does after building the model and the data)::

    result = fit(model, train_batches=lambda epoch: loader(epoch), valid_batches=lambda: valid_loader(),
                 optim_cfg=OptimConfig(...), train_cfg=TrainConfig(...), out_dir=Path("exp/asr"))

Run it under torchrun for several processes; nothing else changes. The model returns
{"loss": summed loss, "weight": normaliser (e.g. target tokens), other summed stats}; each update
applies the gradient of sum(loss) / sum(weight), sums taken over the accumulated batches and ranks.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from legokit import __version__
from legokit.errors import LegokitError
from legokit.train.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from legokit.train.config import OptimConfig, TrainConfig
from legokit.train.distributed import (
    all_gather_objects,
    all_reduce_sum,
    barrier,
    distributed_info,
    init_distributed,
    local_rank,
)
from legokit.train.monitor import MetricsWriter, attach_log_file, detach_handlers, plot_curves, progress
from legokit.train.optim import build_optimizer, build_scheduler
from legokit.train.seeding import derive_seed, deterministic_algorithms, seed_everything

logger = logging.getLogger("legokit.train")
MIN_LOSS_SCALE = 1e-4
"""fp16: below this loss scale an overflow is a non-finite gradient, counted by TrainConfig.max_bad_steps."""

Batch = dict[str, Any]


@dataclass
class LoopState:
    """Where the loop is; saved in every checkpoint under "loop"."""

    epoch: int = 1
    """Epoch in progress (1-based)."""
    epoch_batches: int = 0
    """Batches of the current epoch already consumed (skipped on resume)."""
    step: int = 0
    """Optimiser updates done."""
    best: float | None = None
    """Best validation value of TrainConfig.best_metric so far."""
    best_step: int | None = None
    best_epoch: int = 0
    bad_steps: int = 0
    """Consecutive updates skipped for a NaN/inf loss or gradient."""
    valid_history: dict[int, float] = field(default_factory=dict)
    """step -> validation value of best_metric (ranks the ckpt-{step}.pt files to keep)."""


@dataclass
class FitResult:
    """How `fit` ended. reason: "max_epochs", "max_steps", "patience" or "interrupted" (SIGTERM/SIGINT;
    checkpoint_last holds the state; `signal` is its number on the rank that received it). `epoch` is
    the epoch in progress (max_epochs + 1 once all epochs are done)."""

    reason: str
    step: int
    epoch: int
    best: float | None
    best_step: int | None
    signal: int | None = None


class TrainingInterrupted(Exception):
    """Training stopped on SIGTERM/SIGINT after writing checkpoint_last: not finished, nothing exported. The
    `legokit train` command exits with 128 + the signal's number (143 for SIGTERM), as a process killed by it
    would, so a recipe stops instead of going on to decode a model that does not exist."""

    def __init__(self, step: int, signum: int | None) -> None:
        self.step, self.signal = step, signum or signal.SIGTERM
        super().__init__(f"training was interrupted by signal {self.signal} at step {step}: checkpoint_last "
                         "written, resume with the same command; no bricks exported")


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda:LOCAL_RANK if CUDA is available, else cpu."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise LegokitError("TrainConfig.device=cuda but no CUDA device is visible; use device=auto or cpu")
    device = torch.device("cuda", local_rank())
    torch.cuda.set_device(device)
    return device


def resolve_amp(amp: str, device: torch.device) -> str:
    """TrainConfig.amp on this device -> "none", "bf16" or "fp16"; a precision the device lacks is refused."""
    bf16 = device.type == "cpu" or (device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False))
    if amp == "auto":
        return "bf16" if bf16 else "fp16" if device.type == "cuda" else "none"
    if amp == "bf16" and not bf16:
        raise LegokitError(f"TrainConfig.amp=bf16: {device} ({torch.cuda.get_device_name(device)}) has no native "
                           "bfloat16; use train.amp=fp16 (loss scaling) or train.amp=auto")
    return amp


def pins_memory(device: str) -> bool:
    """Whether loaders for a run on TrainConfig.device ``device`` pin their batches (CUDA: faster, asynchronous
    copies with non_blocking=True)."""
    return device != "cpu" and torch.cuda.is_available()


def move_to_device(batch: Batch, device: torch.device) -> Batch:
    """Tensors of the batch on `device`; other values (ids, ...) unchanged."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def describe_batch(batch: Batch) -> str:
    """"8 items; speech_lengths sum 12000 max 1600; ..." for error messages."""
    sizes = [t.shape[0] for t in batch.values() if isinstance(t, torch.Tensor) and t.dim() > 0]
    parts = [f"{sizes[0] if sizes else '?'} items"]
    for key, value in sorted(batch.items()):
        if key.endswith("_lengths") and isinstance(value, torch.Tensor) and value.numel():
            parts.append(f"{key} sum {int(value.sum())} max {int(value.max())}")
    return "; ".join(parts)


def _is_oom(err: BaseException) -> bool:
    message = str(err)
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in message or \
        "can't allocate memory" in message


class Trainer:
    """Owns the model, optimiser, scheduler and loop state of one run in `out_dir`."""

    def __init__(self, model: torch.nn.Module, optim_cfg: OptimConfig, train_cfg: TrainConfig,
                 out_dir: Path, extra_state: dict[str, Any] | None = None) -> None:
        self.optim_cfg, self.cfg, self.out_dir = optim_cfg, train_cfg, Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.extra_state = extra_state or {}
        if train_cfg.num_threads:
            torch.set_num_threads(train_cfg.num_threads)
        self.device = resolve_device(train_cfg.device)
        self.amp = resolve_amp(train_cfg.amp, self.device)
        self._owns_group = init_distributed(self.device)
        self.rank, self.world_size = distributed_info()
        self.is_main = self.rank == 0
        # the stream of dropout masks, per rank, independent of how many numbers model init consumed
        seed_everything(derive_seed(train_cfg.seed, self.rank))
        self.model = model.to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.params, optim_cfg)
        self.scheduler = build_scheduler(self.optimizer, optim_cfg, train_cfg.max_steps)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == "fp16")
        self.wrapped: torch.nn.Module = self.model
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped = DistributedDataParallel(self.model, device_ids=ids,
                                                   find_unused_parameters=train_cfg.find_unused_parameters)
        self.state = LoopState()
        self.writer: MetricsWriter | None = None
        self._signal: int | None = None
        self._pending_rng: dict[str, Any] | None = None
        self._best_pending = False
        self._validated_at: int | None = None
        self._stop_requested = False
        self._stepped = False
        self._interval: dict[str, float] = {}
        self._mark = time.perf_counter()

    # ----------------------------------------------------------------------------------------- run
    def fit(self, train_batches: Callable[[int], Iterable[Batch]],
            valid_batches: Callable[[], Iterable[Batch]] | None, resume: bool = True) -> FitResult:
        """Train until max_epochs/max_steps/patience or a stop signal; see the module docstring."""
        handlers = attach_log_file(self.out_dir / "train.log") if self.is_main else []
        if not self.is_main:
            logger.setLevel(logging.WARNING)  # rank 0 reports; the others only warn
        previous = self._install_signal_handlers()
        try:
            self.writer = MetricsWriter(self.out_dir) if self.is_main else None
            if resume:
                self._resume()
            logger.info("training on %s (amp %s), %d process(es), %d trainable parameters, from step %d",
                        self.device, self.amp, self.world_size, sum(p.numel() for p in self.params), self.state.step)
            with deterministic_algorithms(self.cfg.deterministic, self.device):
                reason = self._loop(train_batches, valid_batches)
            logger.info("stopped (%s) %s at step %d; best %s=%s at step %s", reason, self._epochs_done(),
                        self.state.step, self.cfg.best_metric, self.state.best, self.state.best_step)
            if self.writer is not None:
                self.writer.close()
                if self.writer.jsonl_path.stat().st_size:
                    plot_curves(self.writer.jsonl_path, self.out_dir / "curves.png")
                self.writer = None
            barrier()
            return FitResult(reason, self.state.step, self.state.epoch, self.state.best, self.state.best_step,
                             self._signal)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if self.writer is not None:
                self.writer.close()
            detach_handlers(handlers)
            if self._owns_group:
                torch.distributed.destroy_process_group()

    def _epochs_done(self) -> str:
        """Where the loop stands for the log: "after N epoch(s)" between epochs, "in epoch N" inside one."""
        if self.state.epoch_batches:
            return f"in epoch {self.state.epoch}"
        return f"after {self.state.epoch - 1} epoch(s)"

    def _loop(self, train_batches: Callable[[int], Iterable[Batch]],
              valid_batches: Callable[[], Iterable[Batch]] | None) -> str:
        while True:
            reason = self._stop_reason()
            if reason:
                return reason
            for group in self._epoch_groups(train_batches):
                self._update(group)
                stop = self._after_update(valid_batches)
                if stop:
                    return stop
            self._end_epoch(valid_batches)

    def _stop_reason(self) -> str | None:
        state, cfg = self.state, self.cfg
        if cfg.max_steps is not None and state.step >= cfg.max_steps:
            return "max_steps"
        if state.epoch > cfg.max_epochs:
            return "max_epochs"
        if cfg.patience is not None and state.best is not None and \
                state.epoch - 1 - state.best_epoch >= cfg.patience:
            return "patience"
        return None

    def _epoch_groups(self, train_batches: Callable[[int], Iterable[Batch]]) -> Iterator[list[Batch]]:
        """The current epoch's batches in groups of accum_grad (the last group may be smaller), after
        skipping the batches a resumed checkpoint already consumed."""
        epoch = self.state.epoch
        batches = iter(progress(train_batches(epoch), epoch, self.is_main))
        skip = self.state.epoch_batches
        if skip and sum(1 for _ in itertools.islice(batches, skip)) < skip:
            raise LegokitError(f"epoch {epoch} of the training data has fewer than the {skip} batches the "
                               f"checkpoint in {self.ckpt_dir} consumed: the data or its batching changed; "
                               "restore them or train in a new directory")
        if self._pending_rng is not None:
            set_rng_state(self._pending_rng)
            self._pending_rng = None
        self._mark = time.perf_counter()
        while group := list(itertools.islice(batches, self.optim_cfg.accum_grad)):
            yield group

    def _end_epoch(self, valid_batches: Callable[[], Iterable[Batch]] | None) -> None:
        state = self.state
        if valid_batches is not None and self._validated_at != state.step:
            self.validate(valid_batches)
        state.epoch += 1
        state.epoch_batches = 0
        self.save(numbered=True)

    def _after_update(self, valid_batches: Callable[[], Iterable[Batch]] | None) -> str | None:
        """Logging, validation and checkpoints due after an update; returns a stop reason or None."""
        step, cfg = self.state.step, self.cfg

        def due(interval: int | None) -> bool:
            return interval is not None and self._stepped and step % interval == 0

        if due(cfg.log_interval):
            self._log_interval()
        stop = "interrupted" if self._stop_requested else None
        if cfg.max_steps is not None and step >= cfg.max_steps:
            stop = "max_steps"
        if valid_batches is not None and (due(cfg.valid_interval) or stop == "max_steps"):
            self.validate(valid_batches)
        numbered = due(cfg.save_interval_steps) or stop == "max_steps"
        if numbered or stop or self._best_pending:
            self.save(numbered=numbered)
        if stop == "interrupted":
            logger.warning("stopping on signal %s at epoch %d step %d; checkpoint_last written, resume by "
                           "running the same command again", self._signal, self.state.epoch, step)
        self._mark = time.perf_counter()
        return stop

    # -------------------------------------------------------------------------------------- update
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp == "none":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _forward(self, model: torch.nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        with self._autocast():
            out = model(batch)
        if "loss" not in out or "weight" not in out:
            raise TypeError(f"model(batch) must return 'loss' and 'weight'; got keys {sorted(out)}")
        return out

    def _accumulate(self, group: list[Batch]) -> dict[str, torch.Tensor]:
        """Forward and backward over the group; returns the summed statistics (detached, float32)."""
        sums: dict[str, torch.Tensor] = {}
        for i, batch in enumerate(group):
            sync = i == len(group) - 1 or self.world_size == 1
            try:
                with contextlib.nullcontext() if sync else self.wrapped.no_sync():
                    out = self._forward(self.wrapped, move_to_device(batch, self.device))
                    self.scaler.scale(out["loss"]).backward()
            except RuntimeError as err:
                if self.cfg.deterministic and "does not have a deterministic implementation" in str(err):
                    raise LegokitError(f"train.deterministic=true: {str(err).split(', but')[0]}; set "
                                       "train.deterministic=false to train with it") from err
                if not _is_oom(err):
                    raise
                where = f"epoch {self.state.epoch}, batch {self.state.epoch_batches + i + 1}"
                raise LegokitError(
                    f"out of memory on a training batch of {describe_batch(batch)} ({where}); lower the "
                    "batch budget (max frames/tokens per batch) and raise OptimConfig.accum_grad to keep "
                    "the same effective batch") from err
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + value.detach().float()
        self.state.epoch_batches += len(group)
        return sums

    def _reduce(self, sums: dict[str, torch.Tensor], *flags: float) -> tuple[dict[str, float], list[float]]:
        """Sum statistics and flags over ranks in one all-reduce."""
        keys = sorted(sums)
        vector = torch.stack([sums[k] for k in keys] + [torch.tensor(f, device=self.device) for f in flags])
        values = all_reduce_sum(vector.double()).tolist()
        return dict(zip(keys, values[:len(keys)])), values[len(keys):]

    def _update(self, group: list[Batch]) -> None:
        """One optimiser update from a group of batches (skipped on NaN/inf)."""
        self.wrapped.train()
        sums = self._accumulate(group)
        totals, (stop_votes,) = self._reduce(sums, float(self._signal is not None))
        self._stop_requested = stop_votes > 0
        self._stepped = False
        loss, weight = totals["loss"], totals["weight"]
        problem = None
        if not math.isfinite(loss) or not weight > 0:
            problem = f"loss {loss} over weight {weight}"
        else:
            self.scaler.unscale_(self.optimizer)
            scale = self.world_size / weight  # DDP averaged the gradients over ranks
            grads = [p.grad for p in self.params if p.grad is not None]
            if grads:
                torch._foreach_mul_(grads, scale)  # one multi-tensor kernel, not one call per parameter
            max_norm = self.optim_cfg.clip_grad_norm or math.inf
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, max_norm))  # of the unscaled gradient
            if not math.isfinite(grad_norm) and self.scaler.is_enabled():
                self._skip_overflow(grad_norm)
                return
            if not math.isfinite(grad_norm):
                problem = f"gradient norm {grad_norm}"
        if problem is not None:
            self._skip_update(problem)
            return
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.state.bad_steps = 0
        self._stepped = True
        elapsed = time.perf_counter() - self._mark
        for key, value in {**totals, "grad_norm": grad_norm, "updates": 1.0, "seconds": elapsed}.items():
            self._interval[key] = self._interval.get(key, 0.0) + value

    def _skip_overflow(self, grad_norm: float) -> None:
        """fp16: the scaled gradient overflowed. As GradScaler.step would: no update, the loss scale halves, and
        the update is tried again on the next batches; not a bad step (the loss was finite) unless the scale
        has collapsed below MIN_LOSS_SCALE (fairseq's min_loss_scale), when the gradient itself is non-finite."""
        self.scaler.update()  # unscale_ recorded the inf: the scale backs off
        scale = self.scaler.get_scale()
        if scale < MIN_LOSS_SCALE:
            self._skip_update(f"gradient norm {grad_norm} at fp16 loss scale {scale:g}")
            return
        self.optimizer.zero_grad(set_to_none=True)
        logger.info("fp16 gradient overflow at epoch %d step %d: update skipped, loss scale lowered to %g",
                    self.state.epoch, self.state.step, scale)

    def _skip_update(self, problem: str) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.state.bad_steps += 1
        logger.warning("skipping update at epoch %d step %d: %s (%d bad update(s) in a row)",
                       self.state.epoch, self.state.step, problem, self.state.bad_steps)
        if self.state.bad_steps >= self.cfg.max_bad_steps:
            raise LegokitError(
                f"training diverged: {self.state.bad_steps} updates in a row had a NaN/inf loss or gradient "
                f"(TrainConfig.max_bad_steps) at epoch {self.state.epoch} step {self.state.step}; lower "
                f"OptimConfig.lr, set clip_grad_norm, check the data, or resume from an earlier ckpt-*.pt "
                f"in {self.ckpt_dir}")

    # ------------------------------------------------------------------------------ logs, validation
    def _log_interval(self) -> None:
        acc, self._interval = self._interval, {}
        weight, updates = acc.pop("weight"), acc.pop("updates")
        seconds = acc.pop("seconds")
        stats = {k: v / weight for k, v in acc.items() if k != "grad_norm"}
        stats.update(lr=self.optimizer.param_groups[0]["lr"], grad_norm=acc["grad_norm"] / updates,
                     tokens_per_sec=weight / max(seconds, 1e-9))
        logger.info("epoch %d step %d %s", self.state.epoch, self.state.step, _format(stats))
        if self.writer is not None:
            self.writer.write("train", self.state.epoch, self.state.step, stats)

    @torch.no_grad()
    def validate(self, valid_batches: Callable[[], Iterable[Batch]]) -> dict[str, float]:
        """Weighted means (sum of a statistic / sum of weight) over the validation set of every rank."""
        self.model.eval()
        sums: dict[str, torch.Tensor] = {}
        for batch in valid_batches():
            out = self._forward(self.model, move_to_device(batch, self.device))
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + value.detach().float()
        self.model.train()
        if not sums:
            raise LegokitError("the validation data yielded no batch; check the validation set")
        totals, _ = self._reduce(sums)
        weight = totals.pop("weight")
        stats = {k: v / weight for k, v in totals.items()} | {"weight": weight}
        self._record_validation(stats)
        return stats

    def _record_validation(self, stats: dict[str, float]) -> None:
        state, metric = self.state, self.cfg.best_metric
        if metric not in stats:
            raise LegokitError(f"TrainConfig.best_metric={metric!r} is not among the validation statistics "
                               f"{sorted(stats)}; choose one of them")
        value = stats[metric]
        state.valid_history[state.step] = value
        self._validated_at = state.step
        if math.isfinite(value) and (state.best is None or self._badness(value) < self._badness(state.best)):
            state.best, state.best_step, state.best_epoch = value, state.step, state.epoch
            self._best_pending = True
        logger.info("validation epoch %d step %d %s (best %s %.4g at step %s)", state.epoch, state.step,
                    _format(stats), metric, state.best if state.best is not None else math.nan,
                    state.best_step)
        if self.writer is not None:
            self.writer.write("valid", state.epoch, state.step, stats)

    def _badness(self, value: float) -> float:
        """best_metric oriented so that lower is better."""
        return value if self.cfg.best_mode == "min" else -value

    # ---------------------------------------------------------------------------------- checkpoints
    def _payload(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": all_gather_objects(rng_state()),
            "loop": asdict(self.state),
            "optim_config": asdict(self.optim_cfg),
            "train_config": asdict(self.cfg),
            "world_size": self.world_size,
            "extra": self.extra_state,
            "legokit_version": __version__,
        }

    def save(self, numbered: bool) -> None:
        """Write checkpoint_last.pt (+ ckpt-{step}.pt if `numbered`, + checkpoint_best.pt after a new
        best validation) and prune old ckpt-{step}.pt files; collective under DDP, rank 0 writes."""
        payload = self._payload()
        if self.is_main:
            paths = [self.ckpt_dir / "checkpoint_last.pt"]
            if numbered:
                paths.append(self.ckpt_dir / f"ckpt-{self.state.step}.pt")
            if self._best_pending:
                paths.append(self.ckpt_dir / "checkpoint_best.pt")
            save_checkpoint(payload, *paths)
            self._prune()
        self._best_pending = False

    def _prune(self) -> None:
        """Delete ckpt-{step}.pt files that are neither among the newest keep_last_checkpoints nor
        among the keep_best best validated ones."""
        if self.cfg.keep_last_checkpoints == 0:
            return
        found = list_checkpoints(self.ckpt_dir)
        newest = sorted(found, reverse=True)[:self.cfg.keep_last_checkpoints]
        history = self.state.valid_history
        validated = sorted((s for s in found if s in history), key=lambda s: self._badness(history[s]))
        best = validated[:self.cfg.keep_best]
        for step in set(found) - set(newest) - set(best):
            found[step].unlink(missing_ok=True)

    def _resume(self) -> None:
        path = self.ckpt_dir / "checkpoint_last.pt"
        if not path.is_file():
            logger.info("no %s: starting from scratch", path)
            return
        ckpt = load_checkpoint(path)
        if not {"model", "optimizer", "scheduler", "loop", "rng"} <= ckpt.keys():
            what = "an averaged model from `legokit average`" if "averaged" in ckpt else "an incomplete checkpoint"
            raise LegokitError(f"{path}: is {what}, not a training checkpoint (no optimizer or loop state), so "
                               "training cannot resume from it; copy a ckpt-<step>.pt to checkpoint_last.pt, or "
                               "start a new --out-dir from exported weights with model.init_model=<exp>/model.pt")
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as err:
            raise LegokitError(f"{path}: does not fit this model ({str(err).splitlines()[0]}); use a new "
                               "output directory or the model configuration of that run") from err
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler.is_enabled() and ckpt["scaler"]:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.state = LoopState(**ckpt["loop"])
        if len(ckpt["rng"]) == self.world_size:
            self._pending_rng = ckpt["rng"][self.rank]
        else:
            logger.warning("%s was written by %d process(es), this run has %d: random generators reseeded",
                           path, len(ckpt["rng"]), self.world_size)
            seed_everything(derive_seed(self.cfg.seed, self.rank, self.state.step))
        logger.info("resumed from %s: epoch %d (%d batches done), step %d", path, self.state.epoch,
                    self.state.epoch_batches, self.state.step)

    # -------------------------------------------------------------------------------------- signals
    def _install_signal_handlers(self) -> dict[int, Any]:
        """SIGTERM/SIGINT set a flag; the loop finishes its update, writes checkpoint_last and returns.
        A second signal interrupts at once."""

        def handler(signum: int, frame: Any) -> None:
            if self._signal is not None:
                raise KeyboardInterrupt
            self._signal = signum

        previous = {}
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, handler)
        return previous


def _format(stats: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in stats.items())


def fit(model: torch.nn.Module, train_batches: Callable[[int], Iterable[Batch]],
        valid_batches: Callable[[], Iterable[Batch]] | None, optim_cfg: OptimConfig, train_cfg: TrainConfig,
        out_dir: Path, resume: bool = True, extra_state: dict[str, Any] | None = None) -> FitResult:
    """Train `model` and write out_dir/{checkpoints/, train.log, metrics.jsonl, tensorboard/, curves.png}.

    train_batches(epoch) must yield the same batches each time it is called with the same epoch
    (under DDP: this rank's share, the same number of batches on every rank); valid_batches() yields
    this rank's part of the validation set. With resume=True, training continues from
    out_dir/checkpoints/checkpoint_last.pt if it exists. extra_state (tensors and primitive types)
    is stored in every checkpoint under "extra".
    """
    trainer = Trainer(model, optim_cfg, train_cfg, out_dir, extra_state)
    return trainer.fit(train_batches, valid_batches, resume)
