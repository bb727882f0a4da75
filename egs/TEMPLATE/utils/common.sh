#!/usr/bin/env bash
# The preamble every staged recipe script shares (egs/TEMPLATE/<task>/<task>.sh, egs/<corpus>/<task>/run.sh
# that stand alone). Source it first; then set the script's own options and help_message, and
#
#   . utils/common.sh            strict mode, path.sh, db.sh, utils/stage.sh, and the options every
#   ...options...                recipe has (listed first by --help): stage, stop_stage, force, expdir
#   . utils/parse_options.sh
#   recipe_start                 lock the recipe dir for this run (not with --dry_run); set decode_device
#
# Helpers for stages (they read the recipe's options exp, test_sets, decode_config, metrics):
#   queue KIND LOG [OPTS...] -- CMD ARGS...   run CMD as a job of KIND (data, features, train, decode) with
#                                `legokit queue --cmd $cmd --conf $cluster_conf` (OPTS: more of its options, e.g.
#                                --jobs JOB=1:4); train jobs get --nproc/--nnodes/--node_rank/--rdzv_endpoint and
#                                the queue launches torchrun. --cmd local with one job of one process runs CMD
#                                here (output in the stage log); --dry_run true prints what the queue would run
#   decode_device                where every `legokit decode` runs: --device, else cuda when ngpu > 0, else cpu
#   extract_features DATA DUMP   legokit features of DATA into DUMP; --cmd slurm and nj > 1: nj jobs on DATA's
#                                split, merged (legokit data merge-feats); else one job of nj processes
#   decode_data DATA DIR ARGS... legokit decode ARGS of DATA into DIR/hyp on $decode_device; nj > 1: nj jobs on
#                                DATA's split, hypotheses merged (legokit data merge-hyps)
#   decode_sets ARGS...          decode $exp/model.pt on each data/SET of $test_sets into $exp/decode_SET/hyp
#                                with $decode_config; ARGS are more decode options, {set} in them names SET
#   score_sets REF               score those against data/SET/REF with $metrics (legokit results); WER/CER
#                                also per speaker when data/SET/utt2spk exists
#   brick_manifests DIR          write DIR/bricks/NAME.json (legokit brick info) for each DIR/bricks/NAME.brick
#   decode_systems SYS... -- ARGS...   decode_data of $expdir/SYS/model.pt into $expdir/SYS/decode_test/hyp
#                                with ARGS (--data-dir DATA, --config, ...) for each SYS
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
cmd=local                    # where stage jobs run: local (processes here) or slurm (sbatch; docs/cluster.md)
cluster_conf=conf/cluster.yaml # resources per stage kind for legokit queue (absent: one CPU, the cluster's defaults)
nj=1                         # data-parallel jobs: decoding (and features with --cmd slurm) split the data in nj
nnodes=1                     # training nodes (torchrun --nnodes, c10d rendezvous; --cmd slurm: srun on nnodes)
node_rank=0                  # --cmd local, nnodes > 1: this node's rank (run the training stage on every node)
rdzv_endpoint=""             # --cmd local, nnodes > 1: HOST:PORT of the rendezvous (node 0's host, a free port)
dry_run=false                # true: print every stage's commands and resource requests; run and write nothing

recipe_start() {
    [ "$dry_run" = true ] || recipe_lock
    [ "$ngpu" -eq 0 ] || nproc=$ngpu
    decode_device=${device:-$([ "$ngpu" -gt 0 ] && echo cuda || echo cpu)}
    [ ! -f "$cluster_conf" ] || cluster_conf=$(realpath "$cluster_conf")  # --dry_run traces stages elsewhere
}

queue() {
    local kind=$1 log=$2
    shift 2
    local -a opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    if [ "$kind" = train ]; then
        [ "${nproc:-1}" -le 1 ] || opts+=(--nproc "$nproc")
        [ "$nnodes" -le 1 ] || opts+=(--nnodes "$nnodes" --node-rank "$node_rank")
        [ "$nnodes" -le 1 ] || [ -z "$rdzv_endpoint" ] || opts+=(--rdzv-endpoint "$rdzv_endpoint")
    fi
    if [ "$cmd" = local ] && [ ${#opts[@]} -eq 0 ] && [ "$dry_run" != true ]; then
        "$@"
        return
    fi
    [ ! -f "$cluster_conf" ] || opts+=(--conf "$cluster_conf")
    [ "$dry_run" != true ] || opts+=(--dry-run)
    command legokit queue --cmd "$cmd" --kind "$kind" "${opts[@]}" "$log" -- "$@"
}

extract_features() {
    local data=$1 dump=$2
    if [ "$cmd" = local ] || [ "$nj" -le 1 ]; then
        queue features "$dump/log/features.log" -- legokit features --data-dir "$data" --out-dir "$dump" --nj "$nj"
        return
    fi
    legokit data split "$data" "$nj"
    queue features "$dump/log/features.JOB.log" --jobs "JOB=1:$nj" -- \
        legokit features --data-dir "$data/split$nj/JOB" --out-dir "$dump/split$nj/JOB"
    legokit data merge-feats --data-dir "$data" --nj "$nj" --out-dir "$dump" "$dump/split$nj/JOB"
}

decode_data() {
    local data=$1 dir=$2
    shift 2
    if [ "$nj" -le 1 ]; then
        queue decode "$dir/log/decode.log" -- \
            legokit decode --data-dir "$data" "$@" --out "$dir/hyp" --device "$decode_device"
        return
    fi
    legokit data split "$data" "$nj"
    queue decode "$dir/log/decode.JOB.log" --jobs "JOB=1:$nj" -- \
        legokit decode --data-dir "$data/split$nj/JOB" "$@" --out "$dir/split$nj/hyp.JOB" --device "$decode_device"
    legokit data merge-hyps --data-dir "$data" --nj "$nj" --out "$dir/hyp" "$dir/split$nj/hyp.JOB"
}

decode_sets() {
    local set
    for set in $test_sets; do
        decode_data "data/$set" "$exp/decode_$set" --model "$exp/model.pt" "${@//\{set\}/$set}" \
            --config "$decode_config"
    done
}

score_sets() {
    local set
    local -a speakers
    for set in $test_sets; do
        speakers=()
        [ ! -f "data/$set/utt2spk" ] || speakers=(--utt2spk "data/$set/utt2spk")
        legokit results --exp-dir "$exp" --test-set "$set" --ref "data/$set/$1" \
            --hyp "$exp/decode_$set/hyp" --kaldi --metrics "$metrics" "${speakers[@]}"
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
    local -a systems=() args=()
    local sys data=""
    while [ "$1" != -- ]; do systems+=("$1"); shift; done
    shift
    while [ $# -gt 0 ]; do
        if [ "$1" = --data-dir ]; then data=$2; shift 2; else args+=("$1"); shift; fi
    done
    for sys in "${systems[@]}"; do
        decode_data "$data" "$expdir/$sys/decode_test" --model "$expdir/$sys/model.pt" "${args[@]}"
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
