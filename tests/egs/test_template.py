"""Shell-level tests of egs/TEMPLATE: option parsing, stage runner, done-markers, logs, locks.

Each test builds a recipe directory in tmp_path (symlinks to the template, as setup_recipe.sh makes)
and runs bash on it with the test's Python environment first on PATH.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "egs" / "TEMPLATE"

OPTS_SH = """\
#!/usr/bin/env bash
set -euo pipefail
lr=0.1                # learning rate
use_gpu=false         # a boolean option
train_config=conf/a.yaml
help_message="Usage: opts.sh [options] ARGS"
. utils/parse_options.sh
echo "lr=$lr use_gpu=$use_gpu train_config=$train_config rest=$*"
"""

# Stage commands are a shell function driven by files in the recipe dir: failN makes stage N fail
# after 100 lines of noise, sleepN makes it hang (after touching startedN); ran.txt records runs.
RUN_SH = """\
#!/usr/bin/env bash
set -euo pipefail
. ./path.sh
stage=1
stop_stage=100
force=false
lr=0.1
help_message="Usage: run.sh [options]"
. utils/parse_options.sh
. utils/stage.sh
recipe_lock

work() {
    echo "running stage $1"
    echo "$1" >>ran.txt
    if [ -e "fail$1" ]; then
        for i in $(seq 100); do echo "noise $i"; done
        echo "REAL ERROR in stage $1" >&2
        return 3
    fi
    if [ -e "sleep$1" ]; then touch "started$1"; sleep 60; fi
}
run_stage 1 first -- work 1
run_stage 2 second -- work 2 --lr "$lr"
run_stage 3 third -- work 3
log "finished"
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LEGOKIT_LOCK"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = sys.prefix  # path.sh keeps this environment
    return env


def _recipe(root: Path, script: str, name: str = "run.sh") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for link in ("utils", "path.sh", "db.sh"):
        (root / link).symlink_to(TEMPLATE / link)
    (root / name).write_text(script)
    (root / name).chmod(0o755)
    return root


