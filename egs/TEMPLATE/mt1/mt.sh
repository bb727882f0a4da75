#!/usr/bin/env bash
# Staged machine translation recipe (ESPnet style): one model, baseline or LegoNN bricks, per config.
# Stages: 1 data (local/data.sh), 2 tokenizers, 3 train, 4 decode, 5 score, 6 bricks (inspect exports).
# shellcheck source-path=SCRIPTDIR
. utils/common.sh  # strict mode, path.sh, db.sh, stage.sh; the options stage, stop_stage, force, expdir

src_lang=de                  # source language: data/<set>/text.<src_lang>
tgt_lang=en                  # target language: data/<set>/text.<tgt_lang>
data_args=""                 # extra arguments for local/data.sh (stage 1)
train_set=train              # training data dir under data/
valid_set=valid              # validation data dir under data/
test_sets=test               # space-separated test data dirs under data/
src_vocab=1000               # source sentencepiece size
tgt_vocab=1000               # target sentencepiece size (the interface vocabulary of LegoNN bricks)
bpe_type=unigram             # sentencepiece model type: unigram, bpe, char, word
tgt_tokenizer=""             # reuse this target sentencepiece model (e.g. another recipe's, to share bricks)
train_config=conf/train.yaml # experiment config (legokit train); see docs/training.md
train_args=""                # extra dotted overrides for legokit train, e.g. "optim.lr=1e-3"
decode_config=conf/decode.yaml # decoding config (legokit decode)
tag=""                       # experiment name (default: the train config's file name)
nproc=1                      # processes for training (torchrun --nproc_per_node; GPUs or CPU workers)
metrics=bleu,chrf            # scores written to RESULTS.md
help_message="Usage: $0 [options]
Machine translation: 1 data, 2 tokenizers, 3 train, 4 decode, 5 score, 6 bricks."

. utils/parse_options.sh
recipe_start

tag=${tag:-$(basename "${train_config%.*}")}
exp=$expdir/$tag
src_spm=data/tokenizers/${src_lang}.model
tgt_spm=${tgt_tokenizer:-data/tokenizers/${tgt_lang}.model}

tokenizers() {
    mkdir -p data/tokenizers
    legokit tokenizer train --input "data/$train_set/text.$src_lang" --kaldi-text \
        --model-prefix "data/tokenizers/$src_lang" --vocab-size "$src_vocab" --model-type "$bpe_type"
    if [ -z "$tgt_tokenizer" ]; then
        legokit tokenizer train --input "data/$train_set/text.$tgt_lang" --kaldi-text \
            --model-prefix "data/tokenizers/$tgt_lang" --vocab-size "$tgt_vocab" --model-type "$bpe_type"
    fi
}

# shellcheck disable=SC2086  # data_args and train_args are word lists
run_stage 1 data --env train_set --env valid_set --env test_sets -- local/data.sh $data_args
run_stage 2 tokenizers --env train_set --env src_lang --env tgt_lang --env src_vocab --env tgt_vocab --env bpe_type \
    --env tgt_tokenizer -- tokenizers
# Stages of one experiment keep their done-markers and logs in $exp (so several tags coexist); a
# re-run data/tokenizer stage still re-runs them (run_stage counts earlier stages wherever their markers are).
expdir=$exp
# shellcheck disable=SC2086
run_stage 3 train --fresh "$exp" -- queue train "$exp/log/train.log" -- legokit train --config "$train_config" --out-dir "$exp" \
    data.task=mt data.src_lang="$src_lang" data.tgt_lang="$tgt_lang" data.train_dir="data/$train_set" \
    data.valid_dir="data/$valid_set" data.src_tokenizer="$src_spm" data.tgt_tokenizer="$tgt_spm" $train_args
run_stage 4 decode --env test_sets --env src_lang --config "$decode_config" -- decode_sets --src-lang "$src_lang"
run_stage 5 score --env test_sets --env tgt_lang --env metrics -- score_sets "text.$tgt_lang"
run_stage 6 bricks -- brick_manifests "$exp"
[ ! -f "$exp/RESULTS.md" ] || cat "$exp/RESULTS.md"
