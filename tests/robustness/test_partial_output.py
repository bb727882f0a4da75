"""A failed command leaves no partial output: no feats.scp, no hypothesis file, no brick or checkpoint
file (nor temporary file); and through the CLI the failure is one line on stderr with exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from legokit.cli import main
from legokit.data.featdump import FEATS_SCP
from legokit.lego.bricks import save_brick
from legokit.lego.loading import load_brick
from legokit.train.checkpoint import save_checkpoint


def _cli(capfd: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `legokit ARGV` in-process; assert exit status 2 and return its one stderr line."""
    assert main(["--log-level", "ERROR", *argv]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_failed_features_leave_no_index_and_no_temporary_shard(speech_dir: Path, tmp_path: Path,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dump"
    assert main(["features", "--data-dir", str(speech_dir), "--out-dir", str(out)]) == 0
    assert (out / FEATS_SCP).is_file()
    (tmp_path / "u2.wav").write_bytes(b"RIFF garbage")  # the second utterance is now broken
    capfd.readouterr()
    err = _cli(capfd, "features", "--data-dir", str(speech_dir), "--out-dir", str(out), "--shard-size", "1")
    assert err.startswith(f"legokit features: error: {tmp_path / 'u2.wav'}: not a readable audio file")
    assert not (out / FEATS_SCP).exists()  # the old index is gone too: nothing stale is read
    assert not list(out.glob("*.tmp"))


def test_failed_decode_leaves_no_hypothesis_file(toy_model: Path, mt_dir: Path, tmp_path: Path,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    hyp = tmp_path / "decode" / "hyp.txt"
    args = ["decode", "--model", str(toy_model / "model.pt"), "--data-dir", str(mt_dir), "--out", str(hyp),
            "beam.beam_size=1", "beam.max_len_ratio=0", "beam.max_len_offset=3"]
    assert main(args) == 0 and len(hyp.read_text().splitlines()) == 2
    (mt_dir / "text.de").write_text("a guten morgen\n\n")
    err = _cli(capfd, *args)
    assert f"{mt_dir / 'text.de'}:2: empty line" in err
    assert not hyp.exists() and not list(hyp.parent.iterdir())  # neither the old hypotheses nor a .tmp


def _disk_full(*args: object) -> None:
    raise OSError(28, "No space left on device")


def test_failed_brick_save_leaves_no_file(toy_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    brick = load_brick(toy_model / "bricks" / "encoder.brick")
    monkeypatch.setattr(os, "fsync", _disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_brick(brick, tmp_path / "bricks" / "encoder.brick")
    assert not list((tmp_path / "bricks").iterdir())


def test_failed_checkpoint_save_keeps_the_previous_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "checkpoint_last.pt"
    save_checkpoint({"step": torch.tensor(1)}, path)
    before = path.read_bytes()
    monkeypatch.setattr(os, "fsync", _disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint({"step": torch.tensor(2)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == [path.name]


def test_cli_errors_are_one_line(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("optim:\n  lr: [1\n")
    err = _cli(capfd, "train", "--config", str(tmp_path / "bad.yaml"), "--out-dir", str(tmp_path / "exp"))
    assert err.startswith(f"legokit train: error: {tmp_path / 'bad.yaml'}: not valid YAML: line 3")
    assert not (tmp_path / "exp").exists()  # nothing is created before the config is valid
    (tmp_path / "x.brick").write_bytes(b"\0" * 100)
    assert "not a readable legokit brick/model file" in _cli(capfd, "brick", "info", str(tmp_path / "x.brick"))
    (tmp_path / "ref.txt").write_text("a\nb\n")
    (tmp_path / "hyp.txt").write_text("a\n")
    out = tmp_path / "scores.json"
    assert "has 2 lines but" in _cli(capfd, "score", "bleu", "--ref", str(tmp_path / "ref.txt"), "--hyp",
                                     str(tmp_path / "hyp.txt"), "--output", str(out))
    assert not out.exists()


def test_real_process_exits_2_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "text.de").write_text("a x\n")
    proc = subprocess.run([sys.executable, "-m", "legokit.cli", "validate", str(tmp_path), "--langs", "de", "en"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"legokit validate: error: {tmp_path / 'text.en'}: file not found "
                                   "(a Kaldi data dir needs it; see docs/data.md)")
