import json
import logging

import pytest
import torch
import torch.nn.functional as F

from legokit.errors import LegokitError
from legokit.train import OptimConfig, TrainConfig, fit, load_checkpoint


def _run(toy, out_dir, batches=None, dropout=0.1, optim=None, resume=True, valid=True, model=None, **train):
    torch.manual_seed(0)
    model = model or toy.ToyModel(dropout)
    train = {"max_epochs": 2, "log_interval": 2, "keep_last_checkpoints": 0, **train}
    return fit(model, batches or toy.make_batches(), toy.valid_batches if valid else None,
               optim or OptimConfig(lr=0.01, warmup_steps=2, clip_grad_norm=5.0), TrainConfig(**train),
               out_dir, resume=resume), model


def _records(out_dir, event):
    lines = (out_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == event]


def _last_model(out_dir):
    return load_checkpoint(out_dir / "checkpoints" / "checkpoint_last.pt")["model"]


def test_fit_learns_and_writes_its_outputs(toy, tmp_path):
    result, model = _run(toy, tmp_path, max_epochs=3, valid_interval=4)
    assert (result.reason, result.step, result.epoch) == ("max_epochs", 24, 4)
    valid = _records(tmp_path, "valid")
    assert [r["step"] for r in valid] == [4, 8, 12, 16, 20, 24]
    assert valid[-1]["loss"] < valid[0]["loss"] and valid[-1]["weight"] == 32
    assert 0.0 <= valid[-1]["acc"] <= 1.0
    train = _records(tmp_path, "train")
    assert len(train) == 12 and {"loss", "acc", "lr", "grad_norm", "tokens_per_sec"} <= set(train[0])
    best = load_checkpoint(tmp_path / "checkpoints" / "checkpoint_best.pt")
    assert best["loop"]["best"] == min(r["loss"] for r in valid)
    assert best["loop"]["step"] == best["loop"]["best_step"]
    for key, value in model.state_dict().items():
        assert torch.equal(_last_model(tmp_path)[key], value)
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert any((tmp_path / "tensorboard").iterdir())
    assert "validation epoch 3 step 24" in (tmp_path / "train.log").read_text()
    # validation statistics are weighted means computed by hand
    model.eval()
    with torch.no_grad():
        batch = next(toy.valid_batches())
        logits = model.net(batch["x"])
        assert valid[-1]["loss"] == pytest.approx(F.cross_entropy(logits, batch["y"]).item(), rel=1e-6)
    # a finished run resumed with the same config does nothing
    assert _run(toy, tmp_path, max_epochs=3)[0].step == 24


def test_resume_after_a_crash_reaches_the_same_weights(toy, tmp_path):
    _run(toy, tmp_path / "ref", max_epochs=3)
    crashing = toy.make_batches(fail_at=(2, 5))
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(toy, tmp_path / "run", crashing, max_epochs=3, save_interval_steps=3)
    assert load_checkpoint(tmp_path / "run/checkpoints/checkpoint_last.pt")["loop"]["epoch_batches"] == 4
    result, _ = _run(toy, tmp_path / "run", max_epochs=3)
    assert result.step == 24
    ref, resumed = _last_model(tmp_path / "ref"), _last_model(tmp_path / "run")
    assert all(torch.equal(ref[k], resumed[k]) for k in ref)
    assert "resumed from" in (tmp_path / "run" / "train.log").read_text()


def test_accumulation_equals_one_large_batch(toy, tmp_path):
    opt = OptimConfig(lr=0.01, warmup_steps=2, accum_grad=2)
    _run(toy, tmp_path / "accum", toy.make_batches(batch_size=4), dropout=0.0, optim=opt)
    _run(toy, tmp_path / "big", toy.make_batches(batch_size=8), dropout=0.0, optim=OptimConfig(lr=0.01, warmup_steps=2))
    a, b = _last_model(tmp_path / "accum"), _last_model(tmp_path / "big")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_gradient_is_that_of_the_mean_loss_over_the_accumulated_batches(toy, tmp_path):
    optim = OptimConfig(lr=0.01, warmup_steps=2, accum_grad=2)
    _, model = _run(toy, tmp_path, toy.make_batches(batch_size=3), dropout=0.0, optim=optim, max_steps=1,
                    log_interval=1, valid=False)
    torch.manual_seed(0)
    fresh = toy.ToyModel(0.0)
    batches = list(toy.make_batches(batch_size=3)(1))[:2]
    loss = sum(fresh(b)["loss"] for b in batches) / 6
    loss.backward()
    expected = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in fresh.parameters()]))
    assert _records(tmp_path, "train")[0]["grad_norm"] == pytest.approx(expected.item(), rel=1e-5)


