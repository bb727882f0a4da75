#!/usr/bin/env bash
# Staged speech summarisation recipe (Sharma et al., ICASSP 2022; ESPnet egs2/how2_2000h/sum1), ESPnet style.
#
# Data dirs (stage 1, local/data.sh) are Kaldi speech dirs whose `text` is the summary and whose
# `transcript` is what is spoken. A Conformer with restricted self-attention is pre-trained for ASR
# (targets = transcript), then fine-tuned end to end for summarisation (targets = text) starting from
# the ASR model's encoder (without its CTC head) and decoder. The cascade baseline decodes the test
# speech with the ASR model and summarises the hypotheses with a text summariser trained on the
# training transcripts; a topline runs that summariser on the reference transcripts. A lead baseline (the
# first words of the reference transcript, and of the ASR transcript) shows what copying alone scores.
# ROUGE-1/2/L of all systems land in $expdir/RESULTS.md, with a paired bootstrap test of E2E vs cascade.
# See docs/summarization.md.
# shellcheck source-path=SCRIPTDIR
. utils/common.sh  # strict mode, path.sh, db.sh, stage.sh; the options stage, stop_stage, force, expdir

conf=conf/demo               # config set: asr.yaml sum.yaml text_sum.yaml decode_{asr,sum,text_sum}.yaml
data_args=""                 # extra arguments for local/data.sh (stage 1)
train_set=train              # summarisation training dir under data/ (wav.scp, text = summary, transcript)
valid_set=valid              # summarisation validation dir under data/
test_sets=test               # space-separated summarisation test dirs under data/
asr_train_set=""             # ASR pre-training dir under data/ (default: train_set; How2: utterance-level set)
asr_valid_set=""             # ASR validation dir under data/ (default: valid_set)
transcript=transcript        # file of each data dir holding the spoken words (ASR targets, cascade input)
nj=2                         # parallel feature extraction jobs
vocab=1000                   # sentencepiece size, shared by transcripts and summaries
bpe_type=unigram             # sentencepiece model type: unigram, bpe, char, word
train_args=""                # extra dotted overrides for every legokit train run
nproc=1                      # processes per training run (torchrun --nproc_per_node)
sum_metrics=rouge,meteor     # summary scores (METEOR: nltk + WordNet from Debian's wordnet-base, fetched once)
lead_words=0                 # lead baseline: first N words of each transcript (0: mean training summary length)
help_message="Usage: $0 [options]
Speech summarisation: 1 data, 2 features, 3 tokenizer, 4 ASR pre-training, 5 E2E summarisation
fine-tuning, 6 cascade text summariser, 7 decode (E2E, ASR, cascade, topline), 8 score (ROUGE, WER)."

. utils/parse_options.sh
recipe_start

[ -d "$conf" ] || { log "no config set $conf (see --conf)"; exit 1; }
asr_train_set=${asr_train_set:-$train_set}
asr_valid_set=${asr_valid_set:-$valid_set}
spm=data/tokenizers/sum.model
asr_exp=$expdir/asr_pretrain
sum_exp=$expdir/sum_e2e
text_exp=$expdir/text_sum


speech_sets() {  # every speech dir, once
    printf '%s\n' "$asr_train_set" "$asr_valid_set" "$train_set" "$valid_set" $test_sets | awk '!seen[$0]++'
}

features() {
    local set
    for set in $(speech_sets); do
        legokit validate "data/$set"
        extract_features "data/$set" "dump/$set"
    done
}

tokenizer() {
    mkdir -p data/tokenizers
    legokit tokenizer train --input "data/$asr_train_set/$transcript" "data/$train_set/text" --kaldi-text \
        --model-prefix data/tokenizers/sum --vocab-size "$vocab" --model-type "$bpe_type"
}

speech_args() {  # speech_args TRAIN VALID: data options of a speech experiment
    echo data.task=asr data.train_dir="data/$1" data.valid_dir="data/$2" data.train_feats="dump/$1/feats.scp" \
        data.valid_feats="dump/$2/feats.scp" data.tgt_tokenizer="$spm"
}

text_dirs() {  # MT-style dirs text.doc (transcript) / text.sum (summary) for the cascade's text summariser
    local set
    for set in "$train_set" "$valid_set" $test_sets; do
        mkdir -p "data/text_sum/$set"
        cp "data/$set/$transcript" "data/text_sum/$set/text.doc"
        cp "data/$set/text" "data/text_sum/$set/text.sum"
    done
}

text_summariser() {
    text_dirs
    # shellcheck disable=SC2086
    queue train "$text_exp/log/train.log" -- legokit train --config "$conf/text_sum.yaml" --out-dir "$text_exp" \
        data.task=mt data.src_lang=doc \
        data.tgt_lang=sum data.train_dir="data/text_sum/$train_set" data.valid_dir="data/text_sum/$valid_set" \
        data.src_tokenizer="$spm" data.tgt_tokenizer="$spm" $train_args
}

decode_all() {
    local set
    for set in $test_sets; do
        decode_data "data/$set" "$sum_exp/decode_$set" --model "$sum_exp/model.pt" --feats "dump/$set/feats.scp" \
            --config "$conf/decode_sum.yaml"
        decode_data "data/$set" "$asr_exp/decode_$set" --model "$asr_exp/model.pt" --feats "dump/$set/feats.scp" \
            --config "$conf/decode_asr.yaml"
        mkdir -p "$expdir/cascade/asr_$set"
        cp "$asr_exp/decode_$set/hyp" "$expdir/cascade/asr_$set/text.doc"
        decode_data "$expdir/cascade/asr_$set" "$expdir/cascade/decode_$set" --model "$text_exp/model.pt" \
            --src-lang doc --config "$conf/decode_text_sum.yaml"
        decode_data "data/text_sum/$set" "$text_exp/decode_$set" --model "$text_exp/model.pt" --src-lang doc \
            --config "$conf/decode_text_sum.yaml"
    done
}

