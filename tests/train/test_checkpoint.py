import hashlib
import io
import json
import random

import numpy as np
import pytest
import torch

from legokit.errors import LegokitError
from legokit.lego.loading import load_bricks
from legokit.train import average_checkpoints, load_checkpoint, save_checkpoint, select_checkpoints
from legokit.train.checkpoint import FORMAT, MAGIC, META_KEY, payload_digest, rng_state, set_rng_state


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


def test_checkpoint_is_a_plain_torch_file_with_the_checksum_inside(tmp_path):
    """Any PyTorch program opens it; the "_legokit" entry carries the format and the digest."""
    path = _ckpt(tmp_path / "c.pt", w=torch.ones(2))
    plain = torch.load(path, weights_only=True)
    assert torch.equal(plain["model"]["w"], torch.ones(2)) and plain["step"] == 3
    assert plain[META_KEY] == {"format": FORMAT, "sha256": payload_digest({"model": {"w": torch.ones(2)}, "step": 3})}
    assert META_KEY not in load_checkpoint(path)
    with pytest.raises(ValueError, match="reserved key"):
        save_checkpoint(plain, tmp_path / "again.pt")


def _flip_tensor_byte(path, tensor):
    """Flip one byte inside the stored bytes of ``tensor`` (the zip stays readable: only the checksum tells)."""
    data = bytearray(path.read_bytes())
    offset = data.find(tensor.numpy().tobytes())
    assert offset > 0
    data[offset + 5] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupted_or_foreign_file_is_a_clear_error(tmp_path):
    weights = torch.arange(100.0) + 0.5
    path = _ckpt(tmp_path / "c.pt", w=weights)
    _flip_tensor_byte(path, weights)
    with pytest.raises(LegokitError, match=r"c\.pt: checkpoint is corrupted \(sha256 mismatch"):
        load_checkpoint(path)
    path.write_bytes(path.read_bytes()[:-50])  # truncated
    with pytest.raises(LegokitError, match=r"c\.pt: checkpoint is corrupted \(unreadable torch archive"):
        load_checkpoint(path)
    torch.save({"w": 1}, tmp_path / "plain.pt")
    with pytest.raises(LegokitError, match="plain.pt: not a legokit checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(LegokitError, match="text.pt: not a legokit checkpoint"):
        load_checkpoint(tmp_path / "text.pt")
    torch.save({META_KEY: {"format": "legokit-checkpoint/9", "sha256": ""}}, tmp_path / "newer.pt")
    with pytest.raises(LegokitError, match="newer.pt: checkpoint format 'legokit-checkpoint/9' is not"):
        load_checkpoint(tmp_path / "newer.pt")
    with pytest.raises(LegokitError, match="missing.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def _format1(path, payload):
    """A checkpoint as legokit wrote it before format 2: header, hex digest of the torch bytes, torch bytes."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    path.write_bytes(MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
    return path


def test_format1_checkpoints_still_load_and_are_still_verified(tmp_path):
    weights = torch.arange(100.0) + 0.5
    path = _format1(tmp_path / "old.pt", {"model": {"w": weights}, "loop": {"step": 4}})
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["model"]["w"], weights) and loaded["loop"] == {"step": 4}
    assert torch.equal(average_checkpoints([path, _ckpt(tmp_path / "new.pt", w=weights)])["w"], weights)
    _flip_tensor_byte(path, weights)
    with pytest.raises(LegokitError, match=r"old\.pt: checkpoint is corrupted \(sha256 mismatch"):
        load_checkpoint(path)


def test_digest_covers_values_types_and_order():
    base = {"model": {"w": torch.ones(2)}, "betas": (0.9, 0.98), "step": 1}
    variants = [{**base, "step": 2}, {**base, "step": 1.0}, {**base, "betas": [0.9, 0.98]},
                {**base, "model": {"w": torch.ones(2, dtype=torch.float64)}},
                {**base, "model": {"w": torch.ones(1, 2)}}, {**base, "model": {"w": torch.tensor([1.0, 2.0])}},
                {"betas": (0.9, 0.98), "model": {"w": torch.ones(2)}, "step": 1}]
    digests = {payload_digest(p) for p in [base, *variants]}
    assert len(digests) == 1 + len(variants)
    assert payload_digest(base) == payload_digest({"model": {"w": torch.ones(2)}, "betas": (0.9, 0.98), "step": 1})


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


def test_a_checkpoint_of_either_format_given_as_a_brick_says_so(tmp_path):
    for path in (_ckpt(tmp_path / "new.pt", w=torch.ones(2)), _format1(tmp_path / "old.pt", {"model": {}})):
        with pytest.raises(LegokitError, match=f"{path.name}: not a readable legokit brick/model file: it is a "
                                               "training checkpoint"):
            load_bricks(path)
