#!/usr/bin/env bash
# Three-brick LegoNN ASR (Dalmia et al., arXiv 2206.03318, the three-module composition): each brick is
# learned inside a different end-to-end model on a different data set, then they are composed:
#   brick 1  speech -> pieces (interface A)        speech encoder of an ASR model on Europarl-ST English
#   brick 2  pieces -> English pieces (interface B) modality-agnostic encoder of an A->B text model on the
#                                                   English side of WMT16 Ro-En
#   brick 3  English pieces -> English text         decoder of the WMT16 De-En LegoNN MT model
# and the composed ASR model is scored zero-shot and fine-tuned on Europarl-ST against a baseline.
#   ./run.sh --ngpu 8                                   everything (db.sh: WMT16, EUROPARL_ST)
#   ./run.sh --de_en_exp ../../lego_reuse_paper/lego1/exp/de_en_lego \
#            --en_tokenizer ../../lego_reuse_paper/lego1/data/tokenizers/en.model   reuse a trained De-En model
# shellcheck source-path=SCRIPTDIR
. utils/common.sh  # strict mode, path.sh, db.sh, stage.sh; the options stage, stop_stage, force, expdir

conf=conf/paper         # config set: mt_lego, asr_pieces, middle, asr_baseline, finetune, decode_asr (.yaml)
nproc=1                 # processes per training run (torchrun --nproc_per_node: GPUs)
nj=8                    # parallel ffmpeg conversions and feature extraction jobs
audio_dir=downloads/europarl_st_flac  # Europarl-ST recordings converted to flac
de_en_exp=""            # a trained De-En LegoNN experiment to take brick 3 from (empty: train it, stage 6)
en_tokenizer=""         # its English sentencepiece model (interface B); empty: trained in stage 5
en_vocab=10000          # size of interface B when trained here
src_vocab=10000         # German sentencepiece size when De-En is trained here
pieces_vocab=300        # size of interface A (brick 1's output pieces)
bpe_type=unigram        # sentencepiece model type
train_args=""           # extra dotted overrides for every legokit train run
help_message="Usage: $0 [options]
Three-brick LegoNN ASR: speech->pieces (Europarl-ST) -> pieces->English pieces (WMT16 Ro-En English)
-> De-En decoder (WMT16 De-En). Stages: 1 De-En data, 2 Ro-En data, 3 Europarl-ST data, 4 features,
5 tokenizers, 6 De-En LegoNN, 7 brick 1 (ASR on pieces), 8 brick 2 (modality-agnostic), 9 compose
(zero-shot), 10 ASR baseline, 11 fine-tune the composed model, 12 decode, 13 score."

. utils/parse_options.sh
. local/paper.sh
recipe_start

[ -d "$conf" ] || { log "no config set $conf (see --conf)"; exit 1; }
de_en=${de_en_exp:-$expdir/de_en_lego}
en_spm=${en_tokenizer:-data/tokenizers/en.model}
pieces_spm=data/tokenizers/pieces.model

tokenizers() {
    mkdir -p data/tokenizers
    legokit tokenizer train --input data/en_speech/train/text --kaldi-text --model-prefix data/tokenizers/pieces \
        --vocab-size "$pieces_vocab" --model-type "$bpe_type"
    [ -n "$de_en_exp" ] && return 0
    legokit tokenizer train --input data/de_en/train/text.en --kaldi-text --model-prefix data/tokenizers/en \
        --vocab-size "$en_vocab" --model-type "$bpe_type"
    legokit tokenizer train --input data/de_en/train/text.de --kaldi-text --model-prefix data/tokenizers/de \
        --vocab-size "$src_vocab" --model-type "$bpe_type"
}

de_en_lego() {
    if [ -n "$de_en_exp" ]; then
        log "reusing the De-En model $de_en_exp"
        return 0
    fi
    train de_en_lego "$conf/mt_lego.yaml" data.task=mt data.src_lang=de data.tgt_lang=en \
        data.train_dir=data/de_en/train data.valid_dir=data/de_en/valid \
        data.src_tokenizer=data/tokenizers/de.model data.tgt_tokenizer="$en_spm"
}

speech_args() {  # speech_args TOKENIZER: data options of a Europarl-ST experiment
    echo data.task=asr data.train_dir=data/en_speech/train data.valid_dir=data/en_speech/valid \
        data.train_feats=dump/en_speech/train/feats.scp data.valid_feats=dump/en_speech/valid/feats.scp \
        data.tgt_tokenizer="$1"
}

paper_data_stages
run_stage 5 tokenizers --env bpe_type --env en_vocab --env src_vocab --env pieces_vocab --env de_en_exp -- tokenizers
run_stage 6 de_en_lego --config "$conf/mt_lego.yaml" --env de_en_exp -- de_en_lego
# shellcheck disable=SC2046  # word splitting of speech_args is intended
run_stage 7 brick1_asr_pieces --config "$conf/asr_pieces.yaml" -- \
    train asr_pieces "$conf/asr_pieces.yaml" $(speech_args "$pieces_spm")
# Brick 2 reads interface A: its training source is English text tokenised with the pieces model.
run_stage 8 brick2_middle --config "$conf/middle.yaml" -- train middle "$conf/middle.yaml" data.task=mt \
    data.src_lang=en data.tgt_lang=en data.train_dir=data/ro_en/train data.valid_dir=data/ro_en/valid \
    data.src_tokenizer="$pieces_spm" data.tgt_tokenizer="$en_spm"
run_stage 9 compose -- legokit compose "$expdir/asr_pieces/bricks/encoder.brick" \
    "$expdir/middle/bricks/encoder.brick" "$de_en/bricks/decoder.brick" -o "$expdir/three_brick_zeroshot/model.pt"
# shellcheck disable=SC2046
run_stage 10 asr_baseline --config "$conf/asr_baseline.yaml" -- \
    train asr_baseline "$conf/asr_baseline.yaml" $(speech_args "$en_spm")
# shellcheck disable=SC2046
run_stage 11 finetune --config "$conf/finetune.yaml" -- train three_brick_finetune "$conf/finetune.yaml" \
    model.init_model="$expdir/three_brick_zeroshot/model.pt" $(speech_args "$en_spm")

decode_all() {
    decode_systems asr_baseline three_brick_zeroshot three_brick_finetune -- --data-dir data/en_speech/test \
        --feats dump/en_speech/test/feats.scp --config "$conf/decode_asr.yaml"
}

score_all() {
    score_systems asr_baseline three_brick_zeroshot three_brick_finetune -- --test-set europarl_st_en_test \
        --ref data/en_speech/test/text --metrics wer,cer
    {
        echo "# Three-brick LegoNN ASR on Europarl-ST English test (WER/CER)"
        echo
        legokit results --compare "$expdir/asr_baseline" "$expdir/three_brick_zeroshot" "$expdir/three_brick_finetune"
    } >"$expdir/RESULTS.md"
}
run_stage 12 decode --config "$conf/decode_asr.yaml" -- decode_all
run_stage 13 score -- score_all

[ ! -f "$expdir/RESULTS.md" ] || cat "$expdir/RESULTS.md"
log "done: table in $expdir/RESULTS.md"