lead() {  # lead N KALDI_TEXT: the first N words of each line, ids kept
    awk -v n="$1" '{ line = $1; for (i = 2; i <= NF && i <= n + 1; i++) line = line " " $i; print line }' "$2"
}

mean_words() {  # mean_words KALDI_TEXT: mean number of words per line (rounded), ids excluded
    awk '{ words += NF - 1 } END { if (NR == 0) { print 0 } else { printf "%d\n", words / NR + 0.5 } }' "$1"
}

score_all() {
    local set n=$lead_words
    [ "$n" -gt 0 ] || n=$(mean_words "data/$train_set/text")
    log "lead baseline: first $n words of each transcript"
    for set in $test_sets; do
        legokit results --exp-dir "$asr_exp" --test-set "$set" --ref "data/$set/$transcript" \
            --hyp "$asr_exp/decode_$set/hyp" --kaldi --metrics wer,cer
        legokit results --exp-dir "$sum_exp" --test-set "$set" --ref "data/$set/text" \
            --hyp "$sum_exp/decode_$set/hyp" --kaldi --metrics "$sum_metrics"
        legokit results --exp-dir "$expdir/cascade" --test-set "$set" --config "$text_exp/config.yaml" \
            --ref "data/$set/text" --hyp "$expdir/cascade/decode_$set/hyp" --kaldi --metrics "$sum_metrics"
        legokit results --exp-dir "$text_exp" --test-set "${set}_reference_transcripts" \
            --ref "data/$set/text" --hyp "$text_exp/decode_$set/hyp" --kaldi --metrics "$sum_metrics"
        mkdir -p "$expdir/lead$n/decode_$set"
        lead "$n" "data/$set/$transcript" >"$expdir/lead$n/decode_$set/hyp_reference_transcripts"
        lead "$n" "$asr_exp/decode_$set/hyp" >"$expdir/lead$n/decode_$set/hyp_asr"
        legokit results --exp-dir "$expdir/lead$n" --test-set "${set}_asr" --ref "data/$set/text" \
            --hyp "$expdir/lead$n/decode_$set/hyp_asr" --kaldi --metrics "$sum_metrics"
        legokit results --exp-dir "$expdir/lead$n" --test-set "${set}_reference_transcripts" --ref "data/$set/text" \
            --hyp "$expdir/lead$n/decode_$set/hyp_reference_transcripts" --kaldi --metrics "$sum_metrics"
        legokit score all --metrics "$sum_metrics" --ref "data/$set/text" --hyp "$sum_exp/decode_$set/hyp" \
            --compare "$expdir/cascade/decode_$set/hyp" --kaldi --output "$expdir/significance_$set.json" \
            >"$expdir/significance_$set.md"
    done
    {
        echo "# Speech summarisation: E2E vs cascade (ROUGE F1 and METEOR x100) and the ASR model (WER/CER)"
        echo
        legokit results --compare "$sum_exp" "$expdir/cascade" "$text_exp" "$expdir/lead$n" "$asr_exp"
        for set in $test_sets; do
            echo
            echo "## $set: E2E (A) vs cascade (B), paired bootstrap"
            echo
            cat "$expdir/significance_$set.md"
        done
    } >"$expdir/RESULTS.md"
}

# shellcheck disable=SC2086  # data_args is a word list
run_stage 1 data -- local/data.sh $data_args
run_stage 2 features --env train_set --env valid_set --env test_sets --env asr_train_set -- features
run_stage 3 tokenizer --env train_set --env vocab --env bpe_type --env transcript --env asr_train_set -- tokenizer
# shellcheck disable=SC2046,SC2086  # word splitting of speech_args and train_args is intended
run_stage 4 asr_pretrain --config "$conf/asr.yaml" --fresh "$asr_exp" -- \
    queue train "$asr_exp/log/train.log" -- legokit train --config "$conf/asr.yaml" \
    --out-dir "$asr_exp" $(speech_args "$asr_train_set" "$asr_valid_set") data.target_file="$transcript" $train_args
# shellcheck disable=SC2046,SC2086
run_stage 5 sum_finetune --config "$conf/sum.yaml" --fresh "$sum_exp" -- \
    queue train "$sum_exp/log/train.log" -- legokit train --config "$conf/sum.yaml" \
    --out-dir "$sum_exp" $(speech_args "$train_set" "$valid_set") \
    model.init_encoder="$asr_exp/bricks/encoder.brick" model.init_encoder_skip_ctc=true \
    model.init_decoder="$asr_exp/bricks/decoder.brick" $train_args
run_stage 6 text_summariser --config "$conf/text_sum.yaml" --env train_args --env transcript --env train_set --env valid_set -- text_summariser
run_stage 7 decode --config "$conf/decode_sum.yaml" --config "$conf/decode_asr.yaml" \
    --config "$conf/decode_text_sum.yaml" -- decode_all
run_stage 8 score --env test_sets --env transcript --env sum_metrics --env lead_words --env train_set -- score_all
[ ! -f "$expdir/RESULTS.md" ] || cat "$expdir/RESULTS.md"
log "done: table in $expdir/RESULTS.md"
