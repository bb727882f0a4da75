"""Fixtures for the data tests."""

from pathlib import Path

import pytest
from helpers.datagen import write_speech_dir


@pytest.fixture
def speech_dir(tmp_path: Path) -> Path:
    return write_speech_dir(tmp_path)
