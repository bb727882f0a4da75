"""Expected failures of options, environment variables and mismatched files are one line and exit 2: a bad
--input-sentence-size, LEGOKIT_PROGRESS_INTERVAL that is not a number, a feature dump of another dimension than
the model's, an init brick of another vocabulary, and an `average` output used as a model or to resume from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from robustness.conftest import tiny_overrides

from legokit.cli import main
from legokit.config import dump_yaml, load_config
from legokit.data.tokenizer import train_tokenizer
from legokit.errors import LegokitError
from legokit.train.checkpoint import save_checkpoint
from legokit.workflows.experiment import ExperimentConfig, build_model, export_bricks, load_data


def _error(capfd: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `legokit ARGV`; assert exit status 2 with one stderr line (no traceback) and return it."""
    capfd.readouterr()
    assert main(["--log-level", "ERROR", *argv]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_negative_input_sentence_size(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "text"
    text.write_text("hello world\n")
    with pytest.raises(SystemExit) as exit_:
        main(["tokenizer", "train", "--input", str(text), "--model-prefix", str(tmp_path / "m"), "--vocab-size", "8",
              "--input-sentence-size", "-1"])
    assert exit_.value.code == 2
    assert "argument --input-sentence-size: expected an integer >= 0, got '-1'" in capfd.readouterr().err
    with pytest.raises(LegokitError, match=r"^input sentence size must be >= 0 \(0: all sentences\), got -1$"):
        train_tokenizer([str(text)], str(tmp_path / "m"), 8, input_sentence_size=-1)
    assert not list(tmp_path.glob("m.*"))


@pytest.mark.parametrize("value", ["abc", "nan", "-5"])
def test_progress_interval_that_is_not_a_number(value: str, speech_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LEGOKIT_NO_TQDM"} | {"LEGOKIT_PROGRESS_INTERVAL": value}
    run = subprocess.run([sys.executable, "-m", "legokit.cli", "features", "--data-dir", str(speech_dir),
                          "--out-dir", str(tmp_path / "dump")], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == (f"legokit features: error: environment variable LEGOKIT_PROGRESS_INTERVAL="
                                           f"'{value}': expected a number of seconds >= 0 (e.g. 30)")
    assert "Traceback" not in run.stderr


# --- a feature dump of another dimension ----------------------------------------------------------------
@pytest.fixture
def asr_setup(speech_dir: Path, tmp_path: Path) -> dict[str, object]:
    """40- and 80-dim feature dumps of the speech dir, a char tokenizer, and tiny ASR overrides (80-dim model)."""
    for dim in (40, 80):
        assert main(["--log-level", "ERROR", "features", "--data-dir", str(speech_dir), "--out-dir",
                     str(tmp_path / f"fbank{dim}"), "--num-mel-bins", str(dim)]) == 0
    text = tmp_path / "text"
    text.write_text("hello world\ngood morning\n")
    tok = train_tokenizer([str(text)], str(tmp_path / "char"), 30, model_type="char")
    overrides = ["data.task=asr", f"data.train_dir={speech_dir}", "data.valid_dir=", f"data.tgt_tokenizer={tok}",
                 "model.encoder.input=speech", "model.encoder.encoder.kind=transformer",
                 "model.encoder.encoder.num_layers=1", "model.encoder.encoder.dim=16",
                 "model.encoder.encoder.num_heads=2", "model.encoder.encoder.ffn_dim=32", "model.decoder=null"]
    return {"dumps": {dim: tmp_path / f"fbank{dim}" / "feats.scp" for dim in (40, 80)}, "overrides": overrides}


def test_train_refuses_a_feature_dump_of_another_dimension(asr_setup: dict, tmp_path: Path,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    dump40 = asr_setup["dumps"][40]
    err = _error(capfd, "train", "--out-dir", str(tmp_path / "exp"), *asr_setup["overrides"],
                 f"data.train_feats={dump40}")
    assert f"{dump40}: the features are 40-dimensional but model.encoder.feat_dim expects 80" in err
    assert not (tmp_path / "exp" / "checkpoints").exists()


def test_decode_refuses_a_feature_dump_of_another_dimension(asr_setup: dict, speech_dir: Path, tmp_path: Path,
                                                            capfd: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(ExperimentConfig, None, [*asr_setup["overrides"], f"data.train_feats={asr_setup['dumps'][80]}"])
    data = load_data(cfg.data)
    built, loaded = build_model(cfg, data)
    export_bricks(built, data, tmp_path / "exp", training={}, loaded=loaded)
    model, dump40, hyp = tmp_path / "exp" / "model.pt", asr_setup["dumps"][40], tmp_path / "hyp"
    err = _error(capfd, "decode", "--model", str(model), "--data-dir", str(speech_dir), "--feats", str(dump40),
                 "--out", str(hyp))
    assert f"{dump40}: the features are 40-dimensional but the model's first brick {model}" in err
    assert "expects 80" in err and not hyp.exists()


# --- an init brick of another vocabulary ----------------------------------------------------------------
def test_init_encoder_with_another_vocabulary_names_both_signatures(toy_model: Path, toy_tokenizers: Path,
                                                                    tmp_path: Path,
                                                                    capfd: pytest.CaptureFixture[str]) -> None:
    brick = toy_model / "bricks" / "encoder.brick"  # trained with en.model as its output vocabulary
    err = _error(capfd, "train", "--out-dir", str(tmp_path / "exp"), *tiny_overrides(toy_tokenizers),
                 f"data.tgt_tokenizer={toy_tokenizers / 'de.model'}", f"model.init_encoder={brick}")
    assert f"{brick}: its output vocabulary (signature " in err
    assert "differs from config 'data.tgt_tokenizer' (signature " in err
    signatures = [part.split(",")[0] for part in err.split("signature ")[1:]]
    assert len(signatures) == 2 and signatures[0] != signatures[1]


# --- the output of `legokit average` --------------------------------------------------------------------
@pytest.fixture
def averaged(tmp_path: Path) -> Path:
    """`legokit average` output of a run with one checkpoint."""
    run = tmp_path / "run"
    save_checkpoint({"model": {"w": torch.ones(2)}, "loop": {"step": 1}}, run / "checkpoints" / "ckpt-1.pt")
    assert main(["--log-level", "ERROR", "average", "--exp-dir", str(run), "--num", "1", "--last",
                 "-o", str(tmp_path / "avg.pt")]) == 0
    return tmp_path / "avg.pt"


def test_an_average_output_given_as_a_model(averaged: Path, toy_tokenizers: Path, mt_dir: Path, tmp_path: Path,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    expected = f"{averaged}: not a readable legokit brick/model file: it is a training checkpoint (from " \
               "`legokit train` or `legokit average`); pass the model.pt or bricks/*.brick"
    assert expected in _error(capfd, "decode", "--model", str(averaged), "--data-dir", str(mt_dir),
                              "--out", str(tmp_path / "hyp"))
    assert expected in _error(capfd, "train", "--out-dir", str(tmp_path / "exp"), *tiny_overrides(toy_tokenizers),
                              f"model.init_model={averaged}")
    assert expected in _error(capfd, "train", "--out-dir", str(tmp_path / "exp2"), *tiny_overrides(toy_tokenizers),
                              f"model.init_encoder={averaged}")


def test_resuming_from_an_average_output(averaged: Path, toy_tokenizers: Path, tmp_path: Path,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    out, overrides = tmp_path / "exp", tiny_overrides(toy_tokenizers)
    (out / "checkpoints").mkdir(parents=True)
    (out / "config.yaml").write_text(dump_yaml(load_config(ExperimentConfig, None, overrides)))
    last = out / "checkpoints" / "checkpoint_last.pt"
    shutil.copy(averaged, last)
    err = _error(capfd, "train", "--out-dir", str(out), *overrides)
    assert f"{last}: is an averaged model from `legokit average`, not a training checkpoint" in err
    assert "copy a ckpt-<step>.pt to checkpoint_last.pt" in err