def _run(root: Path, *args: str, script: str = "run.sh", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([f"./{script}", *args], cwd=root, env=env or _env(), capture_output=True,
                          text=True, timeout=120)


def _ran(root: Path) -> list[str]:
    path = root / "ran.txt"
    runs = path.read_text().split() if path.exists() else []
    path.unlink(missing_ok=True)
    return runs


def _start(root: Path, env: dict | None = None) -> subprocess.Popen:
    """Start run.sh in its own process group and wait until a sleeping stage has started."""
    proc = subprocess.Popen(["./run.sh"], cwd=root, env=env or _env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not list(root.glob("started*")):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


@pytest.fixture
def opts(tmp_path: Path) -> Path:
    return _recipe(tmp_path, OPTS_SH, "opts.sh")


@pytest.fixture
def rec(tmp_path: Path) -> Path:
    return _recipe(tmp_path / "rec", RUN_SH)


# ------------------------------------------------------------------------------------- parse_options

def test_options_set_variables(opts: Path):
    out = _run(opts, "--lr", "0.5", "--use-gpu", "true", "--train_config=conf/b.yaml", "x", "--y",
               script="opts.sh")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "lr=0.5 use_gpu=true train_config=conf/b.yaml rest=x --y\n"
    out = _run(opts, "--", "--lr", script="opts.sh")
    assert out.stdout == "lr=0.1 use_gpu=false train_config=conf/a.yaml rest=--lr\n"


def test_config_file_is_overridden_by_command_line(opts: Path):
    (opts / "my.conf").write_text("lr=0.3\nuse_gpu=true\n")
    out = _run(opts, "--config", "my.conf", "--lr", "0.4", script="opts.sh")
    assert out.stdout == "lr=0.4 use_gpu=true train_config=conf/a.yaml rest=\n"
    out = _run(opts, "--config", "missing.conf", script="opts.sh")
    assert out.returncode == 1 and "cannot read config file 'missing.conf'" in out.stderr


def test_unknown_option_lists_valid_ones(opts: Path):
    out = _run(opts, "--lrr", "1", script="opts.sh")
    assert out.returncode == 1 and out.stdout == ""
    assert ("opts.sh: unknown option '--lrr' (did you mean --lr?). Valid options: --lr --train_config --use_gpu"
            in out.stderr)
    assert _run(opts, "--path", "x", script="opts.sh").returncode == 1  # environment variables are not options


def test_bad_values_are_refused(opts: Path):
    out = _run(opts, "--use_gpu", "yes", script="opts.sh")
    assert out.returncode == 1 and "--use_gpu expects true or false, got 'yes'" in out.stderr
    out = _run(opts, "--lr", script="opts.sh")
    assert out.returncode == 1 and "option --lr needs a value" in out.stderr


def test_help_shows_every_option_with_default_and_comment(opts: Path):
    out = _run(opts, "--lr", "0.2", "--help", script="opts.sh")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0] == "Usage: opts.sh [options] ARGS"
    assert [line.split()[:2] for line in lines[2:]] == [["--lr", "0.2"], ["--use_gpu", "false"],
                                                        ["--train_config", "conf/a.yaml"]]
    assert lines[2].endswith("learning rate")


# -------------------------------------------------------------------------------------- stage runner

def test_rerun_with_same_options_skips(rec: Path):
    first = _run(rec)
    assert first.returncode == 0, first.stderr
    assert _ran(rec) == ["1", "2", "3"]
    marker = json.loads((rec / "exp/.done/stage2.second.done").read_text())
    assert marker["options"]["command"] == ["work", "2", "--lr", "0.1"]
    assert set(marker["options"]["functions"]) == {"work"}
    assert "running stage 2" in (rec / "exp/logs/stage2.second.log").read_text()
    assert "(run.sh:24:stage 2) stage 2: second (not done yet)" in first.stderr  # file:line:stage
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d \(run\.sh:26:main\) finished$", first.stderr, re.M)

    again = _run(rec)
    assert again.returncode == 0 and _ran(rec) == []
    assert "stage 2 (second): done before with the same options, skipping" in again.stderr
    assert _run(rec, "--force", "true", "--stage", "3").returncode == 0 and _ran(rec) == ["3"]


def test_changed_option_reruns_stage_and_later_stages(rec: Path):
    _run(rec)
    _ran(rec)
    out = _run(rec, "--lr", "0.2")
    assert out.returncode == 0 and _ran(rec) == ["2", "3"]
    assert "options changed: '--lr 0.1' -> '--lr 0.2'" in out.stderr
    assert "earlier stages re-ran since: stage2.second" in out.stderr


def test_stage_in_another_expdir_reruns_when_an_earlier_stage_reran(rec: Path):
    # asr.sh/mt.sh keep the data stages' markers in exp/.done and an experiment's in exp/TAG/.done
    (rec / "run.sh").write_text(RUN_SH.replace('run_stage 2 second -- work 2 --lr "$lr"',
                                               'run_stage 2 second -- work 2 --lr "$lr"\nexpdir=exp/tag'))
    assert _run(rec).returncode == 0 and _ran(rec) == ["1", "2", "3"]
    assert (rec / "exp/tag/.done/stage3.third.done").is_file()
    assert _run(rec).returncode == 0 and _ran(rec) == []
    assert _run(rec, "--lr", "0.2", "--stop_stage", "2").returncode == 0 and _ran(rec) == ["2"]
    out = _run(rec, "--lr", "0.2", "--stage", "3")  # stage 2 re-ran in an earlier invocation
    assert out.returncode == 0 and _ran(rec) == ["3"]
    assert "earlier stages re-ran since: exp/.done/stage2.second" in out.stderr
    assert _run(rec, "--lr", "0.2").returncode == 0 and _ran(rec) == []


def test_edited_stage_function_reruns(rec: Path):
    _run(rec)
    _ran(rec)
    (rec / "run.sh").write_text(RUN_SH.replace('echo "running stage $1"', 'echo "stage $1 runs"'))
    out = _run(rec, "--stop_stage", "1")
    assert _ran(rec) == ["1"] and "function work changed" in out.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["--stage", "2", "--stop_stage", "2"], ["2"]),
    (["--stage", "2"], ["2", "3"]),
    (["--stop_stage", "1"], ["1"]),
    (["--stage", "4"], []),
])
def test_stage_ranges(rec: Path, args: list[str], expected: list[str]):
    assert _run(rec, *args).returncode == 0
    assert _ran(rec) == expected


