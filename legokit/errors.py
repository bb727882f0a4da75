"""The one exception type for bad user input (files, configs, options).

Raise :class:`LegokitError` with a message that names the file (and line or key) and says what was
expected or what to do next. The CLI prints it as one line, without a traceback, and exits 2.
"""

from __future__ import annotations


class LegokitError(Exception):
    """User-facing error: bad input, missing file, mismatched bricks. The message is the whole story."""
