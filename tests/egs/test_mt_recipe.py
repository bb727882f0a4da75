"""The MT recipe machinery end to end (egs/TEMPLATE/mt1/mt.sh) on the toy fixture: data, tokenizers,
train, decode, score, bricks; a re-run skips every stage; a changed option re-runs from training."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "lego"
TINY = ("model.encoder.encoder.num_layers=1 model.encoder.encoder.dim=32 model.encoder.encoder.ffn_dim=64 "
        "model.decoder.num_layers=1 model.decoder.dim=32 model.decoder.ffn_dim=64 "
        "model.decoder.ingestor.num_layers=1 model.decoder.ingestor.ffn_dim=64 train.max_epochs=2 "
        "data.max_tokens=2000")


def _recipe(tmp: Path) -> Path:
    recipe = tmp / "egs" / "toy" / "mt1"
    subprocess.run([ROOT / "egs" / "TEMPLATE" / "setup_recipe.sh", recipe, "mt1"], check=True, capture_output=True)
    # setup_recipe links relative to the template: make the links absolute for this temporary dir
    for name in ("utils", "path.sh", "db.sh", "mt.sh"):
        (recipe / name).unlink()
        target = ROOT / "egs" / "TEMPLATE" / ("mt1/mt.sh" if name == "mt.sh" else name)
        (recipe / name).symlink_to(target)
    (recipe / "local" / "data.sh").write_text(f"#!/usr/bin/env bash\nset -e\nmkdir -p data\n"
                                              f"cp -r {FIXTURE}/train {FIXTURE}/valid {FIXTURE}/test data/\n")
    (recipe / "local" / "data.sh").chmod(0o755)
    shutil.copy(ROOT / "egs" / "debian_de_en" / "mt1" / "conf" / "train.yaml", recipe / "conf" / "train.yaml")
    shutil.copy(ROOT / "egs" / "debian_de_en" / "mt1" / "conf" / "decode.yaml", recipe / "conf" / "decode.yaml")
    return recipe


def _run(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = ["./mt.sh", "--src_lang", "de", "--tgt_lang", "en", "--src_vocab", "31", "--tgt_vocab", "29",
           "--bpe_type", "word", "--train_args", TINY, *args]
    return subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, timeout=900)


@pytest.mark.long
@pytest.mark.slow
def test_mt_recipe_runs_end_to_end_and_skips_when_rerun(tmp_path):
    recipe = _recipe(tmp_path)
    first = _run(recipe)
    assert first.returncode == 0, first.stderr[-3000:]
    results = (recipe / "exp" / "train" / "RESULTS.md").read_text()
    assert "BLEU" in results and "chrF" in results
    assert (recipe / "exp" / "train" / "bricks" / "decoder.json").is_file()
    again = _run(recipe)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("done before with the same options, skipping") == 6, again.stderr[-2000:]
    changed = _run(recipe, "--stage", "3", "--train_args", TINY.replace("max_epochs=2", "max_epochs=1"))
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert changed.stderr.count("skipping") == 0, changed.stderr[-2000:]  # train and what follows re-run
    assert "max_epochs=1" in changed.stderr, changed.stderr[-2000:]  # the log names the changed option
