import math

import torch

from legokit.nn.positional import SinusoidalPositionalEncoding, sinusoidal_table


def test_table_values_by_hand():
    table = sinusoidal_table(5, 4)
    t, i = 3, 1  # dims 2 and 3 use frequency 1 / 10000^(2/4)
    assert torch.isclose(table[t, 2 * i], torch.tensor(math.sin(t / 10000 ** (2 * i / 4))))
    assert torch.isclose(table[t, 2 * i + 1], torch.tensor(math.cos(t / 10000 ** (2 * i / 4))))
    assert torch.equal(table[0, 1::2], torch.ones(2))


def test_odd_dim():
    assert sinusoidal_table(3, 5).shape == (3, 5)


def test_offset_and_growth():
    pe = SinusoidalPositionalEncoding(8, max_len=4)
    x = torch.zeros(2, 3, 8)
    assert torch.allclose(pe(x, offset=5), sinusoidal_table(8, 8)[5:8].expand(2, 3, 8))
    long = pe(torch.zeros(1, 10, 8))
    assert torch.allclose(long[0], sinusoidal_table(10, 8))
