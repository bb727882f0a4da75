"""Shared pytest set-up: deterministic, single-threaded torch so tests are reproducible on 2 cores."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    yield