def test_failing_stage_prints_log_tail_and_writes_no_marker(rec: Path):
    (rec / "fail2").touch()
    out = _run(rec)
    assert out.returncode == 3 and _ran(rec) == ["1", "2"]
    assert not (rec / "exp/.done/stage2.second.done").exists()
    report = out.stderr[out.stderr.index("FAILED with exit status 3"):]
    assert "Last 30 lines of exp/logs/stage2.second.log" in report
    assert "    | REAL ERROR in stage 2" in report
    assert "    | noise 100" in report and "    | noise 60\n" not in report
    assert "full log: exp/logs/stage2.second.log" in report

    (rec / "fail2").unlink()
    out = _run(rec)
    assert out.returncode == 0 and _ran(rec) == ["2", "3"]
    assert "no done-marker: the last attempt failed or was interrupted" in out.stderr


def test_killed_stage_has_no_marker_and_is_redone(rec: Path):
    (rec / "sleep2").touch()
    proc = _start(rec)
    _kill(proc)
    assert not (rec / "exp/.done/stage2.second.done").exists()
    (rec / "sleep2").unlink()
    _ran(rec)
    out = _run(rec)  # the killed run's lock went with it
    assert out.returncode == 0, out.stderr
    assert _ran(rec) == ["2", "3"] and (rec / "exp/.done/stage2.second.done").exists()


@pytest.mark.parametrize("method", ["flock", "pidfile"])
def test_concurrent_run_is_refused(rec: Path, method: str):
    env = {**_env(), "LEGOKIT_LOCK": method}
    (rec / "sleep1").touch()
    proc = _start(rec, env)
    try:
        out = _run(rec, env=env)
        assert out.returncode != 0 and _ran(rec) == ["1"]
        assert f"is in use: pid {proc.pid} " in out.stderr
        assert f"kill -- -{proc.pid}" in out.stderr  # run.sh leads its process group here
    finally:
        _kill(proc)
    (rec / "sleep1").unlink()
    out = _run(rec, env=env)  # a SIGKILLed holder does not block the next run
    assert out.returncode == 0, out.stderr
    if method == "pidfile":
        assert "removing stale lock" in out.stderr
        assert not (rec / ".lock.pid").exists()  # released at exit


def test_run_stage_usage_errors(tmp_path: Path):
    rec = _recipe(tmp_path, RUN_SH.replace("run_stage 1 first -- work 1", "run_stage 1 first work 1"))
    out = _run(rec)
    assert out.returncode == 1 and "run_stage: unknown option 'work'" in out.stderr
    rec = _recipe(tmp_path / "b", RUN_SH.replace("run_stage 1 first -- work 1",
                                                  "run_stage 1 first --config nope.yaml -- work 1"))
    out = _run(rec)
    assert out.returncode == 2 and "config file nope.yaml" in out.stderr
    rec = _recipe(tmp_path / "c", RUN_SH.replace("run_stage 1 first -- work 1", "run_stage 1 'my stage' -- work 1"))
    out = _run(rec)
    assert out.returncode == 1 and "expected a stage number and a name" in out.stderr


def test_broken_python_stops_the_run_instead_of_running_stages(tmp_path: Path):
    rec = _recipe(tmp_path, RUN_SH.replace(". ./path.sh\n", "").replace("recipe_lock\n", ""))
    fake = tmp_path / "bin" / "python3"  # crashes like a python without legokit (exit status 1)
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'No module named legokit' >&2; exit 1\n")
    fake.chmod(0o755)
    out = _run(rec, env={**_env(), "PATH": f"{fake.parent}:/usr/bin:/bin"})
    assert out.returncode == 1 and _ran(rec) == []
    assert "No module named legokit" in out.stderr


