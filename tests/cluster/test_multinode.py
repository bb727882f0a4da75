"""Multi-node training through `legokit queue --cmd local --kind train --nnodes 2 --node-rank R --rdzv-endpoint
HOST:PORT` (the line a recipe's training stage runs with --nnodes/--node_rank/--rdzv_endpoint): two "nodes" on
127.0.0.1, each one torchrun launcher with one gloo process, meet at a c10d rendezvous and train the same model as
one process with the same global batch; two nodes killed mid-run and started again resume from
checkpoint_last.pt."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from robustness.conftest import tiny_overrides

from legokit.train.checkpoint import load_checkpoint

#: no dropout: the two runs differ only in how the global batch is spread over processes
DETERMINISTIC = ["model.encoder.encoder.dropout=0.0", "model.decoder.dropout=0.0",
                 "model.decoder.ingestor.dropout=0.0", "train.num_threads=1"]
UPDATES_PER_EPOCH = 3  # the toy fixture's 6 batches, two per update


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train(exp: Path, tokenizers: Path, *extra: str) -> list[str]:
    return ["legokit", "--log-level", "INFO", "train", "--out-dir", str(exp), *tiny_overrides(tokenizers),
            *DETERMINISTIC, *extra]


def _nodes(tmp_path: Path, train: list[str], tag: str) -> list[subprocess.Popen]:
    """Start both nodes (each in its own session, so a whole node can be killed)."""
    endpoint = f"127.0.0.1:{_port()}"
    return [subprocess.Popen([sys.executable, "-m", "legokit.cli", "queue", "--cmd", "local", "--kind", "train",
                              "--retries", "0", "--nnodes", "2", "--node-rank", str(rank), "--rdzv-endpoint",
                              endpoint, str(tmp_path / "log" / f"{tag}.node{rank}.log"), "--", *train],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            for rank in (0, 1)]


def _wait(nodes: list[subprocess.Popen], timeout: float = 600) -> None:
    for node in nodes:
        _, err = node.communicate(timeout=timeout)
        assert node.returncode == 0, err[-3000:]


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process below it (torchrun starts its workers in their own sessions)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    os.kill(pid, signal.SIGSTOP)  # no new children while the tree is walked
    for child in children:
        _kill_tree(int(child))
    os.kill(pid, signal.SIGKILL)


@pytest.mark.long
def test_two_nodes_train_the_same_model_as_one_process(toy_tokenizers: Path, tmp_path: Path) -> None:
    epochs = f"train.max_epochs={2}"
    one = subprocess.run([sys.executable, "-m", "legokit.cli", *_train(tmp_path / "one", toy_tokenizers)[1:],
                          "optim.accum_grad=2", epochs], capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    _wait(_nodes(tmp_path, _train(tmp_path / "two", toy_tokenizers, epochs), "same"))
    log = (tmp_path / "log" / "same.node0.log").read_text()
    assert "--nnodes 2 --node_rank 0 --rdzv_backend c10d --rdzv_endpoint 127.0.0.1:" in log.splitlines()[0]
    single, multi = load_checkpoint(tmp_path / "one/checkpoints/checkpoint_last.pt"), load_checkpoint(
        tmp_path / "two/checkpoints/checkpoint_last.pt")
    assert single["loop"]["step"] == multi["loop"]["step"] == 2 * UPDATES_PER_EPOCH
    assert multi["world_size"] == 2 and single["world_size"] == 1
    a, b = single["model"], multi["model"]
    assert a.keys() == b.keys()
    # length_stats: the length controller's running statistics of the lengths rank 0 saw (not all-reduced)
    for key in (k for k in a if ".length_stats." not in k):
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5, msg=key)


@pytest.mark.long
def test_killed_nodes_restarted_resume_from_checkpoint_last(toy_tokenizers: Path, tmp_path: Path) -> None:
    exp, epochs = tmp_path / "exp", 20
    train = _train(exp, toy_tokenizers, f"train.max_epochs={epochs}", "train.save_interval_steps=2")
    last = exp / "checkpoints" / "checkpoint_last.pt"
    nodes = _nodes(tmp_path, train, "first")
    deadline = time.monotonic() + 300
    while not last.exists():
        assert all(node.poll() is None for node in nodes), [node.communicate()[1][-2000:] for node in nodes]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.2)
    for node in nodes:  # a lost node takes the job down; the whole job is started again
        _kill_tree(node.pid)
        node.wait()
    stopped_at = load_checkpoint(last)["loop"]["step"]
    assert 0 < stopped_at < epochs * UPDATES_PER_EPOCH
    _wait(_nodes(tmp_path, train, "second"))
    second = (tmp_path / "log" / "second.node0.log").read_text() + (tmp_path / "log" / "second.node1.log").read_text()
    assert "resumed from" in second and f"step {stopped_at}" in second, second
    assert load_checkpoint(last)["loop"]["step"] == epochs * UPDATES_PER_EPOCH
    assert (exp / "model.pt").is_file()
