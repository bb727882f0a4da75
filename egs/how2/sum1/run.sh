#!/usr/bin/env bash
# How2 2000 h speech summarisation with restricted self-attention (Sharma et al., ICASSP 2022; ESPnet
# egs2/how2_2000h/sum1) through egs/TEMPLATE/sum1/sum.sh: ASR pre-training on the utterance-level sets,
# E2E summarisation fine-tuning on whole videos, cascade baseline, ROUGE. Paper-scale configs (conf/paper).
#   HOW2=/data/how2 ./run.sh --ngpu 8       (options are sum.sh's: ./sum.sh --help)
# Stage 1 writes the feature dumps itself from the released arks, so sum.sh's stage 2 (fbank from
# wav.scp) is skipped: sum.sh runs once for stage 1 and once from stage 3 on. The encoder's input size is
# read from the dumps (model.encoder.feat_dim); if you pass --train_args, include it there.
set -euo pipefail
opts=(--conf conf/paper --asr_train_set asr_train --asr_valid_set asr_valid --transcript transcript
      --vocab 1000 --bpe_type unigram)
stage=1
stop_stage=100
dry_run=false
args=("$@")
for ((i = 0; i + 1 < ${#args[@]}; i++)); do
    case ${args[i]} in
        --stage) stage=${args[i + 1]} ;;
        --stop_stage) stop_stage=${args[i + 1]} ;;
        --dry_run) dry_run=${args[i + 1]} ;;
        --help | -h) exec ./sum.sh "$@" ;;
    esac
done
if [ "$stage" -le 1 ]; then
    # sum.sh ends by printing exp/RESULTS.md, absent after stage 1 alone: success = stage 1's done-marker
    ./sum.sh "${opts[@]}" "$@" --stop_stage 1 || [ -f exp/.done/stage1.data.done ]
fi
if [ "$stop_stage" -ge 3 ]; then
    feat_dim="<dim_of_dump/train/fbank.json>"  # a dry run before stage 1 has run
    [ "$dry_run" = true ] && [ ! -f dump/train/fbank.json ] ||
        feat_dim=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["dim"])' dump/train/fbank.json)
    ./sum.sh "${opts[@]}" --train_args "model.encoder.feat_dim=$feat_dim" "$@" --stage $((stage > 3 ? stage : 3))
fi
