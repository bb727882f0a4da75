"""egs/espeak_en/asr1 end to end, tiny: its run.sh with its own configs (conf/train_ctc_char.yaml shrunk by dotted
overrides, conf/decode_lm.yaml as is) on the committed English text of tests/fixtures/lego instead of the Debian
De-En text (local/data.sh --text_dir, no download), a handful of espeak-ng and Festival utterances per set, and
test_reverb (data/test through a synthetic room; test_noisy needs a download, left out by --noise false):
data -> features -> char tokenizer -> a few updates -> CTC prefix beam search with the word 3-gram LM -> WER/CER in
RESULTS.md -> brick manifest. The recipe is copied into tmp_path (its data/, dump/, exp/ stay untouched).
About 30 s on 2 idle cores (50 s with the cores shared), stage 1 (synthesis) and 2 (features) the bulk of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from legokit.data.datadir import read_kaldi_map

ROOT = Path(__file__).resolve().parents[2]
RECIPE = "espeak_en/asr1"
TEXT = ROOT / "tests" / "fixtures" / "lego"  # MT-style dir: train/valid/test text.en (written by its make_fixture.py)
TEST_SETS = ("test", "test_variants", "test_festival", "test_reverb")
DATA_ARGS = (f"--text_dir {TEXT} --max_train 12 --festival_train 4 --max_eval 2 --noise false --nj 2 "
             "--vocoded_festival true --lm_text train")
TINY = ("model.encoder.subsampling_channels=4 model.encoder.encoder.num_layers=1 model.encoder.encoder.dim=16 "
        "model.encoder.encoder.num_heads=2 model.encoder.encoder.ffn_dim=32 model.encoder.encoder.kernel_size=3 "
        "data.max_batch_size=4 train.max_epochs=1 train.max_steps=4 train.valid_interval=2 "
        "train.save_interval_steps=2 train.log_interval=1 optim.warmup_steps=2")  # 4 updates of 4 utterances (the
# cosine schedule needs more updates than warm-up ones), 2 checkpoints averaged


def _festival_ready() -> bool:
    if shutil.which("text2wave") is None:
        return False
    from legokit.corpora.festival import FestivalConfig, installed_voices

    cfg = FestivalConfig()
    return set(cfg.voices + cfg.test_voices) <= set(installed_voices())


def _recipe(tmp_path: Path) -> Path:
    """The recipe copied beside a link to egs/TEMPLATE (its relative links resolve), without its outputs."""
    egs = tmp_path / "egs"
    egs.mkdir()
    (egs / "TEMPLATE").symlink_to(ROOT / "egs" / "TEMPLATE")
    shutil.copytree(ROOT / "egs" / RECIPE, egs / RECIPE, symlinks=True,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads", ".lock*"))
    return egs / RECIPE


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None or not _festival_ready(),
                    reason="needs espeak-ng and Festival with its English voices (tools/install_system_deps.sh)")
def test_espeak_asr_recipe_runs_every_stage_on_the_fixture_text(tmp_path: Path) -> None:
    root = _recipe(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "LEGOKIT_LOCK"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = sys.prefix
    proc = subprocess.run(["./run.sh", "--data_args", DATA_ARGS, "--train_args", TINY, "--nj", "1"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]

    # stage 1: the test sets, each voiced only by its held-out voices; the LM of the fixture's train text
    speakers = {name: set(read_kaldi_map(root / "data" / name / "utt2spk").values()) for name in TEST_SETS}
    assert speakers["test_reverb"] == speakers["test"]
    assert speakers["test_festival"] == {"cmu_us_slt_arctic_hts"}, speakers
    assert speakers["test"] <= {"en-gb-x-gbcwmd+f4", "en-gb-x-gbclan+m7"}, speakers
    assert speakers["test_variants"] <= {"en-us+m6", "en-gb+f4", "en-gb-scotland+m5", "en-029+m7", "en-gb-x-rp+f3"}
    train_spk = read_kaldi_map(root / "data" / "train" / "utt2spk")
    assert len(train_spk) == 12 + 4 + 4  # espeak-ng, Festival, its vocoded copy (--vocoded_festival true)
    vocoded = {u: s for u, s in train_spk.items() if u.startswith("voc-")}
    assert len(vocoded) == 4 and all(s.startswith("voc-") and s.endswith("_diphone") for s in vocoded.values())
    assert {u.removeprefix("voc-") for u in vocoded} <= set(train_spk)
    arpa = (root / "data" / "lm" / "3gram.arpa").read_text()
    assert arpa.startswith("\\data\\\nngram 1=") and arpa.rstrip().endswith("\\end\\"), arpa[:200]
    counts = dict(line.removeprefix("ngram ").split("=") for line in arpa.split("\n\n")[0].splitlines()[1:])
    sections = {int(part[0]): part.split("\n\n")[0].splitlines()[1:] for part in arpa.split("\n\\")[1:-1]}
    assert set(counts) == {"1", "2", "3"} and all(len(sections[int(n)]) == int(c) for n, c in counts.items())
    words = {line.split("\t")[1] for line in sections[1]}
    assert {"the", "apple", "<s>", "</s>"} <= words and "." not in words  # the fixture's words, scoring form
    assert not (root / "data" / "noise").exists() and not (root / "data" / "noise_test").exists()
    assert not (root / "data" / "test_noisy").exists()
    reverb = read_kaldi_map(root / "data" / "test_reverb" / "wav.scp")  # every utterance of test, its own audio
    assert set(reverb) == set(read_kaldi_map(root / "data" / "test" / "wav.scp"))
    assert all(Path(p).parent == (root / "data" / "test_reverb" / "wav").resolve() for p in reverb.values())
    assert (root / "data" / "test_reverb" / "text").read_bytes() == (root / "data" / "test" / "text").read_bytes()

    exp = root / "exp" / "train_ctc_char"
    results = (exp / "RESULTS.md").read_text()
    scores = results.split("## Scores", 1)[1].split("\n\n")[1].splitlines()
    assert scores[0] == "| test set | WER | CER |", results
    rows = {line.split("|")[1].strip(): line for line in scores[2:]}
    assert set(rows) == set(TEST_SETS), results
    for name in TEST_SETS:
        wer, cer = (float(cell) for cell in rows[name].strip(" |").split("|")[1:3])
        assert wer >= 0 and cer >= 0, rows[name]
        ref = read_kaldi_map(root / "data" / name / "text")
        hyp = read_kaldi_map(exp / f"decode_{name}" / "hyp", allow_empty_value=True)
        assert len(ref) >= 2 and set(hyp) == set(ref), (name, sorted(hyp), sorted(ref))
    decode_log = (exp / "logs" / "stage5.decode.log").read_text()
    assert decode_log.count("ctc_lm: loaded data/lm/3gram.arpa") == len(TEST_SETS), decode_log  # conf/decode_lm.yaml
    brick = json.loads((exp / "bricks" / "encoder.json").read_text())  # stage 7: the encoder brick's manifest
    assert brick["kind"] == "encoder" and brick["output_interface"]["type"] == "vocabulary", brick
    assert brick["training"]["steps"] == 4 and len(brick["training"]["averaged"]) == 2, brick["training"]

    # another test_sets re-runs decoding and scoring only: the model stays, the test features are reused
    model_stamp = (exp / "model.pt").stat().st_mtime_ns
    again = subprocess.run(["./run.sh", "--data_args", DATA_ARGS, "--train_args", TINY, "--nj", "1",
                            "--test_sets", "test"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    for stage in ("1 (data)", "2 (features)", "3 (tokenizer)", "4 (train)"):
        assert f"stage {stage}: done before with the same options, skipping" in again.stderr, again.stderr[-3000:]
    assert "stage 5: decode (" in again.stderr and (exp / "model.pt").stat().st_mtime_ns == model_stamp
    assert "dump/test is newer than data/test: kept" in (exp / "logs" / "stage5.decode.log").read_text()
