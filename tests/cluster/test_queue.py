"""`legokit queue`: JOB=1:N arrays run locally and on a real SLURM; a failed job is re-run alone; a job that keeps
failing ends the command with its log's tail; resources come from cluster.yaml per kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from legokit.cli import main

FLAKY = "echo run >> {d}/runs.JOB; echo job JOB; [ JOB != 2 ] || [ -e {d}/marker ] || {{ touch {d}/marker; exit 3; }}"
ALWAYS = "echo run >> {d}/runs.JOB; echo boom JOB; [ JOB != 3 ] || exit 7"


def _runs(d: Path, index: int) -> int:
    return len((d / f"runs.{index}").read_text().splitlines())


@pytest.fixture(params=["local", "slurm"])
def cmd(request: pytest.FixtureRequest) -> str:
    if request.param == "slurm":
        request.getfixturevalue("slurm")
    return request.param


def test_failed_job_is_rerun_alone(cmd: str, tmp_path: Path) -> None:
    log = f"{tmp_path}/log/flaky.JOB.log"
    assert main(["queue", "--cmd", cmd, "--kind", "data", "--jobs", "JOB=1:3", log, "--", "sh", "-c",
                 FLAKY.format(d=tmp_path)]) == 0
    assert [_runs(tmp_path, k) for k in (1, 2, 3)] == [1, 2, 1]  # only job 2 ran again
    for k in (1, 2, 3):
        text = (tmp_path / "log" / f"flaky.{k}.log").read_text()
        assert f"job {k}\n" in text and "# ended (exit code 0)" in text


def test_always_failing_job_exits_with_its_log_tail(cmd: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    log = f"{tmp_path}/log/bad.JOB.log"
    assert main(["queue", "--cmd", cmd, "--kind", "decode", "--jobs", "JOB=1:3", "--retries", "2", log, "--",
                 "sh", "-c", ALWAYS.format(d=tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"==> {tmp_path}/log/bad.3.log (last 20 lines) <==" in err and "boom 3\n" in err
    assert (f"legokit queue: error: 1 of 3 decode job(s) failed (JOB=3) after 2 retries; first: "
            f"{tmp_path}/log/bad.3.log (exit code 7)") in err
    assert [_runs(tmp_path, k) for k in (1, 2, 3)] == [1, 1, 3]


def test_options_and_conf_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    conf = tmp_path / "cluster.yaml"
    conf.write_text("decode: {gpus: 1, partitoin: gpu}\n")
    cases = [
        (["--kind", "decode", "--conf", str(conf), "x.log", "--", "true"],
         f"{conf}: unknown config key 'decode.partitoin'; did you mean 'decode.partition'?"),
        (["--kind", "data", "--jobs", "JOB=1:2", "x.log", "--", "true"],
         "LOG 'x.log' has no JOB: the 2 jobs would write the same log"),
        (["--kind", "data", "--jobs", "1:4", "x.JOB.log", "--", "true"], "--jobs '1:4': expected JOB=FIRST:LAST"),
        (["--kind", "data", "x.log"], "no command to run"),
    ]
    for argv, message in cases:
        assert main(["queue", *argv]) == 2
        assert message in capsys.readouterr().err
    conf.write_text("train: {time: two days}\n")
    assert main(["queue", "--kind", "train", "--conf", str(conf), "x.log", "--", "true"]) == 2
    assert "key 'train.time' must be a SLURM time limit" in capsys.readouterr().err


def test_slurm_dry_run_shows_the_resources_of_the_kind(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    conf = tmp_path / "cluster.yaml"
    conf.write_text("default: {partition: cpu, mem: 8G, time: '4:00:00'}\n"
                    "train: {partition: gpu, gpus: 4, nodes: 2, cpus_per_task: 16, grace: 600, extra: [--qos=high]}\n")
    assert main(["queue", "--cmd", "slurm", "--conf", str(conf), "--kind", "train", "--dry-run", "exp/log/train.log",
                 "--", "legokit", "train", "--config", "conf/train.yaml", "--out-dir", "exp/x"]) == 0
    out = capsys.readouterr().out
    sbatch = out.splitlines()[0]
    for option in ("--array=1", "--partition=gpu", "--mem=8G", "--time=4:00:00", "--gres=gpu:4", "--nodes=2",
                   "--ntasks-per-node=1", "--cpus-per-task=16", "--requeue", "--signal=B:TERM@600", "--qos=high"):
        assert option in sbatch.split(), option
    assert "-m legokit.cluster.job --log exp/log/train.log --nproc 4 --nodes 2 --port 29500 --requeue" in out
    assert "export OMP_NUM_THREADS=4\n" in out  # 16 CPUs per task / 4 torchrun processes (path.sh's 1 replaced)
    assert main(["queue", "--cmd", "slurm", "--conf", str(conf), "--kind", "decode", "--jobs", "JOB=1:8",
                 "--max-parallel", "3", "--dry-run", "exp/log/dec.JOB.log", "--", "legokit", "decode"]) == 0
    out = capsys.readouterr().out
    sbatch = out.splitlines()[0].split()
    assert "export OMP_NUM_THREADS=1\n" in out  # the default's cpus_per_task
    assert "--array=1,2,3,4,5,6,7,8%3" in sbatch and "--partition=cpu" in sbatch and "--requeue" not in sbatch


def test_train_launch_lines() -> None:
    from legokit.cluster.job import TORCHRUN, launch

    train = ["legokit", "train", "--out-dir", "exp/x"]
    assert launch(train, 1, 1, 29500) == train
    assert launch(["sh", "-c", "true"], 4, 2, 29500) == ["sh", "-c", "true"]
    assert launch(train, 2, 1, 29500) == [*TORCHRUN, "--standalone", "--nproc_per_node", "2", "-m", "legokit.cli",
                                          "train", "--out-dir", "exp/x"]
    multi = launch(train, 4, 2, 29400)
    assert multi[:6] == ["srun", "--nodes", "2", "--ntasks-per-node", "1", "--kill-on-bad-exit=1"]
    assert ('--nnodes "$SLURM_NNODES" --node_rank "$SLURM_NODEID" --rdzv_backend c10d --rdzv_endpoint "$0" '
            '--rdzv_id "$SLURM_JOB_ID" --nproc_per_node 4 "$@"') in multi[8]
    assert multi[9].endswith(":29400") and multi[10:] == ["-m", "legokit.cli", "train", "--out-dir", "exp/x"]


def test_parallel_local_jobs_share_the_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local jobs run side by side get OMP_NUM_THREADS = CPUs / jobs (torch would start one thread per CPU in
    each: oversubscribed cores); a single job, or an OMP_NUM_THREADS the user set, is left alone."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    log = f"{tmp_path}/log/t.JOB.log"
    show = ["sh", "-c", "echo threads=${OMP_NUM_THREADS:-unset}"]
    assert main(["queue", "--cmd", "local", "--kind", "data", "--jobs", "JOB=1:4", log, "--", *show]) == 0
    assert all("threads=2\n" in (tmp_path / "log" / f"t.{k}.log").read_text() for k in range(1, 5))
    assert main(["queue", "--cmd", "local", "--kind", "data", "--jobs", "JOB=1:1", log, "--", *show]) == 0
    assert "threads=unset\n" in (tmp_path / "log" / "t.1.log").read_text()
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert main(["queue", "--cmd", "local", "--kind", "data", "--jobs", "JOB=1:4", log, "--", *show]) == 0
    assert "threads=3\n" in (tmp_path / "log" / "t.2.log").read_text()
