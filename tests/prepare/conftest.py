"""Fixtures of the prepare tests (catalogs are written by helpers.gettext_mo)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures" / "prepare"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
