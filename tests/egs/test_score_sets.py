"""utils/common.sh `score_sets` (every recipe's scoring stage; recipes link utils to egs/TEMPLATE/utils) scores
per speaker when the test set's data dir has an utt2spk, and as before when it has none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "egs" / "TEMPLATE"

RECIPE_SH = """\
#!/usr/bin/env bash
. utils/common.sh
test_sets="withspk nospk"
exp=exp/x
metrics=wer
score_sets text
"""


def test_score_sets_passes_utt2spk_when_the_data_dir_has_one(tmp_path: Path) -> None:
    for link in ("utils", "path.sh", "db.sh"):
        (tmp_path / link).symlink_to(TEMPLATE / link)
    (tmp_path / "run.sh").write_text(RECIPE_SH)
    (tmp_path / "run.sh").chmod(0o755)
    for test_set in ("withspk", "nospk"):
        (tmp_path / "data" / test_set).mkdir(parents=True)
        (tmp_path / "data" / test_set / "text").write_text("u1 a b c\nu2 d e\n")
        (tmp_path / "exp" / "x" / f"decode_{test_set}").mkdir(parents=True)
        (tmp_path / "exp" / "x" / f"decode_{test_set}" / "hyp").write_text("u1 a b x\nu2 d e\n")
    (tmp_path / "data" / "withspk" / "utt2spk").write_text("u1 s1\nu2 s2\n")
    env = {k: v for k, v in os.environ.items() if k != "LEGOKIT_LOCK"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = sys.prefix
    proc = subprocess.run(["./run.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    sets = json.loads((tmp_path / "exp" / "x" / "results.json").read_text())["sets"]
    assert sets["withspk"]["files"]["utt2spk"] == "data/withspk/utt2spk"
    assert sets["withspk"]["speakers"] == {"s1": {"utts": 1, "words": 3, "word_errors": 1, "wer": 100 / 3},
                                           "s2": {"utts": 1, "words": 2, "word_errors": 0, "wer": 0.0}}
    assert "speakers" not in sets["nospk"] and "utt2spk" not in sets["nospk"]["files"]
    assert "### withspk: per speaker" in (tmp_path / "exp" / "x" / "RESULTS.md").read_text()