class _NaNModel(torch.nn.Module):
    """Wraps the toy model; the loss is NaN for the batches whose (0-based) index is in `bad`."""

    def __init__(self, inner, bad):
        super().__init__()
        self.inner, self.bad, self.calls = inner, set(bad), 0

    def forward(self, batch):
        out = self.inner(batch)
        if self.training:
            if self.calls in self.bad:
                out["loss"] = out["loss"] * float("nan")
            self.calls += 1
        return out


def test_nan_loss_skips_the_update(toy, tmp_path, caplog):
    model = _NaNModel(toy.ToyModel(0.0), bad={1})
    with caplog.at_level(logging.WARNING, logger="legokit.train"):
        result, _ = _run(toy, tmp_path, model=model, max_epochs=1)
    assert result.step == 7  # 8 batches, one skipped
    assert "skipping update at epoch 1 step 1: loss nan" in caplog.text
    assert all(torch.isfinite(v).all() for v in _last_model(tmp_path).values())


def test_too_many_bad_steps_in_a_row_stop_with_an_error(toy, tmp_path):
    model = _NaNModel(toy.ToyModel(0.0), bad={2, 3, 4})
    with pytest.raises(LegokitError, match="training diverged: 3 updates in a row had a NaN/inf loss"):
        _run(toy, tmp_path, model=model, max_bad_steps=3)


class _OOMModel(torch.nn.Module):
    def forward(self, batch):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_names_the_batch_and_a_remedy(toy, tmp_path):
    model = _OOMModel()
    model.w = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(LegokitError, match=r"out of memory on a training batch of 8 items; y_lengths sum 8 max 1 "
                                           r"\(epoch 1, batch 1\); lower the batch budget"):
        _run(toy, tmp_path, model=model)


def test_patience_and_checkpoint_pruning(toy, tmp_path):
    # "max" of a decreasing loss: the first validation stays the best, so patience 1 stops after epoch 2
    result, _ = _run(toy, tmp_path, max_epochs=5, best_mode="max", patience=1, save_interval_steps=2,
                     keep_last_checkpoints=2, keep_best=1)
    assert (result.reason, result.step, result.best_step) == ("patience", 16, 8)
    names = sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*.pt"))
    assert names == ["ckpt-14.pt", "ckpt-16.pt", "ckpt-8.pt"]
    assert load_checkpoint(tmp_path / "checkpoints" / "checkpoint_best.pt")["loop"]["step"] == 8


def test_bf16_autocast_trains_on_cpu(toy, tmp_path):
    result, _ = _run(toy, tmp_path, amp="bf16", max_steps=3, valid=False)
    assert result.reason == "max_steps" and result.step == 3
    assert (tmp_path / "checkpoints" / "ckpt-3.pt").is_file()


def test_user_errors(toy, tmp_path):
    with pytest.raises(LegokitError, match=r"best_metric='bleu' is not among the validation statistics \['acc'"):
        _run(toy, tmp_path / "a", best_metric="bleu")
    _run(toy, tmp_path / "b", max_steps=2, valid=False)
    with pytest.raises(LegokitError, match="checkpoint_last.pt: does not fit this model"):
        _run(toy, tmp_path / "b", model=torch.nn.Linear(2, 2))


def test_stop_message_counts_the_epochs_done(toy, tmp_path):
    """max_epochs=2 ends "after 2 epoch(s)" (not "at epoch 3"); a stop inside an epoch names that epoch."""
    result, _ = _run(toy, tmp_path / "epochs", max_epochs=2, valid=False)
    assert (result.reason, result.step, result.epoch) == ("max_epochs", 16, 3)  # FitResult.epoch: in progress
    log = (tmp_path / "epochs" / "train.log").read_text()
    assert "stopped (max_epochs) after 2 epoch(s) at step 16;" in log and "at epoch 3" not in log
    _run(toy, tmp_path / "steps", max_steps=3, valid=False)
    assert "stopped (max_steps) in epoch 1 at step 3;" in (tmp_path / "steps" / "train.log").read_text()
