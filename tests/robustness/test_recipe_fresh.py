"""Recipes never throw training away: options that do not change the model (process and thread counts,
launchers, logging) never change a stage's fingerprint, so a killed training stage re-run with `--nproc 2`
resumes; a stage that must start afresh moves its old experiment aside (exp/x -> exp/x.1), never deletes
it, and says so. Recipe options name themselves when their value is wrong."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from egs.test_template import TEMPLATE, _env, _recipe
from robustness.conftest import tiny_overrides

from legokit import recipe
from legokit.train.checkpoint import load_checkpoint

TRAIN = ["legokit", "train", "--out-dir", "exp/x", "optim.lr=1e-3"]
TORCHRUN = ["torchrun", "--standalone", "--nproc_per_node", "2", "-m", "legokit.cli"]


@pytest.mark.parametrize(("before", "after", "variables"), [
    (TRAIN, [*TORCHRUN, *TRAIN[1:]], ()),
    (TRAIN, ["python", "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=4", "--node_rank", "0",
             "--rdzv_endpoint", "host:29500", "--module", "legokit.cli", *TRAIN[1:]], ()),
    (TRAIN, ["python3", "-m", "legokit.cli", "--log-level", "DEBUG", *TRAIN[1:]], ()),
    (["legokit", "features", "--nj", "2", "--out-dir", "d"], ["legokit", "features", "--nj=8", "--out-dir", "d"], ()),
    (["run.sh", "--nproc", "1"], ["run.sh", "--nproc", "4", "--ngpu", "2"], ()),
    (TRAIN, TRAIN, ("OMP_NUM_THREADS=8", "LEGOKIT_NO_TQDM=1", "LEGOKIT_PROGRESS_INTERVAL=5", "nj=16", "nproc=2")),
])
def test_process_counts_launchers_and_logging_never_change_the_fingerprint(before: list[str], after: list[str],
                                                                          variables: tuple[str, ...]):
    old = recipe.stage_options(before, variables=["OMP_NUM_THREADS=1"])
    new = recipe.stage_options(after, variables=list(variables))
    assert new.fingerprint() == old.fingerprint()


@pytest.mark.parametrize("after", [
    [*TORCHRUN, "train", "--out-dir", "exp/x", "optim.lr=2e-3"],
    ["torchrun", "--nproc_per_node", "2", "train.py", "--out-dir", "exp/x"],  # another program
    [*TRAIN, "--nj-extra", "1"],
])
def test_a_real_change_still_changes_the_fingerprint_and_is_described(after: list[str]):
    old, new = recipe.stage_options(TRAIN), recipe.stage_options(after)
    assert new.fingerprint() != old.fingerprint()
    assert "nproc" not in recipe.describe_changes({"command": TRAIN}, new)


def test_unchanged_commands_keep_the_fingerprint_of_older_markers():
    """Commands without neutral options hash exactly as before, so existing done-markers stay valid."""
    options = recipe.stage_options(TRAIN, variables=["lr=1"])
    assert options.counted() == options


RUN_SH = """\
#!/usr/bin/env bash
set -euo pipefail
. ./path.sh
stage=1
stop_stage=100
force=false
nproc=1                 # processes (torchrun when > 1)
epochs=6                # a model option: changing it starts afresh
. utils/parse_options.sh
. utils/stage.sh
recipe_lock
train_cmd=(legokit train)
[ "$nproc" -le 1 ] || train_cmd=(torchrun --standalone --nproc_per_node "$nproc" -m legokit.cli train)
run_stage 1 train --fresh exp/x -- "${train_cmd[@]}" --out-dir exp/x OVERRIDES train.max_epochs="$epochs"
"""


def _train_recipe(root: Path, tokenizers: Path) -> Path:
    overrides = [*tiny_overrides(tokenizers), "train.save_interval_steps=2"]
    return _recipe(root, RUN_SH.replace("OVERRIDES", shlex.join(overrides)))


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["./run.sh", *args], cwd=root, env={**_env(), "LEGOKIT_NO_TQDM": "1",
                                                              "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=900)


def _kill_after_first_checkpoint(root: Path) -> None:
    last = root / "exp/x/checkpoints/checkpoint_last.pt"
    proc = subprocess.Popen(["./run.sh"], cwd=root, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not last.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_killed_training_stage_rerun_with_nproc_2_resumes_and_a_model_change_moves_it_aside(
        toy_tokenizers: Path, tmp_path: Path):
    root = _train_recipe(tmp_path / "rec", toy_tokenizers)
    _kill_after_first_checkpoint(root)
    killed_at = load_checkpoint(root / "exp/x/checkpoints/checkpoint_last.pt")["loop"]["step"]
    assert not (root / "exp/.done/stage1.train.done").exists()

    out = _run(root, "--nproc", "2")  # only the process count changed: resume, keep everything
    assert out.returncode == 0, out.stderr[-3000:]
    assert "starting afresh" not in out.stderr and not (root / "exp/x.1").exists()
    log = (root / "exp/logs/stage1.train.log").read_text()
    assert f"step {killed_at}" in log and "resumed from" in log
    final = load_checkpoint(root / "exp/x/checkpoints/checkpoint_last.pt")
    assert final["world_size"] == 2 and final["loop"]["step"] > killed_at
    assert "done before with the same options, skipping" in _run(root).stderr  # nproc 1 again: still done

    model = (root / "exp/x/model.pt").read_bytes()
    out = _run(root, "--epochs", "1")  # a model option changed: start afresh, the old run moved aside
    assert out.returncode == 0, out.stderr[-3000:]
    assert "options changed: 'train.max_epochs=6' -> 'train.max_epochs=1'" in out.stderr
    assert "starting afresh; moved exp/x to exp/x.1" in out.stderr
    assert (root / "exp/x.1/model.pt").read_bytes() == model  # nothing deleted
    assert load_checkpoint(root / "exp/x.1/checkpoints/checkpoint_last.pt")["loop"]["step"] == final["loop"]["step"]
    assert (root / "exp/x.1/config.yaml").read_text() != (root / "exp/x/config.yaml").read_text()
    assert load_checkpoint(root / "exp/x/checkpoints/checkpoint_last.pt")["loop"]["step"] < final["loop"]["step"]


def test_forced_rerun_moves_to_the_next_free_number(tmp_path: Path):
    stage = RUN_SH.replace('"${train_cmd[@]}" --out-dir exp/x OVERRIDES train.max_epochs="$epochs"',
                           'sh -c "mkdir -p exp/x && date +%s%N > exp/x/run"')
    root = _recipe(tmp_path / "r", stage)
    for _ in range(3):
        assert _run(root, "--force", "true").returncode == 0
    assert sorted(p.name for p in (root / "exp").glob("x*")) == ["x", "x.1", "x.2"]
    assert len({(root / "exp" / name / "run").read_text() for name in ("x", "x.1", "x.2")}) == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--stage", "abc"], "example.sh: --stage: expected an integer, got 'abc'"),
    (["--stop_stage=1.5"], "example.sh: --stop_stage: expected an integer, got '1.5'"),
    (["--stage", "-2"], "example.sh: --stage: expected an integer, got '-2'"),
    (["--lrr", "0.1"], "example.sh: unknown option '--lrr' (did you mean --lr?)"),
    (["--stage"], "example.sh: option --stage needs a value"),
])
def test_example_recipe_options_name_themselves(tmp_path: Path, args: list[str], message: str):
    new = tmp_path / "toy"
    made = subprocess.run([str(TEMPLATE / "setup_recipe.sh"), str(new), "example"], capture_output=True,
                          text=True, env=_env())
    assert made.returncode == 0, made.stderr
    out = subprocess.run(["./run.sh", *args], cwd=new, env=_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stderr.startswith(message), out.stderr
    assert len(out.stderr.splitlines()) == 1 and "unbound variable" not in out.stderr
    assert not (new / "exp").exists() and not (new / ".lock").exists()  # refused before anything ran
