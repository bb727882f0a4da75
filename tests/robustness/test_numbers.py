"""Numbers are checked where they enter: NaN/inf in any config float, out-of-range config values and numeric
command-line options are refused before anything is written, naming the key, option or file.

Config values (YAML or dotted overrides) are LegokitErrors (exit 2, one line naming the dotted key); numeric
options are argparse usage errors (exit 2, "argument --option: expected ...").
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from legokit.cli import main
from legokit.data.featdump import FEATS_SCP
from legokit.data.features import CMVNStats
from legokit.errors import LegokitError


def _config_error(capfd: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `legokit ARGV`; assert exit status 2 with one stderr line and return it."""
    capfd.readouterr()
    assert main(["--log-level", "ERROR", *argv]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _usage_error(capfd: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `legokit ARGV`; assert argparse's usage error (exit 2) and return its last stderr line."""
    capfd.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["--log-level", "ERROR", *argv])
    assert exit_.value.code == 2
    err = capfd.readouterr().err.strip()
    assert "Traceback" not in err, err
    return err.splitlines()[-1]


# --- training config: NaN/inf and ranges, from overrides and from YAML --------------------------------
@pytest.mark.parametrize("override, message", [
    ("optim.lr=.inf", "key 'optim.lr' must be a finite number, got inf"),
    ("optim.clip_grad_norm=.nan", "key 'optim.clip_grad_norm' must be a finite number, got nan"),
    ("optim.lr=nan", "key 'optim.lr' must be a finite number, got nan"),
    ("optim.betas=[0.9,.inf]", r"key 'optim.betas\[1\]' must be a finite number, got inf"),
    ("loss.ctc_weight=-.inf", "key 'loss.ctc_weight' must be a finite number, got -inf"),
    ("model.encoder.encoder.num_heads=3", "key 'model.encoder.encoder.dim' must be a multiple of num_heads "
                                          r"\(3\), got 256"),
    ("model.decoder.num_heads=5", r"key 'model.decoder.num_heads' must be a divisor of the model dimension \(256\)"),
    ("model.decoder.ingestor.num_heads=3", "key 'model.decoder.ingestor.num_heads' must be a divisor"),
    ("model.encoder.encoder.dropout=1.0", r"key 'model.encoder.encoder.dropout' must be in \[0, 1\), got 1.0"),
    ("model.decoder.dropout=-0.1", r"key 'model.decoder.dropout' must be in \[0, 1\), got -0.1"),
    ("model.encoder.length_rate=0", r"key 'model.encoder.length_rate' must be in \(0, inf\), got 0.0"),
    ("data.max_tokens=0", r"key 'data.max_tokens' must be in \[1, inf\), got 0"),
    ("data.max_batch_size=0", r"key 'data.max_batch_size' must be in \[1, inf\), got 0"),
    ("optim.lr=0", "key 'optim.lr' must be > 0, got 0.0"),
])
def test_train_refuses_a_bad_number_before_writing(override: str, message: str, tmp_path: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exp"
    err = _config_error(capfd, "train", "--out-dir", str(out), override)
    assert err.startswith("legokit train: error: <defaults> + command line: ")
    assert re.search(message, err), err
    assert not out.exists()


def test_a_yaml_nan_names_the_file_and_the_key(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "train.yaml"
    conf.write_text("optim:\n  lr: .nan\n")
    out = tmp_path / "exp"
    err = _config_error(capfd, "train", "--config", str(conf), "--out-dir", str(out))
    assert f"{conf}: key 'optim.lr' must be a finite number, got nan" in err
    assert not out.exists()


def test_tts_config_ranges(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    err = _config_error(capfd, "tts", "train", "--out-dir", str(tmp_path / "exp"), "model.num_heads=5")
    assert "key 'model.num_heads' must be a divisor of the model dimension (192), got 5" in err
    err = _config_error(capfd, "tts", "train", "--out-dir", str(tmp_path / "exp"), "data.max_frames=0")
    assert "key 'data.max_frames' must be in [1, inf), got 0" in err
    assert not (tmp_path / "exp").exists()  # refused before --out-dir is made or locked


# --- decode config ----------------------------------------------------------------------------------
@pytest.mark.parametrize("override, message", [
    ("beam.length_penalty=nan", "key 'beam.length_penalty' must be a finite number, got nan"),
    ("beam.ctc_weight=.nan", "key 'beam.ctc_weight' must be a finite number, got nan"),
    ("max_tokens=0", "key 'max_tokens' must be in [1, inf), got 0"),
    ("max_batch_size=0", "key 'max_batch_size' must be in [1, inf), got 0"),
])
def test_decode_refuses_a_bad_number_and_writes_nothing(override: str, message: str, toy_model: Path, mt_dir: Path,
                                                        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    hyp = tmp_path / "decode" / "hyp"
    err = _config_error(capfd, "decode", "--model", str(toy_model / "model.pt"), "--data-dir", str(mt_dir),
                        "--out", str(hyp), override)
    assert message in err
    assert not hyp.parent.exists()


# --- numeric command-line options -----------------------------------------------------------------------
@pytest.mark.parametrize("option, value, expected", [
    ("--frame-shift-ms", "0", "a number > 0"),
    ("--frame-length-ms", "inf", "a number > 0"),
    ("--shard-size", "0", "an integer >= 1"),
    ("--num-mel-bins", "0", "an integer >= 1"),
    ("--sample-rate", "0", "an integer >= 1"),
    ("--dither", "nan", "a number >= 0"),
    ("--nj", "-1", "an integer >= 1"),
])
def test_features_refuses_a_bad_option_and_writes_nothing(option: str, value: str, expected: str, speech_dir: Path,
                                                          tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dump"
    err = _usage_error(capfd, "features", "--data-dir", str(speech_dir), "--out-dir", str(out), option, value)
    assert err == f"legokit features: error: argument {option}: expected {expected}, got '{value}'"
    assert not out.exists()


def test_features_refuses_a_frame_shift_below_one_sample(speech_dir: Path, tmp_path: Path,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    """Positive but shorter than one sample: the config's own check (it was a SIGFPE with a .tmp shard)."""
    out = tmp_path / "dump"
    err = _config_error(capfd, "features", "--data-dir", str(speech_dir), "--out-dir", str(out),
                        "--frame-shift-ms", "0.01")
    assert "key 'frame_shift_ms' must be at least one sample (0.0625 ms)" in err
    assert not out.exists()


@pytest.mark.parametrize("value", ["0", "nan", "-1", "inf"])
def test_compose_refuses_a_bad_length_rate(value: str, toy_model: Path, tmp_path: Path,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ab.pt"
    err = _usage_error(capfd, "compose", str(toy_model / "bricks" / "encoder.brick"),
                       str(toy_model / "bricks" / "decoder.brick"), "-o", str(out), "--length-rate", value)
    assert err == f"legokit compose: error: argument --length-rate: expected 'auto', 'keep' or a number > 0, got " \
                  f"'{value}'"
    assert not out.exists()


@pytest.mark.parametrize("argv", [
    ["tokenizer", "train", "--input", "t", "--model-prefix", "m", "--vocab-size", "0"],
    ["tokenizer", "train", "--input", "t", "--model-prefix", "m", "--vocab-size", "8", "--character-coverage", "nan"],
    ["average", "--exp-dir", "e", "--num", "0", "-o", "a.pt"],
    ["score", "bleu", "--ref", "r", "--hyp", "h", "--bootstrap-samples", "0"],
    ["tts", "synthesize", "--model", "m", "--text", "t", "--out-dir", "o", "--length-scale", "nan"],
    ["brick", "compress", "--method", "prune", "--sparsity", "1.5", "b", "-o", "c"],
])
def test_other_numeric_options_are_usage_errors(argv: list[str], capfd: pytest.CaptureFixture[str]) -> None:
    option = next(arg for arg, value in zip(argv, argv[1:]) if value in ("0", "nan", "1.5"))
    err = _usage_error(capfd, *argv)
    assert f"argument {option}: expected" in err


# --- features of finite but huge audio ------------------------------------------------------------------
def test_huge_samples_are_refused_naming_the_file(speech_dir: Path, tmp_path: Path,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    wav = tmp_path / "u2.wav"  # the data dir's second utterance: finite samples of 1e30
    sf.write(wav, (1e30 * np.sin(np.arange(8000) / 5)).astype(np.float32), 16000, subtype="FLOAT")
    out = tmp_path / "dump"
    err = _config_error(capfd, "features", "--data-dir", str(speech_dir), "--out-dir", str(out))
    assert f"{wav} (utterance u2): gives non-finite (inf/NaN) features" in err
    assert not (out / FEATS_SCP).exists() and not (out / "cmvn.json").exists()
    assert not list(out.glob("*.tmp"))


def test_cmvn_stats_with_inf_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "cmvn.json"
    path.write_text('{"count": 3, "sum": [Infinity, 1.0], "sumsq": [1.0, 1.0]}')
    with pytest.raises(LegokitError, match=f"{path}: not a CMVN stats file .*inf or NaN"):
        CMVNStats.load(path)