# ------------------------------------------------------------------------------ example recipe

@pytest.mark.slow
def test_example_recipe_via_setup_recipe(tmp_path: Path):
    new = tmp_path / "egs" / "toy" / "mt1"
    made = subprocess.run([str(TEMPLATE / "setup_recipe.sh"), str(new), "example"], capture_output=True,
                          text=True, env=_env())
    assert made.returncode == 0, made.stderr
    assert os.readlink(new / "utils") == os.path.relpath(TEMPLATE / "utils", new)
    first = _run(new)
    assert first.returncode == 0, first.stderr
    assert "lr=0.002: score 42.0" in (new / "exp/toy/RESULTS.md").read_text()
    assert _run(new).stderr.count("done before with the same options, skipping") == 4
    config = new / "conf/train.yaml"
    config.write_text(config.read_text().replace("epochs: 2", "epochs: 3"))
    out = _run(new)
    assert "stage 3: train (options changed: config conf/train.yaml changed)" in out.stderr
    assert "stage 4: score (earlier stages re-ran since: stage3.train)" in out.stderr
    assert "epoch 3" in (new / "exp/logs/stage3.train.log").read_text()
    refused = subprocess.run([str(TEMPLATE / "setup_recipe.sh"), str(new)], capture_output=True, text=True)
    assert refused.returncode == 1 and "exists already" in refused.stderr


# ------------------------------------------------------------------------------------------ path.sh

def _source_path_sh(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", '. ./path.sh && echo "$(command -v python3) $OMP_NUM_THREADS"'],
                          cwd=root, env=env, capture_output=True, text=True, timeout=60)


def test_path_sh_says_how_to_install_when_legokit_is_missing(tmp_path: Path):
    root = _recipe(tmp_path, "")
    fake = tmp_path / "bin" / "python3"  # a python without legokit
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "VIRTUAL_ENV": str(tmp_path), "HOME": str(tmp_path)}
    out = _source_path_sh(root, env)
    assert out.returncode == 1
    assert "cannot import legokit" in out.stderr and "make install" in out.stderr


@pytest.mark.skipif(not (TEMPLATE.parents[1] / ".venv").is_dir(), reason="the checkout has no .venv")
def test_path_sh_activates_repo_venv(tmp_path: Path):
    root = _recipe(tmp_path, "")
    out = _source_path_sh(root, {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"{TEMPLATE.parents[1] / '.venv/bin/python3'} 1\n"


FRESH = """#!/usr/bin/env bash
set -euo pipefail
. ./path.sh
stage=1
stop_stage=100
lr=1
fail=false
. utils/parse_options.sh
. utils/stage.sh
train() {
    mkdir -p out
    echo "lr $lr" >> out/history
    [ "$fail" = false ]
}
run_stage 1 train --fresh out --env lr --env fail -- train
"""


def test_fresh_dir_is_kept_to_resume_but_moved_aside_when_options_change(tmp_path: Path):
    root = _recipe(tmp_path / "r", FRESH)
    assert _run(root, "--lr", "1").returncode == 0
    out = _run(root, "--lr", "2")  # options changed: the old run's output is moved aside, not deleted
    assert out.returncode == 0 and "starting afresh; moved out to out.1" in out.stderr
    assert (root / "out" / "history").read_text() == "lr 2\n"
    assert (root / "out.1" / "history").read_text() == "lr 1\n"
    assert _run(root, "--lr", "3", "--fail", "true").returncode != 0  # an attempt that dies ...
    assert _run(root, "--lr", "3", "--fail", "true").returncode != 0  # ... is retried with its output kept
    assert (root / "out" / "history").read_text() == "lr 3\nlr 3\n"
    assert _run(root, "--lr", "4").returncode == 0  # a different attempt after a failure starts afresh
    assert (root / "out" / "history").read_text() == "lr 4\n"
    assert [(root / f"out.{n}" / "history").read_text() for n in (1, 2, 3)] == ["lr 1\n", "lr 2\n", "lr 3\nlr 3\n"]
