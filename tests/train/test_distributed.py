import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from legokit.train import distributed_info, load_checkpoint


def test_distributed_info_reads_torchrun_env(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed_info() == (0, 1)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert distributed_info() == (3, 4)


@pytest.mark.slow
def test_two_process_torchrun_equals_one_process_with_the_same_global_batch(toy, tmp_path):
    args = ["--dropout", "0", "--max-epochs", "2"]
    toy.main([str(tmp_path / "one"), *args])
    env = {**os.environ, "LEGOKIT_NO_TQDM": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(Path(__file__).with_name("toy.py")), str(tmp_path / "two"), *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = load_checkpoint(tmp_path / "one" / "checkpoints" / "checkpoint_last.pt")
    two = load_checkpoint(tmp_path / "two" / "checkpoints" / "checkpoint_last.pt")
    assert two["world_size"] == 2 and len(two["rng"]) == 2
    assert two["loop"]["step"] == one["loop"]["step"] == 16
    for key, value in one["model"].items():
        assert torch.allclose(value, two["model"][key], atol=1e-6), key
    # validation is sharded over ranks and summed: the same statistics as one process
    assert two["loop"]["valid_history"] == pytest.approx(one["loop"]["valid_history"], rel=1e-5)
    log = (tmp_path / "two" / "train.log").read_text()
    assert "2 process(es)" in log and log.count("validation epoch 1 ") == 1
