"""Pictures of synthesised speech: the predicted log mel with the phones at the frames the duration
predictor gave them (the learned alignment, where a listener would look first when a word is wrong)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from legokit.errors import LegokitError
from legokit.tts.phones import WORD


def plot_synthesis(mel: np.ndarray, phones: Sequence[str], durations: Sequence[int], out_png: str | Path,
                   title: str = "", frame_shift_ms: float = 16.0) -> Path:
    """Log mel (T, M) as a heat-map, phone boundaries as vertical lines and the phones as labels at the
    centre of their predicted frames (durations (N,) frames per phone, summing to T); a PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    durations = [int(d) for d in durations]
    if len(durations) != len(phones):
        raise LegokitError(f"{out_png}: {len(phones)} phones but {len(durations)} durations")
    if sum(durations) != len(mel):
        raise LegokitError(f"{out_png}: durations sum to {sum(durations)} frames, the mel has {len(mel)}")
    ends = np.cumsum(durations)
    starts = ends - np.array(durations)
    fig, ax = plt.subplots(figsize=(max(6.0, len(mel) / 16), 3.2))
    ax.imshow(mel.T, origin="lower", aspect="auto", interpolation="nearest", cmap="magma")
    for start, end, phone in zip(starts, ends, phones):
        if phone == WORD:
            ax.axvspan(start - 0.5, end - 0.5, color="white", alpha=0.15)
            continue
        ax.axvline(start - 0.5, color="white", linewidth=0.4, alpha=0.6)
        ax.text((start + end - 1) / 2, mel.shape[1] + 0.5, phone, ha="center", va="bottom", fontsize=7)
    ax.set_xlabel(f"frame ({frame_shift_ms:g} ms)")
    ax.set_ylabel("mel bin")
    ax.set_ylim(-0.5, mel.shape[1] + 5)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
