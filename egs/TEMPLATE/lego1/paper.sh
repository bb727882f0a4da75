#!/usr/bin/env bash
# Paper-scale data stages and training, shared by egs/lego_reuse_paper/lego1/run.sh and
# egs/lego_three_brick/asr1/run.sh (as local/paper.sh, a link here; sourced after utils/common.sh and
# utils/parse_options.sh; uses their options nj, audio_dir, expdir and train_args, and queue):
#   paper_data_stages   stages 1-4: WMT16 De-En -> data/de_en, WMT16 Ro-En -> data/ro_en,
#                       Europarl-ST English -> data/en_speech, fbank -> dump/en_speech
#   train NAME CONFIG ARGS...   one legokit train experiment in $expdir/NAME (a train job of queue)
# shellcheck shell=bash disable=SC2154  # the options are set by the sourcing recipe

features() {
    local split
    for split in train valid test; do
        extract_features "data/en_speech/$split" "dump/en_speech/$split"
    done
}

paper_data_stages() {
    run_stage 1 de_en_data -- legokit corpus prepare wmt16 --download --root "$WMT16" --pair de-en --out data/de_en
    run_stage 2 ro_en_data -- legokit corpus prepare wmt16 --download --root "$WMT16" --pair ro-en --out data/ro_en
    run_stage 3 speech_data -- legokit corpus prepare europarl-st --download --root "$EUROPARL_ST" \
        --out data/en_speech --audio-dir "$audio_dir" --nj "$nj"
    run_stage 4 features -- features
}

train() {
    local name=$1 config=$2
    shift 2
    # shellcheck disable=SC2086  # train_args is a word list
    queue train "$expdir/$name/log/train.log" -- legokit train --config "$config" --out-dir "$expdir/$name" "$@" $train_args
}
