#!/usr/bin/env bash
# Sourced by every recipe (recipes hold a symlink to this file): the Python environment for legokit.
# Uses the repository's .venv when no other virtualenv is active, makes Python output unbuffered (so
# stage logs show progress as it happens), limits OpenMP threads unless set, and checks that legokit
# can be imported. Only exported, upper-case variables are set: they never become recipe options.

LEGOKIT_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
export LEGOKIT_ROOT
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f "$LEGOKIT_ROOT/.venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    . "$LEGOKIT_ROOT/.venv/bin/activate"
fi
export PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

if ! python3 -c 'import legokit' 2>/dev/null; then
    echo "path.sh: cannot import legokit with $(command -v python3 || echo 'python3 (not found)')." \
        "Run 'make install' (or 'pip install -e .') in $LEGOKIT_ROOT, or activate the environment that has it." >&2
    # shellcheck disable=SC2317  # exit is reached when path.sh is executed instead of sourced
    return 1 2>/dev/null || exit 1
fi
