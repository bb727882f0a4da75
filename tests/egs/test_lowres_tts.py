"""End to end: egs/lowres_tts/tts1 with its tiniest configuration (conf/tiny.conf), every stage."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "lowres_tts" / "tts1"


@pytest.mark.slow
@pytest.mark.long
def test_tiny_recipe_runs_every_stage(tmp_path):
    for tool in ("espeak-ng", "apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    pytest.importorskip("speechmos")
    recipe = tmp_path / "tts1"
    shutil.copytree(RECIPE / "conf", recipe / "conf")
    for name in ("run.sh", "tts.sh"):
        shutil.copy2(RECIPE / name, recipe / name)
    for name in ("utils", "path.sh", "db.sh"):
        (recipe / name).symlink_to(ROOT / "egs" / "TEMPLATE" / name)
    cache = RECIPE / "downloads" / "debian"  # festvox-ru is fetched once and reused
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "DEBIAN_DATA": str(cache if cache.is_dir() else tmp_path / "downloads")}
    proc = subprocess.run(["./run.sh", "--config", "conf/tiny.conf"], cwd=recipe, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (recipe / "exp" / "results_table.md").read_text()
    assert table.splitlines()[2].startswith("| kk | ")
    for cond in ("phonemap", "features"):  # each transfer condition vs no transfer: CER and predicted MOS
        assert f"### kk: CER of {cond} (A) vs scratch (B)" in table
        assert f"### kk: predicted MOS of {cond} (A) vs scratch (B)" in table
        assert (recipe / "exp" / f"tts_kk_{cond}" / "mos_vs_scratch.json").is_file()
        assert list((recipe / "exp" / f"tts_kk_{cond}" / "syn" / "plots").glob("*.png"))
    assert "| ovrl_mos |" in table and "| cer |" in table
    for cond in ("scratch", "phonemap", "features"):
        assert "kk_test" in (recipe / "exp" / f"tts_kk_{cond}" / "RESULTS.md").read_text()
    assert (recipe / "exp" / "phone_map_kk_ru.tsv").read_text().startswith("target\tsource\tdistance")
