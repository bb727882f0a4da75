"""A paper recipe end to end on the test SLURM cluster: egs/europarl_st/asr1 on its fixture corpus with
`./run.sh --cmd slurm --nj 2` and a tiny model — data, features (2 SLURM jobs, merged), tokenizer, training
(a SLURM job), decoding (2 SLURM jobs, merged), scoring, brick manifests. The merged hypotheses equal one
unsplit `legokit decode` of the same model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from legokit.cli import main
from legokit.data.datadir import read_kaldi_map, read_speech_dir
from legokit.data.featdump import FeatureReader

ROOT = Path(__file__).resolve().parents[2]
TINY_ASR = """\
model:
  encoder:
    input: speech
    feat_dim: 80
    subsampling: 4
    encoder: {kind: transformer, num_layers: 1, dim: 32, num_heads: 2, ffn_dim: 64, dropout: 0.0}
    length_rate: null
    ctc_head: true
  decoder:
    dim: 32
    num_layers: 1
    num_heads: 2
    ffn_dim: 64
    dropout: 0.0
    ingestor: {kind: states}
loss: {ctc_weight: 0.5, decoder: {name: ce, label_smoothing: 0.1}}
data: {max_tokens: 24000}
optim: {optimizer: adam, lr: 1.0e-3, scheduler: constant, warmup_steps: 0}
train: {max_epochs: 1, max_steps: 2, log_interval: 1, keep_best: 1, keep_last_checkpoints: 1, num_threads: 1}
average_best: 1
"""
TINY_DECODE = "beam: {beam_size: 2, max_len_ratio: 1.0, max_len_offset: 3, ctc_weight: 0.3}\nnum_threads: 1\n"


@pytest.mark.long
@pytest.mark.slow
def test_europarl_st_recipe_runs_every_stage_on_slurm(slurm: Path, tmp_path: Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg converts Europarl-ST's m4a audio (tools/install_system_deps.sh)")
    egs = tmp_path / "egs"
    egs.mkdir()
    (egs / "TEMPLATE").symlink_to(ROOT / "egs" / "TEMPLATE")
    root = egs / "europarl_st" / "asr1"
    shutil.copytree(ROOT / "egs" / "europarl_st" / "asr1", root, symlinks=True,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads", ".lock*"))
    (root / "conf" / "tiny.yaml").write_text(TINY_ASR)
    (root / "conf" / "tiny_decode.yaml").write_text(TINY_DECODE)
    env = {k: v for k, v in os.environ.items() if k != "LEGOKIT_LOCK"}
    env.update(VIRTUAL_ENV=sys.prefix, EUROPARL_ST=str(ROOT / "tests" / "fixtures" / "corpora" / "europarl_st"))
    proc = subprocess.run(["./run.sh", "--cmd", "slurm", "--nj", "2", "--vocab", "30", "--bpe_type", "char",
                           "--train_config", "conf/tiny.yaml", "--decode_config", "conf/tiny_decode.yaml"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    exp = root / "exp" / "tiny"
    # features: two SLURM jobs per set, merged into one dump
    for name, count in (("train", 6), ("valid", 2), ("test", 2)):
        assert len(FeatureReader(root / "dump" / name / "feats.scp")) == count
        for job in (1, 2):
            assert ", SLURM job " in (root / "dump" / name / "log" / f"features.{job}.log").read_text()
    assert ", SLURM job " in (exp / "log" / "train.log").read_text()
    # decoding: two SLURM jobs merged, equal to one unsplit decode of the same model
    for job in (1, 2):
        assert "# ended (exit code 0)" in (exp / "decode_test" / "log" / f"decode.{job}.log").read_text()
    merged = exp / "decode_test" / "hyp"
    test_ids = [utt.utt_id for utt in read_speech_dir(root / "data" / "test")]
    assert list(read_kaldi_map(merged, allow_empty_value=True)) == test_ids
    assert main(["--log-level", "WARNING", "decode", "--model", str(exp / "model.pt"), "--data-dir",
                 str(root / "data" / "test"), "--feats", str(root / "dump" / "test" / "feats.scp"), "--config",
                 str(root / "conf" / "tiny_decode.yaml"), "--out", str(tmp_path / "hyp.whole")]) == 0
    assert merged.read_text() == (tmp_path / "hyp.whole").read_text()
    results = (exp / "RESULTS.md").read_text()
    assert "test" in results and "WER" in results.upper()
    assert (exp / "bricks" / "decoder.json").is_file()
