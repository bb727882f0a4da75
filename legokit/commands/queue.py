"""`legokit queue [--cmd local|slurm] --kind KIND [--jobs JOB=1:N] LOG -- CMD ARGS...`: ESPnet's run.pl/slurm.pl."""

from __future__ import annotations

import argparse

from legokit.cluster.config import KINDS
from legokit.commands._types import nonnegative_int, positive_int

HELP = "run a command as N jobs (JOB=1:N in LOG and CMD), locally or as a SLURM job array; failed jobs re-run alone"

EPILOG = """\
JOB in LOG and in CMD ARGS is replaced by each job's index, as in ESPnet's
`run.pl JOB=1:4 exp/log/decode.JOB.log cmd`. Each job's output goes to its log, which ends with
'# ended (exit code N)'. Jobs that failed (or were killed before writing that line) run again, alone,
up to --retries times; if one still fails, the last lines of its log are printed with its path and
the command exits 2. With --cmd slurm one sbatch job array is submitted with the resources of --kind
from --conf (sections default/data/features/train/decode; keys partition, gpus, cpus_per_task, mem,
time, nodes, grace, port, extra), and waited for. `legokit train` as CMD with --kind train runs under
torchrun when it has several processes (--nproc, or the kind's gpus) or nodes (srun, c10d rendezvous
on the first node); on SLURM it gets SIGTERM `grace` seconds before the time limit, writes its
checkpoint, is requeued and resumes. See docs/cluster.md.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--cmd", choices=("local", "slurm"), default="local",
                        help="local: jobs are processes of this machine; slurm: one sbatch job array (default: local)")
    parser.add_argument("--conf", help="cluster.yaml with the SLURM resources of each kind (default: one CPU, "
                                       "the cluster's default partition, memory and time limit)")
    parser.add_argument("--kind", choices=KINDS, required=True,
                        help="which section of --conf gives the resources; train adds torchrun, SIGTERM and requeue")
    parser.add_argument("--jobs", metavar="JOB=FIRST:LAST",
                        help="the job indices, e.g. JOB=1:4 (default: one job, JOB=1)")
    parser.add_argument("--max-parallel", type=positive_int,
                        help="jobs running at once (default: local = CPU count; slurm = no limit, as `%%N` of --array)")
    parser.add_argument("--retries", type=nonnegative_int, default=1,
                        help="times the failed jobs are run again, alone (default: 1)")
    parser.add_argument("--nproc", type=positive_int,
                        help="train: processes per node for torchrun (default: the kind's gpus, else 1)")
    parser.add_argument("--nnodes", type=positive_int,
                        help="train: nodes (default: the kind's nodes on SLURM, 1 locally); locally > 1 runs this "
                             "node's torchrun of a c10d rendezvous at --rdzv-endpoint (start every node alike)")
    parser.add_argument("--node-rank", type=nonnegative_int, default=0,
                        help="train, --cmd local, --nnodes > 1: this node's rank (default: 0)")
    parser.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                        help="train, --cmd local, --nnodes > 1: the rendezvous (a free port on node 0's host)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the job commands (and sbatch line and script) without running anything")
    parser.add_argument("log", metavar="LOG", help="log file of each job, with JOB for its index, e.g. "
                                                  "exp/log/decode.JOB.log")
    parser.add_argument("job_command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS...",
                        help="the command of each job, after --")


def run(args: argparse.Namespace) -> int:
    from legokit.cluster.config import load_cluster_config
    from legokit.cluster.queue import JobArray, parse_jobs, run_array
    from legokit.errors import LegokitError

    command = args.job_command[1:] if args.job_command[:1] == ["--"] else args.job_command
    if not command:
        raise LegokitError("no command to run: give it after LOG and --, e.g. `legokit queue --kind data "
                           "exp/log/prep.log -- legokit prepare ...`")
    indices = parse_jobs(args.jobs)
    if len(indices) > 1 and "JOB" not in args.log:
        raise LegokitError(f"LOG '{args.log}' has no JOB: the {len(indices)} jobs would write the same log; "
                           "write e.g. exp/log/decode.JOB.log")
    if args.cmd == "local" and (args.nnodes or 1) > 1 and not args.rdzv_endpoint:
        raise LegokitError(f"--nnodes {args.nnodes} with --cmd local: give --rdzv-endpoint HOST:PORT (node 0's host "
                           "and a free port) and start the same command on every node with its --node-rank")
    if args.node_rank >= (args.nnodes or 1) and args.cmd == "local":
        raise LegokitError(f"--node-rank {args.node_rank}: expected 0 <= rank < --nnodes ({args.nnodes or 1})")
    resources = load_cluster_config(args.conf).resources(args.kind)
    array = JobArray(log=args.log, command=command, indices=indices, kind=args.kind, resources=resources,
                     nproc=args.nproc or resources.gpus or 1, max_parallel=args.max_parallel, nodes=args.nnodes,
                     node_rank=args.node_rank, rdzv_endpoint=args.rdzv_endpoint)
    run_array(array, args.cmd, retries=args.retries, dry_run=args.dry_run)
    return 0
