"""argparse ``type=`` helpers for numeric options: a bad value is argparse's one-line usage error (exit 2).

    parser.add_argument("--shard-size", type=positive_int, default=1000)

gives ``legokit features: error: argument --shard-size: expected an integer >= 1, got '0'``. Every float
helper refuses NaN and infinity.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(kind: type, low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False,
            ) -> Callable[[str], int | float]:
    """A converter to ``kind`` accepting values in the interval from ``low`` to ``high``."""
    name = "an integer" if kind is int else "a number"
    bounds = [f"{'>' if low_open else '>='} {low:g}"] if low > -math.inf else []
    bounds += [f"{'<' if high_open else '<='} {high:g}"] if high < math.inf else []
    expected = f"{name} {' and '.join(bounds)}".strip()

    def convert(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        ok = (value is not None and math.isfinite(value) and (value > low if low_open else value >= low)
              and (value < high if high_open else value <= high))
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    convert.__name__ = expected  # argparse names the type in some messages
    return convert


positive_int = _number(int, 1)
nonnegative_int = _number(int, 0)
positive_float = _number(float, 0, low_open=True)
nonnegative_float = _number(float, 0)
finite_float = _number(float, -math.inf)
fraction = _number(float, 0, 1)
