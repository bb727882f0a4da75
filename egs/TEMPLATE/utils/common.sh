#!/usr/bin/env bash
# The preamble every staged recipe script shares (egs/TEMPLATE/<task>/<task>.sh, egs/<corpus>/<task>/run.sh
# that stand alone). Source it first; then set the script's own options and help_message, and
#
#   . utils/common.sh            strict mode, path.sh, db.sh, utils/stage.sh, and the options every
#   ...options...                recipe has (listed first by --help): stage, stop_stage, force, expdir
#   . utils/parse_options.sh
#   recipe_start                 lock the recipe dir for this run; set train_cmd
#
# Helpers for stages (they read the recipe's options exp, test_sets, decode_config, metrics):
#   train_cmd                    array: `legokit train`, or torchrun with $nproc processes when nproc > 1
#                                (--ngpu N > 0 sets nproc to N)
#   decode_device                where every `legokit decode` runs: --device, else cuda when ngpu > 0, else cpu
#   decode_sets ARGS...          decode $exp/model.pt on each data/SET of $test_sets into $exp/decode_SET/hyp
#                                with $decode_config; ARGS are more decode options, {set} in them names SET
#   score_sets REF               score those against data/SET/REF with $metrics (legokit results)
#   brick_manifests DIR          write DIR/bricks/NAME.json (legokit brick info) for each DIR/bricks/NAME.brick
#   decode_systems SYS... -- ARGS...   legokit decode $expdir/SYS/model.pt into $expdir/SYS/decode_test/hyp
#                                with ARGS (--data-dir, --config, ...) for each SYS
#   score_systems SYS... -- ARGS...    legokit results of those for each SYS (ARGS: --test-set, --ref, --metrics)
# shellcheck shell=bash disable=SC2034  # the options are read by the sourcing script and utils/stage.sh
set -euo pipefail
. ./path.sh
. ./db.sh
. utils/stage.sh
_po_files=("${BASH_SOURCE[0]}")  # utils/parse_options.sh --help reads the comments of these options here

stage=1                      # first stage to run
stop_stage=100               # last stage to run
force=false                  # true: re-run selected stages even when their done-marker matches
expdir=exp                   # experiments; done-markers in $expdir/.done, stage logs in $expdir/logs
ngpu=0                       # GPUs per node: > 0 trains with torchrun --nproc_per_node ngpu and decodes on cuda
device=""                    # decoding device (cpu, cuda, cuda:1, auto); default: cuda when ngpu > 0, else cpu

recipe_start() {
    recipe_lock
    [ "$ngpu" -eq 0 ] || nproc=$ngpu
    decode_device=${device:-$([ "$ngpu" -gt 0 ] && echo cuda || echo cpu)}
    train_cmd=(legokit train)
    [ "${nproc:-1}" -le 1 ] || train_cmd=(torchrun --standalone --nproc_per_node "$nproc" -m legokit.cli train)
}

decode_sets() {
    local set
    for set in $test_sets; do
        legokit decode --model "$exp/model.pt" --data-dir "data/$set" "${@//\{set\}/$set}" \
            --out "$exp/decode_$set/hyp" --config "$decode_config" --device "$decode_device"
    done
}

score_sets() {
    local set
    for set in $test_sets; do
        legokit results --exp-dir "$exp" --test-set "$set" --ref "data/$set/$1" \
            --hyp "$exp/decode_$set/hyp" --kaldi --metrics "$metrics"
    done
}

brick_manifests() {
    local brick
    for brick in "$1"/bricks/*.brick; do
        legokit brick info "$brick" >"${brick%.brick}.json"
        log "$brick: manifest in ${brick%.brick}.json"
    done
}

decode_systems() {
    local -a systems=()
    local sys
    while [ "$1" != -- ]; do systems+=("$1"); shift; done
    shift
    for sys in "${systems[@]}"; do
        legokit decode --model "$expdir/$sys/model.pt" --out "$expdir/$sys/decode_test/hyp" --device "$decode_device" "$@"
    done
}

score_systems() {
    local -a systems=()
    local sys
    while [ "$1" != -- ]; do systems+=("$1"); shift; done
    shift
    for sys in "${systems[@]}"; do
        legokit results --exp-dir "$expdir/$sys" --hyp "$expdir/$sys/decode_test/hyp" --kaldi "$@"
    done
}
