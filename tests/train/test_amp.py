"""Mixed precision (train.amp): bf16 autocast learns; fp16 runs with a GradScaler whose overflow skips are not
divergence and whose state survives a resume; auto picks what the device has; a precision the device lacks is
one error. Everything on the CPU (torch's CPU autocast has bf16 and fp16, and GradScaler("cpu") exists); the CUDA
capability checks are exercised by stubbing torch.cuda's answers."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from legokit.errors import LegokitError
from legokit.train import OptimConfig, TrainConfig, fit, load_checkpoint
from legokit.train.trainer import MIN_LOSS_SCALE, resolve_amp


def _run(toy, out_dir, model=None, **train):
    torch.manual_seed(0)
    train = {"max_epochs": 2, "log_interval": 1, "keep_last_checkpoints": 0, "device": "cpu", **train}
    return fit(model or toy.ToyModel(0.0), toy.make_batches(), None, OptimConfig(lr=0.01, warmup_steps=2),
               TrainConfig(**train), out_dir)


def _train_losses(out_dir) -> list[float]:
    records = map(json.loads, (out_dir / "metrics.jsonl").read_text().splitlines())
    return [r["loss"] for r in records if r["event"] == "train"]


def _scaler(out_dir) -> dict:
    return load_checkpoint(out_dir / "checkpoints" / "checkpoint_last.pt")["scaler"]


class _InfGrad(torch.autograd.Function):
    """Identity forward; the gradient flowing back through it becomes inf (the loss itself stays finite)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


class _Overflowing(torch.nn.Module):
    """The toy model whose gradient overflows on the training calls listed in `bad` (0-based; None: all)."""

    def __init__(self, inner, bad=None):
        super().__init__()
        self.inner, self.bad, self.calls = inner, bad, 0

    def forward(self, batch):
        out = self.inner(batch)
        if self.training:
            if self.bad is None or self.calls in self.bad:
                out["loss"] = _InfGrad.apply(out["loss"])
            self.calls += 1
        return out


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_learns_on_cpu(toy, tmp_path, amp, caplog):
    with caplog.at_level(logging.INFO, logger="legokit.train"):
        result = _run(toy, tmp_path, amp=amp, max_epochs=4)
    assert f"training on cpu (amp {amp})" in caplog.text
    losses = _train_losses(tmp_path)
    assert sum(losses[-8:]) < 0.9 * sum(losses[:8]), losses  # the last epoch's mean loss vs the first's
    # fp16: the first updates overflow at the initial scale 2^16 (real fp16 gradients), each skipped and halving it
    overflows = caplog.text.count("fp16 gradient overflow")
    assert result.step == 32 - overflows and "skipping update" not in caplog.text
    assert _scaler(tmp_path) == ({} if amp == "bf16" else {**_scaler(tmp_path), "scale": 65536.0 / 2 ** overflows})


def test_auto_is_bf16_on_cpu(toy, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="legokit.train"):
        _run(toy, tmp_path, amp="auto", max_steps=2)
    assert "training on cpu (amp bf16)" in caplog.text


def test_fp16_overflow_skips_the_update_halves_the_scale_and_is_not_divergence(toy, tmp_path, caplog):
    model = _Overflowing(toy.ToyModel(0.0), bad={1, 2, 3})
    with caplog.at_level(logging.INFO, logger="legokit.train"):
        result = _run(toy, tmp_path, model=model, amp="fp16", max_epochs=1, max_bad_steps=2)
    overflows = caplog.text.count("fp16 gradient overflow")  # the 3 forced ones, and any real fp16 overflow
    assert overflows >= 3 and "update skipped, loss scale lowered to 32768" in caplog.text
    assert result.reason == "max_epochs" and result.step == 8 - overflows  # skipped, yet no error at max_bad_steps 2
    assert "skipping update" not in caplog.text and "diverged" not in caplog.text
    assert _scaler(tmp_path)["scale"] == 65536.0 / 2 ** overflows
    assert all(torch.isfinite(v).all() for v in load_checkpoint(
        tmp_path / "checkpoints" / "checkpoint_last.pt")["model"].values())


def test_fp16_scale_is_restored_on_resume(toy, tmp_path, caplog):
    _run(toy, tmp_path, model=_Overflowing(toy.ToyModel(0.0), bad={0, 1}), amp="fp16", max_steps=3)
    saved = _scaler(tmp_path)["scale"]
    assert saved <= 16384.0
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="legokit.train"):
        result = _run(toy, tmp_path, model=_Overflowing(toy.ToyModel(0.0), bad=set()), amp="fp16", max_steps=6)
    assert "resumed from" in caplog.text and result.step == 6
    # the resumed scaler carries on from the saved scale (a fresh one would restart at 65536; growth_interval 2000)
    assert _scaler(tmp_path)["scale"] == saved / 2 ** caplog.text.count("fp16 gradient overflow")


def test_fp16_gradient_that_stays_non_finite_is_divergence(toy, tmp_path, caplog):
    """An inf gradient at every loss scale: skipped while the scale backs off to MIN_LOSS_SCALE, then bad steps."""
    backoffs = 0  # halvings that leave the scale >= MIN_LOSS_SCALE
    while 65536.0 / 2 ** (backoffs + 1) >= MIN_LOSS_SCALE:
        backoffs += 1
    with caplog.at_level(logging.INFO, logger="legokit.train"), pytest.raises(
            LegokitError, match=r"training diverged: 3 updates in a row had a NaN/inf loss or gradient"):
        _run(toy, tmp_path, model=_Overflowing(toy.ToyModel(0.0)), amp="fp16", max_epochs=10, max_bad_steps=3)
    assert caplog.text.count("fp16 gradient overflow") == backoffs == 29
    assert caplog.text.count("skipping update") == 3 and "at fp16 loss scale 6.10352e-05 (1 bad" in caplog.text


@pytest.fixture
def cuda_without_bf16(monkeypatch):
    """A CUDA device like a V100: no native bfloat16."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100-SXM2-32GB")
    return torch.device("cuda", 0)


def test_auto_on_cuda_without_bf16_is_fp16_and_bf16_is_refused(cuda_without_bf16):
    assert resolve_amp("auto", cuda_without_bf16) == "fp16"
    assert resolve_amp("fp16", cuda_without_bf16) == "fp16"
    with pytest.raises(LegokitError) as err:
        resolve_amp("bf16", cuda_without_bf16)
    assert str(err.value) == ("TrainConfig.amp=bf16: cuda:0 (Tesla V100-SXM2-32GB) has no native bfloat16; use "
                              "train.amp=fp16 (loss scaling) or train.amp=auto")


def test_auto_on_cuda_with_bf16_is_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert resolve_amp("auto", torch.device("cuda", 0)) == "bf16"
    assert resolve_amp("none", torch.device("cuda", 0)) == "none"



def test_loaders_pin_memory_only_for_a_run_on_cuda(monkeypatch):
    from legokit.train.trainer import pins_memory
    from legokit.workflows.experiment import DataConfig, make_loader

    assert not pins_memory("auto") and not pins_memory("cpu")  # no CUDA here
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pins_memory("auto") and pins_memory("cuda") and not pins_memory("cpu")
    dataset = type("Items", (), {"lengths": [3, 4]})()
    assert make_loader(dataset, DataConfig(task="mt"), False, seed=1, pin_memory=True).pin_memory
    assert not make_loader(dataset, DataConfig(task="mt"), False, seed=1).pin_memory
