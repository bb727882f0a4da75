"""Running stages as job arrays, locally or on SLURM (ESPnet's run.pl / slurm.pl as one command).

:mod:`legokit.cluster.config` reads the per-kind resources (cluster.yaml), :mod:`legokit.cluster.queue` runs
``JOB=1:N`` arrays with retries, and :mod:`legokit.cluster.job` is the wrapper each job runs in.
"""
