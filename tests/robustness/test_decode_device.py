"""`legokit decode` runs on the device and in the dtype it is given: the config key ``device``, ``--device``
over it, ``auto``, and bfloat16 weights and activations (on the CPU here; the same code path as a GPU's)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from legokit.cli import main
from legokit.data.datadir import read_kaldi_map

TEST = Path(__file__).parents[1] / "fixtures" / "lego" / "test"


def _decode(model: Path, out: Path, *overrides: str, options: tuple[str, ...] = ()) -> list[str]:
    """Joint CTC/attention beam search over the toy test set: beam search and CTC prefix scoring both run."""
    return ["decode", *options, "--model", str(model), "--data-dir", str(TEST), "--out", str(out),
            "beam.beam_size=3", "beam.ctc_weight=0.3", "beam.max_len_ratio=0", "beam.max_len_offset=6", *overrides]


def test_decode_in_bfloat16_on_the_given_device(toy_model: Path, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="legokit.workflows.decode")
    assert main(_decode(toy_model / "model.pt", tmp_path / "fp32", options=("--device", "cpu"))) == 0
    assert main(_decode(toy_model / "model.pt", tmp_path / "bf16", "dtype=bfloat16", options=("--device", "cpu"))) == 0
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("decoded ")]
    assert " on cpu (float32) " in said[0] and " on cpu (bfloat16) " in said[1], said
    fp32, bf16 = read_kaldi_map(tmp_path / "fp32", allow_empty_value=True), \
        read_kaldi_map(tmp_path / "bf16", allow_empty_value=True)
    assert list(fp32) == list(bf16) == list(read_kaldi_map(TEST / "text.de"))
    same = sum(fp32[utt] == bf16[utt] for utt in fp32)
    print(f"bf16 = fp32 on {same} of {len(fp32)} sentences")
    assert same >= 0.5 * len(fp32), f"bf16 agrees with fp32 on {same} of {len(fp32)} sentences"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_config_device_is_used_and_the_option_overrides_it(toy_model: Path, tmp_path: Path,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    """device: cuda in the YAML reaches the device check (refused here, no GPU); --device cpu overrides it."""
    conf = tmp_path / "decode.yaml"
    conf.write_text("device: cuda\n")
    model, hyp = toy_model / "model.pt", tmp_path / "hyp"
    capfd.readouterr()
    assert main(["--log-level", "ERROR", *_decode(model, hyp, options=("--config", str(conf)))]) == 2
    err = capfd.readouterr().err.strip()
    assert err == "legokit decode: error: --device cuda: no such device on this machine (available: cpu)"
    assert not hyp.exists()
    assert main(_decode(model, hyp, options=("--config", str(conf), "--device", "cpu"))) == 0
    assert hyp.is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_auto_decodes_on_the_cpu_without_a_gpu(toy_model: Path, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="legokit.workflows.decode")
    assert main(_decode(toy_model / "model.pt", tmp_path / "hyp", "device=auto")) == 0
    assert any(r.getMessage().startswith("decoded ") and " on cpu " in r.getMessage() for r in caplog.records)


def test_the_device_is_resolved_once_per_decode(toy_model: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """decode_dir resolves ``device`` once and hands it to the model and the batch loop (not three times)."""
    from legokit.workflows import decode

    calls: list[str] = []
    resolve = decode.resolve_device
    monkeypatch.setattr(decode, "resolve_device", lambda name: calls.append(name) or resolve(name))
    assert main(_decode(toy_model / "model.pt", tmp_path / "hyp", "device=auto")) == 0
    assert calls == ["auto"]
    assert (tmp_path / "hyp").is_file()


def test_config_threads_are_capped_by_the_jobs_share(monkeypatch) -> None:
    """A decode config's num_threads is capped by OMP_NUM_THREADS, which `legokit queue` sets to each parallel
    local job's share of the CPUs (2 jobs x a config's 2 threads on 2 cores spin-wait: 0.4 s -> 27 s measured)."""
    from legokit.workflows.decode import thread_share

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert thread_share(2) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert thread_share(2) == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert thread_share(2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "garbage")
    assert thread_share(3) == 3
