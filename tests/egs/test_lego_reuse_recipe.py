"""The LegoNN reuse recipe (egs/lego_reuse/lego1) end to end on REAL data built here from Debian
packages (parallel text, espeak-ng speech), with the tiny "smoke" preset: every stage runs — data,
features, tokenizers, seven trainings (the speech systems start from a character CTC encoder, as in the long
preset), two compositions, decoding, scoring — and the table is complete.
Downloads are cached in $LEGOKIT_TEST_DOWNLOADS (default ~/.cache/legokit/downloads)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
RECIPE = ROOT / "egs" / "lego_reuse" / "lego1"


def _copy_recipe(tmp: Path) -> Path:
    recipe = tmp / "lego1"
    recipe.mkdir()
    for item in RECIPE.iterdir():
        if item.name in ("data", "dump", "exp", "downloads", ".lock", ".lock.pid"):
            continue
        target = recipe / item.name
        if item.is_symlink():
            target.symlink_to(item.resolve())
        elif item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy(item, target)
    return recipe


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("apt-get") is None,
                    reason="needs espeak-ng and apt-get (make test installs espeak-ng)")
def test_lego_reuse_recipe_smoke_on_debian_data(tmp_path):
    recipe = _copy_recipe(tmp_path)
    downloads = Path(os.environ.get("LEGOKIT_TEST_DOWNLOADS", Path.home() / ".cache" / "legokit" / "downloads"))
    downloads.mkdir(parents=True, exist_ok=True)
    cmd = ["./run.sh", "--preset", "smoke", "--downloads", str(downloads), "--max_de_en", "3000",
           "--de_en_eval", "100,100", "--asr_train_utts", "120", "--asr_test_utts", "30", "--en_vocab", "300",
           "--src_vocab", "300", "--beam_size", "2", "--asr_char_init", "true"]
    run = subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, timeout=2400)
    assert run.returncode == 0, run.stderr[-4000:]
    table = (recipe / "exp" / "RESULTS.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| Ro-En") or line.startswith("| English")]
    assert len(rows) == 2 and rows[0].startswith("| Ro-En MT (BLEU)") and rows[1].startswith("| English ASR (WER)")
    assert all(" - " not in row for row in rows), table  # every cell scored
    # each row compared by paired bootstrap from the recorded files, or marked not converged (smoke models)
    assert all(row.count(" p=") == 3 or "not converged" in row for row in rows), table
    for brick in ("asr_encoder_char/bricks/encoder.brick", "de_en_lego/bricks/decoder.brick",
                  "ro_en_encoder/bricks/encoder.brick", "asr_encoder/bricks/encoder.brick", "ro_en_zeroshot/model.pt",
                  "asr_finetune/model.pt"):
        assert (recipe / "exp" / brick).is_file(), brick
    again = subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stderr.count("skipping") == 15, again.stderr[-3000:]


def test_char_init_without_its_config_is_refused_naming_the_file(tmp_path):
    """--asr_char_init true with a preset that has no asr_encoder_char.yaml (the demo's) stops before stage 10
    trains anything, with one line naming the missing file."""
    recipe = _copy_recipe(tmp_path)
    run = subprocess.run(["./run.sh", "--preset", "demo", "--asr_char_init", "true", "--stage", "10",
                          "--stop_stage", "10"], cwd=recipe, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "config file conf/demo/asr_encoder_char.yaml named for this stage cannot be read" in run.stderr, run.stderr
    assert not (recipe / "exp" / "asr_encoder_char").exists() and not (recipe / "exp" / "asr_baseline").exists()
