#!/usr/bin/env bash
# LegoNN decoder reuse on data built here from Debian packages (see README.md).
#   ./run.sh                       the short "demo" configuration (~20 min on 2 CPU cores)
#   ./run.sh --preset long         the configuration behind docs/results.md
#   ./run.sh --stage 14            re-decode and re-score only;  ./run.sh --help  for every option
set -euo pipefail
./lego_reuse.sh "$@"
