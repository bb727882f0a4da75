#!/usr/bin/env bash
# Stage machinery for recipes; source it after utils/parse_options.sh. Provides:
#
#   log MSG...                  2026-11-21T10:00:00 (run.sh:42:stage 3) MSG   (to stderr)
#   recipe_lock [DIR]           lock DIR (default .) for this run; a second run is refused
#   run_stage N NAME [--config FILE]... [--env VAR]... [--fresh DIR]... -- CMD ARGS...
#
# run_stage runs CMD when stage <= N <= stop_stage, unless exp/.done/stageN.NAME.done records a
# finished run with the same options: the command line, the contents of --config files and of
# .yaml/.yml/.json files on the command line, the values of the listed --env variables (shell or
# environment), the body of CMD when it is a shell function, and unchanged earlier stages (a stage
# re-runs when one run before it in the script re-ran, wherever its marker is: each run_stage call
# records its done-dir, so a recipe may move expdir between stages) — minus what never counts (process/thread counts, torchrun, logging: NEUTRAL_* and LAUNCHERS in legokit/recipe.py).
# --fresh DIR: when the stage must start afresh, DIR is moved aside to DIR.N (never deleted).
# Output is tee'd to exp/logs/stageN.NAME.log; on failure the last $recipe_tail_lines lines of it are
# printed again with its path, and the script exits with the stage's status. The decisions are made
# by `python -m legokit.recipe` (legokit/recipe.py). Variables read (set them before sourcing, e.g.
# as options): stage, stop_stage, expdir (default exp), force (true: ignore done-markers),
# recipe_tail_lines (default 30), dry_run (true: print what each selected stage would run, run and write
# nothing: see _recipe_dry_run).

_recipe_done_dirs=()  # done-dirs of the stages declared so far (passed as --upstream to later ones)

_recipe_py() {
    python3 -m legokit.recipe "$@"
}

# _recipe_log_at K MSG: a log line naming the caller K frames up (K=1: whoever called our caller).
_recipe_log_at() {
    local k=$1
    shift
    local where=${_recipe_stage_label:-${FUNCNAME[k + 1]:-main}}
    printf '%s (%s:%s:%s) %s\n' "$(date +%Y-%m-%dT%H:%M:%S)" "${BASH_SOURCE[k + 1]##*/}" \
        "${BASH_LINENO[k]}" "$where" "$*" >&2
}

log() {
    _recipe_log_at 1 "$@"
}

recipe_lock() {
    local dir=${1:-.} method
    exec {_recipe_lock_fd}<>"$dir/.lock"
    method=$(_recipe_py lock "$dir" --pid $$ --fd "$_recipe_lock_fd" --what "$0") || exit 1
    if [ "$method" = pidfile ]; then
        # shellcheck disable=SC2064  # expand now: the trap must name this run's pid
        trap "_recipe_py unlock '$dir' --pid $$" EXIT
    fi
}

# _recipe_exec CMD ARGS...: run the stage command in a subshell with errexit on, so a failing line
# inside a shell-function stage stops it. It inherits the lock's file descriptor on purpose: a stage
# process that outlives a killed run keeps the directory locked until it ends.
_recipe_exec() {
    (
        set -e
        "$@"
    )
}

# _recipe_dry_run N NAME RC REASON CMD ARGS...: what run_stage would do, on stdout. A `queue` command prints
# what `legokit queue --dry-run` would run (torchrun line, sbatch line and script); a function stage is traced
# in a scratch directory with legokit and the file commands echoed, so its inner commands are listed as far as
# they do not need earlier stages' outputs; any other command is printed.
_recipe_dry_run() {
    local n=$1 name=$2 rc=$3 reason=$4 scratch k
    shift 4
    if [ "$rc" -eq 0 ] && [ "${force:-false}" != true ]; then
        echo "# stage $n ($name): done before with the same options, would skip"
        return 0
    fi
    [ "$rc" -eq 0 ] && reason="forced (force=true)"
    [ "$rc" -eq 0 ] || [ "$rc" -eq 10 ] || reason="its done-marker cannot be checked: see the error above"
    echo "# stage $n ($name): would run ($reason): $*"
    if [ "$1" = queue ]; then
        "$@" || echo "# stage $n ($name): legokit queue --dry-run refused it (above)"
    elif declare -F "$1" >/dev/null; then
        scratch=$(mktemp -d)
        (
            set +e
            cd "$scratch" || exit 1
            for k in legokit mkdir cp mv rm ln touch python python3; do
                eval "$k() { echo \"  \$ $k \$*\"; }"
            done
            "$@"
        ) 2>/dev/null || true  # its status is meaningless here: earlier stages' outputs are missing
        command rm -rf "$scratch"
    fi
}

