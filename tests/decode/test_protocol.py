"""reorder_nested over nested decoder states."""

from collections import namedtuple

import torch

from legokit.decode.protocol import reorder_nested

Cache = namedtuple("Cache", ["keys", "values"])


def test_reorder_nested_selects_rows_of_every_tensor_and_keeps_other_leaves():
    state = {
        "h": torch.arange(3),
        "layers": [Cache(torch.arange(6).view(3, 2), torch.ones(3, 1)), (torch.arange(3) * 10, "name")],
        "step": 4,
    }
    index = torch.tensor([2, 2, 0])
    out = reorder_nested(state, index)
    assert out["h"].tolist() == [2, 2, 0]
    assert isinstance(out["layers"][0], Cache)
    assert out["layers"][0].keys.tolist() == [[4, 5], [4, 5], [0, 1]]
    assert out["layers"][0].values.shape == (3, 1)
    assert isinstance(out["layers"][1], tuple) and out["layers"][1][0].tolist() == [20, 20, 0]
    assert out["layers"][1][1] == "name" and out["step"] == 4
