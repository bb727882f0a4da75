"""The synthesis picture: a mel heat-map with the phones at their predicted frames."""

import numpy as np
import pytest

from legokit.errors import LegokitError
from legokit.tts.phones import WORD
from legokit.tts.plot import plot_synthesis


def test_plot_writes_a_png_and_checks_the_alignment(tmp_path):
    mel = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    out = plot_synthesis(mel, ["s", "a", WORD, "m"], [3, 4, 1, 4], tmp_path / "p" / "u1.png", "u1 (kk)")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(LegokitError, match="durations sum to 11 frames, the mel has 12"):
        plot_synthesis(mel, ["s", "a", WORD, "m"], [3, 3, 1, 4], tmp_path / "bad.png")
    with pytest.raises(LegokitError, match="4 phones but 3 durations"):
        plot_synthesis(mel, ["s", "a", WORD, "m"], [3, 4, 5], tmp_path / "bad.png")
