"""The real-corpus recipes' data stages on fixtures in each corpus's released layout (db.sh variables
point at tests/fixtures/corpora), and one WMT16 recipe end to end with a tiny model.

Each test copies the recipe (and the recipes it calls) into tmp_path next to a link to egs/TEMPLATE,
so the recipe's relative symlinks resolve and its data/, dump/ and exp/ stay out of the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from legokit.data.datadir import read_kaldi_map, read_speech_dir, read_text_dir
from legokit.data.featdump import FeatureReader

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "corpora"


def _recipe(tmp_path: Path, *recipes: str) -> Path:
    """Copy egs/<recipe> dirs (first one is returned) beside a link to egs/TEMPLATE."""
    egs = tmp_path / "egs"
    egs.mkdir(exist_ok=True)
    if not (egs / "TEMPLATE").exists():
        (egs / "TEMPLATE").symlink_to(ROOT / "egs" / "TEMPLATE")
    for recipe in dict.fromkeys(recipes):
        src = ROOT / "egs" / recipe
        shutil.copytree(src, egs / recipe, symlinks=True,
                        ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads", ".lock*"))
    return egs / recipes[0]


def _env(**corpora: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LEGOKIT_LOCK"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = sys.prefix
    env.update({k: str(v) for k, v in corpora.items()})
    return env


def _run(recipe: Path, env: dict[str, str], *args: str, script: str = "./run.sh") -> str:
    proc = subprocess.run([script, *args], cwd=recipe, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    # egs/TEMPLATE's staged scripts end with `cat $exp/RESULTS.md`, which fails when stopped before scoring
    stopped_early = "RESULTS.md: No such file" in proc.stderr and "FAILED" not in out
    assert proc.returncode == 0 or stopped_early, f"{script} {' '.join(args)} failed:\n{out[-4000:]}"
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("recipe", "src", "valid"), [("wmt16_de_en/mt1", "de", "newstest2015"),
                                                     ("wmt16_ro_en/mt1", "ro", "newsdev2016")])
def test_wmt16_data_stage(tmp_path: Path, recipe: str, src: str, valid: str) -> None:
    root = _recipe(tmp_path, recipe, "wmt16_de_en/mt1")
    _run(root, _env(WMT16=FIXTURES / "wmt16"), "--stop_stage", "1")
    test = read_text_dir(root / "data" / "test", [src, "en"])
    assert test[0].sentences["en"] == "Obama receives Netanyahu"
    assert read_text_dir(root / "data" / "valid", [src, "en"])[0].utt_id.startswith(valid)
    assert len(read_text_dir(root / "data" / "train", [src, "en"])) > 5


@pytest.mark.slow
def test_europarl_st_data_stage(tmp_path: Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg converts Europarl-ST's m4a audio (tools/install_system_deps.sh)")
    root = _recipe(tmp_path, "europarl_st/asr1")
    _run(root, _env(EUROPARL_ST=FIXTURES / "europarl_st"), "--stop_stage", "1")
    utts = {name: read_speech_dir(root / "data" / name) for name in ("train", "valid", "test")}
    assert [len(u) for u in utts.values()] == [6, 2, 2]
    assert all(Path(u.path).suffix == ".flac" and Path(u.path).is_relative_to(root) for u in utts["train"])


@pytest.mark.slow
def test_how2_data_stage_feeds_the_summarisation_template(tmp_path: Path) -> None:
    root = _recipe(tmp_path, "how2/sum1")
    out = _run(root, _env(HOW2=FIXTURES / "how2"), "--stop_stage", "3", "--vocab", "30", "--bpe_type", "char")
    assert "stage 2" not in out  # the dumps come from the release: no fbank from wav.scp
    for name in ("train", "valid", "test", "asr_train", "asr_valid"):
        texts = read_kaldi_map(root / "data" / name / "text")
        assert set(FeatureReader(root / "dump" / name / "feats.scp").index) == set(texts)
    assert read_kaldi_map(root / "data" / "train" / "transcript").keys() == \
        read_kaldi_map(root / "data" / "train" / "text").keys()
    assert (root / "data" / "tokenizers" / "sum.model").is_file()


TINY_MT = """\
model:
  encoder:
    input: text
    encoder: {kind: transformer, num_layers: 1, dim: 32, num_heads: 2, ffn_dim: 64, dropout: 0.0}
    length_rate: 2.0
    olc_layers: 1
  decoder:
    dim: 32
    num_layers: 1
    num_heads: 2
    ffn_dim: 64
    dropout: 0.0
    ingestor: {kind: wemb, num_layers: 1, num_heads: 2, ffn_dim: 64, dropout: 0.0}
