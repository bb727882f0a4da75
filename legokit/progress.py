"""Progress bars with one policy for every long loop (features, speech synthesis, decoding, downloads).

On a terminal: a live tqdm bar. Not on a terminal (a recipe stage tee'd into exp/logs/*.log, a CI log): the
same bar refreshed at most every ``LEGOKIT_PROGRESS_INTERVAL`` seconds (default 30) and shown only once a loop
has run that long, so logs show progress without thousands of redraws and short loops add no lines.
``LEGOKIT_NO_TQDM=1`` turns bars off.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

from tqdm import tqdm

from legokit.errors import LegokitError


def progress_bar(iterable: Any = None, *, desc: str, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar over ``iterable`` (or a manual one with ``total=``) on stderr, per the module's policy."""
    if not enabled or os.environ.get("LEGOKIT_NO_TQDM"):
        return tqdm(iterable, desc=desc, disable=True, **kwargs)
    if not sys.stderr.isatty():
        interval = _interval()
        kwargs.setdefault("mininterval", interval)
        kwargs.setdefault("delay", interval)
        kwargs.setdefault("ncols", 100)
    return tqdm(iterable, desc=desc, file=sys.stderr, **kwargs)


def _interval() -> float:
    """LEGOKIT_PROGRESS_INTERVAL in seconds (default 30): a finite number >= 0."""
    text = os.environ.get("LEGOKIT_PROGRESS_INTERVAL", "30")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise LegokitError(f"environment variable LEGOKIT_PROGRESS_INTERVAL={text!r}: expected a number of "
                           "seconds >= 0 (e.g. 30)")
    return value
