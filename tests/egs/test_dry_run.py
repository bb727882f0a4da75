"""`./run.sh --dry_run true` on each paper recipe prints every stage with its commands — training as the torchrun
line `legokit queue` would launch (or, with --cmd slurm, its sbatch line and batch script) — and runs and writes
nothing: no exp/, no data/, no done-markers, no lock."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_YAML = "train: {partition: gpu, gpus: 4, nodes: 2, time: '2-00:00:00'}\ndecode: {partition: gpu, gpus: 1}\n"
#: recipe -> its training stages' names
PAPER_RECIPES = {
    "europarl_st/asr1": ["train"],
    "wmt16_de_en/mt1": ["train"],
    "wmt16_ro_en/mt1": ["train"],
    "how2/sum1": ["asr_pretrain", "sum_finetune", "text_summariser"],
    "lego_reuse_paper/lego1": ["de_en_lego", "ro_en_baseline", "ro_en_encoder", "ro_en_finetune", "asr_baseline",
                               "asr_encoder", "asr_finetune"],
    "lego_three_brick/asr1": ["de_en_lego", "brick1_asr_pieces", "brick2_middle", "asr_baseline", "finetune"],
}


def _recipe(tmp_path: Path, recipe: str) -> Path:
    """egs/<recipe> copied beside a link to egs/TEMPLATE (so its links resolve), without outputs."""
    egs = tmp_path / "egs"
    egs.mkdir()
    (egs / "TEMPLATE").symlink_to(ROOT / "egs" / "TEMPLATE")
    for name in dict.fromkeys((recipe, "europarl_st/asr1", "wmt16_de_en/mt1", "wmt16_ro_en/mt1",
                               "lego_reuse_paper/lego1")):
        shutil.copytree(ROOT / "egs" / name, egs / name, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads", ".lock*"))
    return egs / recipe


def _files(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.lstat().st_mtime for p in root.rglob("*")}


def _dry_run(root: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "LEGOKIT_LOCK"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = sys.prefix
    before = _files(root)
    proc = subprocess.run(["./run.sh", "--dry_run", "true", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0 or "RESULTS.md: No such file" in proc.stderr, proc.stdout + proc.stderr
    assert _files(root) == before, "the dry run wrote under the recipe dir"
    return proc.stdout


@pytest.mark.long
@pytest.mark.parametrize("recipe", sorted(PAPER_RECIPES))
def test_dry_run_lists_every_stage_and_writes_nothing(tmp_path: Path, recipe: str) -> None:
    root = _recipe(tmp_path, recipe)
    out = _dry_run(root, "--ngpu", "2")
    stages = re.findall(r"^# stage (\d+) \((\w+)\): would run", out, re.M)
    assert [int(n) for n, _ in stages] == sorted(int(n) for n, _ in stages) and len(stages) >= 5, out
    names = [name for _, name in stages]
    torchrun = f"{sys.executable} -m torch.distributed.run --standalone --nproc_per_node 2 -m legokit.cli"
    for name in PAPER_RECIPES[recipe]:
        assert name in names, out
        section = out.split(f"({name}): would run", 1)[1].split("\n# stage", 1)[0]
        assert f"JOB=1: {torchrun}" in section and " train --config " in section, section
    assert "legokit decode" in out and "--device cuda" in out


@pytest.mark.long
def test_dry_run_with_slurm_and_two_nodes_prints_sbatch_requests(tmp_path: Path) -> None:
    root = _recipe(tmp_path, "wmt16_ro_en/mt1")
    (root / "conf" / "cluster.yaml").write_text(CLUSTER_YAML)
    out = _dry_run(root, "--cmd", "slurm", "--nj", "2", "--stage", "3")
    assert "sbatch --parsable --wait --job-name=legokit-train --array=1 " in out
    assert "--partition=gpu --time=2-00:00:00 --gres=gpu:4 --nodes=2 --ntasks-per-node=1 --requeue" in out
    assert "-m legokit.cluster.job --log exp/" in out and "--nproc 4 --nodes 2" in out
    assert "legokit data split data/test 2" in out and "--array=1,2 " in out
    assert "--data-dir data/test/split2/JOB" in out
    assert "legokit data merge-hyps --data-dir data/test --nj 2" in out


@pytest.mark.long
def test_dry_run_of_one_node_of_a_local_multi_node_run(tmp_path: Path) -> None:
    """The line node 1 of a two-node run without SLURM starts (the two-node launch itself is
    tests/cluster/test_multinode.py)."""
    root = _recipe(tmp_path, "wmt16_de_en/mt1")
    out = _dry_run(root, "--stage", "3", "--stop_stage", "3", "--nnodes", "2", "--node_rank", "1",
                   "--rdzv_endpoint", "node0:29400", "--nproc", "2")
    assert re.search(r"JOB=1: \S+ -m torch.distributed.run --nnodes 2 --node_rank 1 --rdzv_backend c10d "
                     r"--rdzv_endpoint node0:29400 --rdzv_id legokit-[0-9a-f]{12} --nproc_per_node 2 -m legokit.cli "
                     r"train ", out), out