loss: {ctc_weight: 1.0, decoder: {name: ce, label_smoothing: 0.1}}
data: {max_tokens: 4000}
optim: {optimizer: adam, lr: 1.0e-3, scheduler: constant, warmup_steps: 0}
train: {max_epochs: 1, max_steps: 1, log_interval: 1, keep_best: 1, keep_last_checkpoints: 1, num_threads: 1}
average_best: 1
"""


@pytest.mark.long
@pytest.mark.slow
def test_wmt16_de_en_recipe_end_to_end_on_the_fixture(tmp_path: Path) -> None:
    """data -> tokenizers -> train (1 step) -> decode -> score: RESULTS.md names newstest2016 with BLEU."""
    root = _recipe(tmp_path, "wmt16_de_en/mt1")
    (root / "conf" / "tiny.yaml").write_text(TINY_MT)
    (root / "conf" / "tiny_decode.yaml").write_text("beam: {beam_size: 2, max_len_ratio: 1.0}\nnum_threads: 1\n")
    _run(root, _env(WMT16=FIXTURES / "wmt16"), "--stop_stage", "5", "--src_vocab", "40", "--tgt_vocab",
         "40", "--bpe_type", "char", "--train_config", "conf/tiny.yaml", "--decode_config", "conf/tiny_decode.yaml")
    hyp = read_kaldi_map(root / "exp" / "tiny" / "decode_test" / "hyp", allow_empty_value=True)
    assert set(hyp) == {f"newstest2016-{i:05d}" for i in (1, 2, 3)}
    results = (root / "exp" / "tiny" / "RESULTS.md").read_text()
    assert "test" in results and "BLEU" in results.upper()


@pytest.mark.slow
def test_lego_reuse_paper_data_stages(tmp_path: Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg converts Europarl-ST's m4a audio (tools/install_system_deps.sh)")
    root = _recipe(tmp_path, "lego_reuse_paper/lego1")
    _run(root, _env(WMT16=FIXTURES / "wmt16", EUROPARL_ST=FIXTURES / "europarl_st"), "--stop_stage", "3")
    assert len(read_text_dir(root / "data" / "de_en" / "test", ["de", "en"])) == 3
    assert len(read_text_dir(root / "data" / "ro_en" / "test", ["ro", "en"])) == 2
    assert len(read_speech_dir(root / "data" / "en_speech" / "test")) == 2


@pytest.mark.slow
def test_lego_three_brick_stages_up_to_tokenizers(tmp_path: Path) -> None:
    """Data of the three corpora, fbank of Europarl-ST and the two interface vocabularies (A and B)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg converts Europarl-ST's m4a audio (tools/install_system_deps.sh)")
    root = _recipe(tmp_path, "lego_three_brick/asr1", "lego_reuse_paper/lego1")
    _run(root, _env(WMT16=FIXTURES / "wmt16", EUROPARL_ST=FIXTURES / "europarl_st"), "--stop_stage", "5",
         "--nj", "1", "--pieces_vocab", "30", "--en_vocab", "40", "--src_vocab", "40", "--bpe_type", "char")
    reader = FeatureReader(root / "dump" / "en_speech" / "train" / "feats.scp")
    assert len(reader) == 6 and reader.dim == 80
    assert {p.name for p in (root / "data" / "tokenizers").glob("*.model")} == {"pieces.model", "en.model",
                                                                                  "de.model"}
