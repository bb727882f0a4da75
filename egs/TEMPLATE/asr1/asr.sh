#!/usr/bin/env bash
# Staged speech recognition recipe (ESPnet style): joint CTC/attention baseline or LegoNN bricks.
# Stages: 1 data (local/data.sh), 2 features (train, valid), 3 tokenizer, 4 train, 5 decode (test sets' features,
# then decoding), 6 score, 7 bricks. Changing test_sets re-runs stages 5-7 only.
# shellcheck source-path=SCRIPTDIR
. utils/common.sh  # strict mode, path.sh, db.sh, stage.sh; the options stage, stop_stage, force, expdir

data_args=""                 # extra arguments for local/data.sh (stage 1)
train_set=train              # training data dir under data/ (wav.scp, text, utt2spk)
valid_set=valid              # validation data dir under data/
test_sets=test               # space-separated test data dirs under data/
nj=2                         # parallel feature extraction processes (--cmd slurm: jobs) and decoding jobs
vocab=1000                   # sentencepiece size (the interface vocabulary of LegoNN bricks)
bpe_type=unigram             # sentencepiece model type: unigram, bpe, char, word
tokenizer=""                 # reuse this sentencepiece model (e.g. an MT recipe's target side, to share bricks)
train_config=conf/train.yaml # experiment config (legokit train); see docs/training.md
train_args=""                # extra dotted overrides for legokit train
decode_config=conf/decode.yaml # decoding config (legokit decode)
tag=""                       # experiment name (default: the train config's file name)
nproc=1                      # processes for training (torchrun --nproc_per_node)
metrics=wer,cer              # scores written to RESULTS.md
help_message="Usage: $0 [options]
Speech recognition: 1 data, 2 features (train, valid), 3 tokenizer, 4 train, 5 decode (test features too),
6 score, 7 bricks. A changed --test_sets re-runs stages 5-7 only."

. utils/parse_options.sh
recipe_start

tag=${tag:-$(basename "${train_config%.*}")}
exp=$expdir/$tag
spm=${tokenizer:-data/tokenizers/text.model}

# Stage 2 extracts the training and validation sets' features; a test set's are extracted by stage 5 before it is
# decoded, so adding a test set to test_sets re-runs decoding and scoring only, never training.
featurise() {  # SET: validate data/SET, then its fbank features into dump/SET
    legokit validate "data/$1"
    extract_features "data/$1" "dump/$1"
}

features() {
    featurise "$train_set"
    featurise "$valid_set"
}

# test_features: each test set's features, unless dump/SET/feats.scp is newer than the set's audio list.
test_features() {
    local set f fresh
    for set in $test_sets; do
        fresh=false
        if [ -f "dump/$set/feats.scp" ]; then
            fresh=true
            for f in wav.scp segments utt2spk; do
                [ ! -f "data/$set/$f" ] || [ "dump/$set/feats.scp" -nt "data/$set/$f" ] || fresh=false
            done
        fi
        if [ "$fresh" = true ]; then
            log "dump/$set is newer than data/$set: kept"
            continue
        fi
        featurise "$set"
    done
}

decode_stage() {
    test_features
    decode_sets --feats "dump/{set}/feats.scp"
}

tokenizer() {
    [ -n "$tokenizer" ] && { log "reusing tokenizer $tokenizer"; return 0; }
    mkdir -p data/tokenizers
    legokit tokenizer train --input "data/$train_set/text" --kaldi-text --model-prefix data/tokenizers/text \
        --vocab-size "$vocab" --model-type "$bpe_type"
}

# shellcheck disable=SC2086
run_stage 1 data --env train_set --env valid_set -- local/data.sh $data_args
run_stage 2 features --env train_set --env valid_set -- features
run_stage 3 tokenizer --env train_set --env vocab --env bpe_type --env tokenizer -- tokenizer
# Stages of one experiment keep their done-markers and logs in $exp (so several tags coexist); a
# re-run data/tokenizer stage still re-runs them (run_stage counts earlier stages wherever their markers are).
expdir=$exp
# shellcheck disable=SC2086
run_stage 4 train --fresh "$exp" -- queue train "$exp/log/train.log" -- legokit train --config "$train_config" --out-dir "$exp" \
    data.task=asr data.train_dir="data/$train_set" data.valid_dir="data/$valid_set" \
    data.train_feats="dump/$train_set/feats.scp" data.valid_feats="dump/$valid_set/feats.scp" \
    data.tgt_tokenizer="$spm" $train_args
run_stage 5 decode --env test_sets --config "$decode_config" -- decode_stage
run_stage 6 score --env test_sets --env metrics -- score_sets text
run_stage 7 bricks -- brick_manifests "$exp"
[ ! -f "$exp/RESULTS.md" ] || cat "$exp/RESULTS.md"
