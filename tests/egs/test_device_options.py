"""Every recipe takes --ngpu and --device (utils/common.sh) and every decode in a recipe runs on that device:
--ngpu N > 0 trains with torchrun --nproc_per_node N (built by `legokit queue`, shown by its --dry-run) and decodes
on cuda; --device overrides the decoding device."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EGS = Path(__file__).resolve().parents[2] / "egs"
TEMPLATE = EGS / "TEMPLATE"
SCRIPTS = sorted(p for p in EGS.glob("*/*/*.sh") if not p.is_symlink())
DECODE = re.compile(r"^ *legokit decode(?:[^\n]*\\\n)*[^\n]*", re.M)  # a command with its continuation lines

#: a recipe with the shared preamble; `legokit` is a shell function that records its arguments
RECIPE_SH = """\
#!/usr/bin/env bash
. utils/common.sh
test_sets="a b"
exp=exp/x
decode_config=conf/decode.yaml
nproc=1                      # processes for training
help_message="Usage: $0 [options]"
. utils/parse_options.sh
recipe_start
legokit() { echo "legokit $*" >>calls.txt; }
dry_run=true queue train exp/x/log/train.log -- legokit train --out-dir exp/x
decode_sets --src-lang de
decode_systems s1 -- --data-dir data/t
"""


def _recipe(tmp_path: Path) -> Path:
    for link in ("utils", "path.sh", "db.sh"):
        (tmp_path / link).symlink_to(TEMPLATE / link)
    (tmp_path / "run.sh").write_text(RECIPE_SH)
    (tmp_path / "run.sh").chmod(0o755)
    return tmp_path


def _run(root: Path, *args: str) -> tuple[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "LEGOKIT_LOCK"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = sys.prefix
    proc = subprocess.run(["./run.sh", *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    calls = (root / "calls.txt").read_text().splitlines()
    (root / "calls.txt").unlink()
    return proc.stdout.strip(), calls


TORCHRUN = f"{sys.executable} -m torch.distributed.run --standalone --nproc_per_node"


@pytest.mark.parametrize(("args", "train_cmd", "device"), [
    ((), "legokit train", "cpu"),
    (("--ngpu", "4"), f"{TORCHRUN} 4 -m legokit.cli train", "cuda"),
    (("--ngpu", "1"), "legokit train", "cuda"),
    (("--ngpu", "2", "--device", "cuda:1"), f"{TORCHRUN} 2 -m legokit.cli train", "cuda:1"),
    (("--device", "auto"), "legokit train", "auto"),
    (("--nproc", "3"), f"{TORCHRUN} 3 -m legokit.cli train", "cpu"),
])
def test_ngpu_and_device_reach_training_and_every_decode(tmp_path: Path, args: tuple[str, ...], train_cmd: str,
                                                         device: str) -> None:
    out, calls = _run(_recipe(tmp_path), *args)
    assert out == f"JOB=1: {train_cmd} --out-dir exp/x > exp/x/log/train.log"
    assert len(calls) == 3 and all(call.startswith("legokit decode ") for call in calls), calls
    for call in calls:
        assert re.search(rf"--device {re.escape(device)}( |$)", call), call


def test_help_lists_ngpu_and_device(tmp_path: Path) -> None:
    root = _recipe(tmp_path)
    out = subprocess.run(["./run.sh", "--help"], cwd=root, capture_output=True, text=True, timeout=60).stdout
    options = {line.split()[0]: line for line in out.splitlines() if line.startswith("  --")}
    assert "--ngpu" in options and "--device" in options, out


def test_the_decode_scan_sees_the_recipes_decodes() -> None:
    # common.sh's decode_data 2 (one job / nj jobs: every recipe decodes through it), tts.sh 1
    assert sum(len(DECODE.findall(p.read_text())) for p in SCRIPTS) >= 3


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(EGS)))
def test_every_decode_in_a_recipe_passes_the_device(script: Path) -> None:
    """Each `legokit decode` a recipe script runs names --device; such a script has the shared options."""
    text = script.read_text()
    commands = DECODE.findall(text)
    for command in commands:
        assert '--device "$decode_device"' in command, f"{script}: {command}"
    if commands and script.name != "common.sh":
        assert ". utils/common.sh" in text, f"{script} decodes without the shared options of utils/common.sh"
