import json
import random

import numpy as np
import pytest
import torch

from legokit.errors import LegokitError
from legokit.train import average_checkpoints, load_checkpoint, save_checkpoint, select_checkpoints
from legokit.train.checkpoint import MAGIC, rng_state, set_rng_state


def _ckpt(path, **tensors):
    save_checkpoint({"model": tensors, "step": 3}, path)
    return path


def test_round_trip_to_several_paths_without_temp_files(tmp_path):
    payload = {"model": {"w": torch.arange(6.0).view(2, 3)}, "step": 7, "extra": {"names": ["a", "b"]},
               "betas": (0.9, 0.98), "best": None}
    save_checkpoint(payload, tmp_path / "a.pt", tmp_path / "sub" / "b.pt")
    for path in (tmp_path / "a.pt", tmp_path / "sub" / "b.pt"):
        loaded = load_checkpoint(path)
        assert torch.equal(loaded["model"]["w"], payload["model"]["w"])
        assert loaded["step"] == 7 and loaded["betas"] == (0.9, 0.98) and loaded["best"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "sub"]


def test_payload_loads_with_weights_only(tmp_path):
    path = _ckpt(tmp_path / "c.pt", w=torch.ones(2))
    data = path.read_bytes()[len(MAGIC) + 65:]
    (tmp_path / "raw.pt").write_bytes(data)
    assert torch.equal(torch.load(tmp_path / "raw.pt", weights_only=True)["model"]["w"], torch.ones(2))


def test_corrupted_or_foreign_file_is_a_clear_error(tmp_path):
    path = _ckpt(tmp_path / "c.pt", w=torch.randn(100))
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(LegokitError, match=r"c\.pt: checkpoint is corrupted \(sha256 mismatch"):
        load_checkpoint(path)
    path.write_bytes(path.read_bytes()[:-50])  # truncated
    with pytest.raises(LegokitError, match="corrupted"):
        load_checkpoint(path)
    torch.save({"w": 1}, tmp_path / "plain.pt")
    with pytest.raises(LegokitError, match="plain.pt: not a legokit checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(LegokitError, match="missing.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_states_survive_a_checkpoint(tmp_path):
    save_checkpoint({"rng": rng_state()}, tmp_path / "r.pt")
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert again[:2] == expected[:2] and torch.equal(again[2], expected[2])


def test_average_is_the_mean_and_copies_integer_buffers(tmp_path):
    paths = [_ckpt(tmp_path / f"{i}.pt", w=torch.tensor([1.0, 2.0]) * i, h=torch.tensor([i], dtype=torch.float16),
                   n=torch.tensor(10 * i)) for i in (1, 2, 6)]
    avg = average_checkpoints(paths)
    assert torch.equal(avg["w"], torch.tensor([3.0, 6.0]))
    assert avg["h"].dtype == torch.float16 and avg["h"].item() == 3.0
    assert avg["n"].item() == 10 and avg["n"].dtype == torch.int64  # from the first checkpoint


def test_average_refuses_different_models(tmp_path):
    a = _ckpt(tmp_path / "a.pt", w=torch.ones(2))
    with pytest.raises(LegokitError, match="b.pt: parameters differ"):
        average_checkpoints([a, _ckpt(tmp_path / "b.pt", v=torch.ones(2))])
    with pytest.raises(LegokitError, match=r"c.pt: w has shape \(3,\)"):
        average_checkpoints([a, _ckpt(tmp_path / "c.pt", w=torch.ones(3))])
    with pytest.raises(LegokitError, match="no checkpoint"):
        average_checkpoints([])


def names(paths):
    return [p.name for p in paths]


def test_select_by_validation_metric_or_last(tmp_path):
    for step in (2, 4, 6, 8):
        _ckpt(tmp_path / "checkpoints" / f"ckpt-{step}.pt", w=torch.ones(1))
    records = [("valid", 2, 3.0), ("train", 4, 0.1), ("valid", 4, 1.0), ("valid", 6, 2.0), ("valid", 8, 9.0),
               ("valid", 8, 0.5), ("valid", 10, 0.1)]  # step 8 re-validated after a resume; 10 was pruned
    (tmp_path / "metrics.jsonl").write_text(
        "".join(json.dumps({"event": e, "step": s, "loss": v}) + "\n" for e, s, v in records))
    assert names(select_checkpoints(tmp_path, 2, "loss")) == ["ckpt-8.pt", "ckpt-4.pt"]
    assert names(select_checkpoints(tmp_path, 2, "loss", mode="max")) == ["ckpt-2.pt", "ckpt-6.pt"]
    assert names(select_checkpoints(tmp_path, 3, None)) == ["ckpt-8.pt", "ckpt-6.pt", "ckpt-4.pt"]
    with pytest.raises(LegokitError, match="no validation 'bleu'"):
        select_checkpoints(tmp_path, 2, "bleu")
    with pytest.raises(LegokitError, match="no ckpt-<step>.pt files"):
        select_checkpoints(tmp_path / "nowhere", 2)
