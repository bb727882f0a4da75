"""The fairseq --user-dir plugin: `fairseq-train --criterion anti_focal` runs and its loss goes down.

Needs the fairseq venv (benchmarks/venvs/fairseq, see docs/peers.md); skipped without it."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FAIRSEQ_VENV = ROOT / "benchmarks" / "venvs" / "fairseq"
FAIRSEQ_BIN = FAIRSEQ_VENV / "bin"
SCRIPT = ROOT / "tests" / "fixtures" / "interop" / "run_fairseq_anti_focal.sh"


@pytest.mark.slow
@pytest.mark.skipif(not (FAIRSEQ_VENV / ".ready").is_file(),
                    reason=f"no finished fairseq venv at {FAIRSEQ_VENV} (benchmarks/peers/setup_peers.sh fairseq)")
def test_fairseq_trains_with_the_anti_focal_criterion(tmp_path):
    out = subprocess.run(["bash", str(SCRIPT), str(FAIRSEQ_BIN), str(tmp_path), "14"], capture_output=True,
                         text=True, timeout=900)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "criterion: AntiFocalCriterion" in log
    losses = [float(x) for x in re.findall(r"\| train \| epoch \d+ \| loss ([0-9.]+) \|", log)]  # 7 updates/epoch
    assert len(losses) >= 2 and losses[-1] < losses[0], log[-3000:]
    sys.stdout.write(log[-1500:])
