"""What a training run reports: train.log + stderr, metrics.jsonl, TensorBoard, a tqdm bar, curves.png."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from legokit.errors import LegokitError
from legokit.fileio import iter_text_lines

logger = logging.getLogger("legokit.train")

#: metrics.jsonl keys that are bookkeeping, not curves
_NOT_PLOTTED = {"event", "epoch", "step", "time", "weight"}


def attach_log_file(path: Path) -> list[logging.Handler]:
    """Log the trainer's INFO lines to `path` (and to stderr if nobody configured logging); returns the
    handlers to pass to `detach_handlers` at the end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.FileHandler(path)]
    if not logging.getLogger().handlers:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handlers


def detach_handlers(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        logger.removeHandler(handler)
        handler.close()


def progress(batches: Iterable[Any], epoch: int, enabled: bool) -> Iterable[Any]:
    """A per-epoch tqdm bar, unless disabled, stderr is not a terminal, or LEGOKIT_NO_TQDM is set."""
    if not enabled or not sys.stderr.isatty() or os.environ.get("LEGOKIT_NO_TQDM"):
        return batches
    return tqdm(batches, desc=f"epoch {epoch}", unit="batch", leave=False, dynamic_ncols=True)


class MetricsWriter:
    """Appends one JSON record per event to metrics.jsonl and the same scalars to TensorBoard."""

    def __init__(self, out_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # slow import: only for the writing rank

        self.jsonl_path = out_dir / "metrics.jsonl"
        self._jsonl = self.jsonl_path.open("a")
        self._tb = SummaryWriter(log_dir=str(out_dir / "tensorboard"))

    def write(self, event: str, epoch: int, step: int, stats: dict[str, float]) -> None:
        record = {"event": event, "epoch": epoch, "step": step, "time": round(time.time(), 3), **stats}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        for key, value in stats.items():
            self._tb.add_scalar(f"{event}/{key}", value, step)

    def close(self) -> None:
        self._jsonl.close()
        self._tb.close()


def read_metrics(metrics_jsonl: Path) -> Iterator[dict[str, Any]]:
    """The records of a metrics.jsonl in order; blank lines are skipped, a broken line names its number."""
    for lineno, line in enumerate(iter_text_lines(metrics_jsonl), 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as err:
            raise LegokitError(f"{metrics_jsonl}:{lineno}: not a JSON line ({err})") from None


def _read_curves(metrics_jsonl: Path) -> dict[str, dict[str, dict[int, float]]]:
    """stat -> event -> step -> value (later records of a step win, as after a resume)."""
    curves: dict[str, dict[str, dict[int, float]]] = {}
    for record in read_metrics(metrics_jsonl):
        for key, value in record.items():
            if key not in _NOT_PLOTTED and isinstance(value, (int, float)):
                curves.setdefault(key, {}).setdefault(record["event"], {})[int(record["step"])] = value
    return curves


def plot_curves(metrics_jsonl: str | Path, out_png: str | Path) -> Path:
    """One panel per statistic (loss, lr, grad_norm, accuracy, ...), a line per event (train/valid)
    against the update step; written as a PNG with matplotlib's Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics_jsonl, out_png = Path(metrics_jsonl), Path(out_png)
    if not metrics_jsonl.is_file():
        raise LegokitError(f"{metrics_jsonl}: metrics file not found (written by legokit train)")
    curves = _read_curves(metrics_jsonl)
    if not curves:
        raise LegokitError(f"{metrics_jsonl}: no numeric statistics to plot")
    fig, axes = plt.subplots(len(curves), 1, figsize=(7, 2.4 * len(curves)), sharex=True, squeeze=False)
    for ax, (stat, by_event) in zip(axes[:, 0], sorted(curves.items())):
        for event, points in sorted(by_event.items()):
            steps = sorted(points)
            ax.plot(steps, [points[s] for s in steps], marker="o" if event == "valid" else None,
                    markersize=3, label=event)
        ax.set_ylabel(stat)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1, 0].set_xlabel("update step")
    fig.subplots_adjust(left=0.14, right=0.97, top=0.98, bottom=0.6 / (2.4 * len(curves)), hspace=0.1)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png