run_stage() {
    local n=${1:-} name=${2:-}
    if ! [[ $n =~ ^[0-9]+$ && $name =~ ^[A-Za-z0-9_.-]+$ ]]; then
        _recipe_log_at 1 "run_stage: expected a stage number and a name of letters, digits, '_.-', got '$n' '$name'"
        exit 1
    fi
    shift 2
    local -a fp=() fresh=()
    local k
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        [ $# -ge 2 ] || { _recipe_log_at 1 "run_stage $n $name: option $1 needs a value"; exit 1; }
        case $1 in
            --config) fp+=(--file "$2") ;;
            --env) fp+=(--var "$2=${!2-}") ;;
            --fresh) fresh+=("$2") ;;
            *) _recipe_log_at 1 "run_stage: unknown option '$1' (expected --config FILE, --env VAR, --fresh DIR or --)"; exit 1 ;;
        esac
        shift 2
    done
    [ "${1:-}" = -- ] && [ $# -ge 2 ] || { _recipe_log_at 1 "run_stage $n $name: missing '-- CMD ARGS...'"; exit 1; }
    shift
    local exp=${expdir:-exp} _recipe_stage_label="stage $n"
    for k in "${_recipe_done_dirs[@]}"; do fp+=(--upstream "$k"); done
    [[ " ${_recipe_done_dirs[*]} " == *" $exp/.done "* ]] || _recipe_done_dirs+=("$exp/.done")
    ((n >= ${stage:-0} && n <= ${stop_stage:-1000000})) || return 0
    # a function stage counts its body; `queue KIND LOG -- CMD` counts as CMD (legokit/recipe.py)
    if [ "$1" != queue ] && declare -F "$1" >/dev/null; then fp+=(--function "$1=$(declare -f "$1")"); fi

    local marker="$exp/.done/stage$n.$name.done" logfile="$exp/logs/stage$n.$name.log" reason rc=0 reason_fresh
    reason=$(_recipe_py check "$marker" --log "$logfile" "${fp[@]}" -- "$@") || rc=$?
    if [ "${dry_run:-false}" = true ]; then
        _recipe_dry_run "$n" "$name" "$rc" "$reason" "$@"
        return 0
    fi
    if [ "$rc" -eq 0 ] && [ "${force:-false}" != true ]; then
        _recipe_log_at 1 "stage $n ($name): done before with the same options, skipping ($marker)"
        return 0
    fi
    [ "$rc" -eq 0 ] || [ "$rc" -eq 10 ] || exit "$rc"  # 10: must run; else legokit.recipe failed
    [ "$rc" -eq 0 ] && reason="forced (force=true)"

    # --fresh DIR: the stage's output dir (e.g. an experiment dir with checkpoints). An interrupted
    # attempt with the same fingerprint resumes in it; a re-run with other options, inputs or earlier
    # stages (or forced) starts afresh: DIR is moved aside to DIR.1 (DIR.2, ...), never deleted.
    if [ ${#fresh[@]} -gt 0 ]; then
        local -a fresh_args=()
        for k in "${fresh[@]}"; do fresh_args+=(--dir "$k"); done
        [ "${force:-false}" = true ] && fresh_args+=(--force)
        reason_fresh=$(_recipe_py fresh "$marker" "${fresh_args[@]}" "${fp[@]}" -- "$@") || exit $?
        [ -z "$reason_fresh" ] || _recipe_log_at 1 "stage $n ($name): $reason_fresh"
    fi

    local start errexit=0 status
    _recipe_log_at 1 "stage $n: $name ($reason); log: $logfile"
    mkdir -p "$exp/logs"
    start=${EPOCHREALTIME:-$(date +%s)}
    start=${start/,/.}
    [[ $- == *e* ]] && errexit=1
    set +e
    _recipe_exec "$@" 2>&1 | tee "$logfile"
    status=${PIPESTATUS[0]}
    ((errexit)) && set -e
    if [ "$status" -ne 0 ]; then
        _recipe_log_at 1 "stage $n ($name) FAILED with exit status $status. Last ${recipe_tail_lines:-30} lines of $logfile:"
        tail -n "${recipe_tail_lines:-30}" "$logfile" | sed 's/^/    | /' >&2
        _recipe_log_at 1 "stage $n ($name) FAILED; full log: $logfile"
        exit "$status"
    fi
    local seconds
    seconds=$(_recipe_py "done" "$marker" --start "$start" "${fp[@]}" -- "$@") || exit $?
    _recipe_log_at 1 "stage $n: $name finished in ${seconds}s"
}
