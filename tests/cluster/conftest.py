"""A real one-node SLURM cluster for the tests: munged, slurmctld and slurmd started from a slurm.conf in the
test's tmp dir (SLURM_CONF points at it; nothing under /etc is read or written), stopped afterwards.

Skips with the install command when Debian's slurmctld, slurmd, munge or slurm-client are missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from robustness.conftest import mt_dir, toy_model, toy_tokenizers  # noqa: F401  (fixtures used here)

SBIN = ("/usr/sbin", "/usr/bin")
INSTALL = "bash tools/install_system_deps.sh (apt-get install slurmctld slurmd munge slurm-client)"


@pytest.fixture(autouse=True)
def legokit_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs run `legokit ...` as a user with the venv activated does."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def _which(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in SBIN if os.access(f"{d}/{name}", os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check: callable, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:.0f} s")
        time.sleep(0.3)


def slurm_conf(root: Path, munge_socket: Path) -> str:
    """slurm.conf of a one-node cluster: this host with its real CPUs and memory (as `slurmd -C` reports)."""
    node = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    return f"""\
ClusterName=legokit
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ReturnToService=2
MinJobAge=600
KillWait=5
{node} State=UNKNOWN
PartitionName=debug Nodes={node.split()[0].split("=")[1]} Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running one-node SLURM cluster; yields its slurm.conf (also exported as SLURM_CONF)."""
    missing = [name for name in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "scontrol") if not _which(name)]
    if missing:
        pytest.skip(f"SLURM is not installed (no {', '.join(missing)}): run {INSTALL}")
    if os.geteuid() != 0:
        pytest.skip("the test cluster runs its daemons as SlurmUser=root: run these tests as root")
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("munge", "state", "spool", "log"):
        (root / sub).mkdir(mode=0o700)
    sock = root / "munge" / "munge.sock"
    subprocess.run([_which("mungekey"), "--create", f"--keyfile={root}/munge/munge.key"], check=True)
    subprocess.run([_which("munged"), "--force", f"--key-file={root}/munge/munge.key", f"--socket={sock}",
                    f"--pid-file={root}/munge/munged.pid", f"--log-file={root}/log/munged.log",
                    f"--seed-file={root}/munge/seed"], check=True)
    conf = root / "slurm.conf"
    conf.write_text(slurm_conf(root, sock))
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    logs = [open(root / "log" / f"{name}.out", "wb") for name in ("slurmctld", "slurmd")]
    daemons = [subprocess.Popen([_which("slurmctld"), "-D", "-i"], stdout=logs[0], stderr=subprocess.STDOUT),
               subprocess.Popen([_which("slurmd"), "-D"], stdout=logs[1], stderr=subprocess.STDOUT)]
    try:
        def idle() -> bool:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout.split()
            return out == ["idle"]
        _wait(idle, f"the test node is not idle (see {root}/log)")
        yield conf
    finally:
        jobs = subprocess.run(["squeue", "-h", "-o", "%A"], capture_output=True, text=True).stdout.split()
        if jobs:
            subprocess.run(["scancel", *jobs], check=False)
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            daemon.wait(timeout=30)
        for f in logs:
            f.close()
        subprocess.run([_which("munged"), "--stop", f"--socket={sock}"], check=False, capture_output=True)
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
