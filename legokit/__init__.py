"""legokit: modular speech and translation toolkit built from LegoNN bricks.

``legokit.load(path)`` returns a trained model ready for raw input (docs/api.md). It is imported on first
use, so ``import legokit`` stays cheap (no torch); by name, since the package root is the ground layer that
imports nothing above it (tests/test_layers.py).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"


def load(path: Any, device: str | None = None, dtype: str | None = None, **kwargs: Any) -> Any:
    """``legokit.workflows.inference.load``: a model.pt, brick file(s), packaged folder or hf:// id ->
    an object with translate/transcribe/summarize (or synthesize for TTS)."""
    return importlib.import_module("legokit.workflows.inference").load(path, device=device, dtype=dtype, **kwargs)
