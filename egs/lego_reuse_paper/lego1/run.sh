#!/usr/bin/env bash
# LegoNN decoder reuse at paper scale (Dalmia et al., arXiv 2206.03318): a WMT16 De-En LegoNN model's
# decoder brick reused, with no fine-tuning, behind a WMT16 Ro-En text encoder brick and a Europarl-ST
# English speech encoder brick (each trained with CTC only on the De-En English interface), then each
# composed model fine-tuned end to end; monolithic baselines on the Ro-En and Europarl data. The same
# stages as egs/lego_reuse/lego1 (Debian data, CPU scale) on the papers' corpora, with torchrun.
#   ./run.sh --ngpu 8                          everything (corpus paths in db.sh: WMT16, EUROPARL_ST)
#   ./run.sh --stage 8 --stop_stage 9           only compose the Ro-En model and fine-tune it
# shellcheck source-path=SCRIPTDIR
. utils/common.sh  # strict mode, path.sh, db.sh, stage.sh; the options stage, stop_stage, force, expdir

conf=conf/paper         # config set: mt_{lego,baseline,encoder,finetune}.yaml, asr_*.yaml, decode_*.yaml
nproc=1                 # processes per training run (torchrun --nproc_per_node: GPUs)
nj=8                    # parallel ffmpeg conversions and feature extraction jobs
audio_dir=downloads/europarl_st_flac  # Europarl-ST recordings converted to flac
en_vocab=10000          # English sentencepiece size: the interface vocabulary (from De-En's English side)
src_vocab=10000         # German and Romanian sentencepiece sizes
bpe_type=unigram        # sentencepiece model type
train_args=""           # extra dotted overrides for every legokit train run
help_message="Usage: $0 [options]
LegoNN decoder reuse on WMT16 De-En/Ro-En and Europarl-ST English ASR.
Stages: 1 De-En data, 2 Ro-En data, 3 Europarl-ST data, 4 features, 5 tokenizers, 6 De-En LegoNN,
7 Ro-En baseline, 8 Ro-En encoder brick, 9 Ro-En compose (zero-shot), 10 Ro-En fine-tune, 11 ASR baseline,
12 ASR encoder brick, 13 ASR compose (zero-shot), 14 ASR fine-tune, 15 decode, 16 score + reuse table."

. utils/parse_options.sh
. local/paper.sh
recipe_start

[ -d "$conf" ] || { log "no config set $conf (see --conf)"; exit 1; }

tokenizers() {
    mkdir -p data/tokenizers
    legokit tokenizer train --input data/de_en/train/text.en --kaldi-text --model-prefix data/tokenizers/en \
        --vocab-size "$en_vocab" --model-type "$bpe_type"
    legokit tokenizer train --input data/de_en/train/text.de --kaldi-text --model-prefix data/tokenizers/de \
        --vocab-size "$src_vocab" --model-type "$bpe_type"
    legokit tokenizer train --input data/ro_en/train/text.ro --kaldi-text --model-prefix data/tokenizers/ro \
        --vocab-size "$src_vocab" --model-type "$bpe_type"
}

mt_args() {  # mt_args SRC PAIR: data options of an MT experiment
    echo data.task=mt data.src_lang="$1" data.tgt_lang=en data.train_dir="data/$2/train" \
        data.valid_dir="data/$2/valid" data.src_tokenizer="data/tokenizers/$1.model" \
        data.tgt_tokenizer=data/tokenizers/en.model
}
asr_args=(data.task=asr data.train_dir=data/en_speech/train data.valid_dir=data/en_speech/valid
          data.train_feats=dump/en_speech/train/feats.scp data.valid_feats=dump/en_speech/valid/feats.scp
          data.tgt_tokenizer=data/tokenizers/en.model)

paper_data_stages
run_stage 5 tokenizers --env bpe_type --env en_vocab --env src_vocab -- tokenizers

# shellcheck disable=SC2046  # word splitting of mt_args is intended
run_stage 6 de_en_lego --config "$conf/mt_lego.yaml" -- train de_en_lego "$conf/mt_lego.yaml" $(mt_args de de_en)
# shellcheck disable=SC2046
run_stage 7 ro_en_baseline --config "$conf/mt_baseline.yaml" -- \
    train ro_en_baseline "$conf/mt_baseline.yaml" $(mt_args ro ro_en)
# shellcheck disable=SC2046
run_stage 8 ro_en_encoder --config "$conf/mt_encoder.yaml" -- \
    train ro_en_encoder "$conf/mt_encoder.yaml" $(mt_args ro ro_en)
run_stage 9 ro_en_compose -- legokit compose "$expdir/ro_en_encoder/bricks/encoder.brick" \
    "$expdir/de_en_lego/bricks/decoder.brick" -o "$expdir/ro_en_zeroshot/model.pt"
# shellcheck disable=SC2046
run_stage 10 ro_en_finetune --config "$conf/mt_finetune.yaml" -- train ro_en_finetune "$conf/mt_finetune.yaml" \
    model.init_model="$expdir/ro_en_zeroshot/model.pt" $(mt_args ro ro_en)

run_stage 11 asr_baseline --config "$conf/asr_baseline.yaml" -- \
    train asr_baseline "$conf/asr_baseline.yaml" "${asr_args[@]}"
run_stage 12 asr_encoder --config "$conf/asr_encoder.yaml" -- \
    train asr_encoder "$conf/asr_encoder.yaml" "${asr_args[@]}"
run_stage 13 asr_compose -- legokit compose "$expdir/asr_encoder/bricks/encoder.brick" \
    "$expdir/de_en_lego/bricks/decoder.brick" -o "$expdir/asr_zeroshot/model.pt"
run_stage 14 asr_finetune --config "$conf/asr_finetune.yaml" -- train asr_finetune "$conf/asr_finetune.yaml" \
    model.init_model="$expdir/asr_zeroshot/model.pt" "${asr_args[@]}"

decode_all() {
    # LegoNN MT systems: joint CTC/attention (decode_mt_lego.yaml); the baseline has no CTC head
    decode_systems de_en_lego -- --data-dir data/de_en/test --src-lang de --config "$conf/decode_mt_lego.yaml"
    decode_systems ro_en_baseline -- --data-dir data/ro_en/test --src-lang ro --config "$conf/decode_mt.yaml"
    decode_systems ro_en_zeroshot ro_en_finetune -- --data-dir data/ro_en/test --src-lang ro \
        --config "$conf/decode_mt_lego.yaml"
    decode_systems asr_baseline asr_zeroshot asr_finetune -- --data-dir data/en_speech/test \
        --feats dump/en_speech/test/feats.scp --config "$conf/decode_asr.yaml"
}

score_all() {
    score_systems de_en_lego -- --test-set wmt16_de_en_newstest2016 --ref data/de_en/test/text.en --metrics bleu,chrf
    score_systems ro_en_baseline ro_en_zeroshot ro_en_finetune -- --test-set wmt16_ro_en_newstest2016 \
        --ref data/ro_en/test/text.en --metrics bleu,chrf
    score_systems asr_baseline asr_zeroshot asr_finetune -- --test-set europarl_st_en_test \
        --ref data/en_speech/test/text --metrics wer,cer
    legokit table reuse --exp-dir "$expdir" --out "$expdir/RESULTS.md" >/dev/null
}
run_stage 15 decode --config "$conf/decode_mt.yaml" --config "$conf/decode_mt_lego.yaml" --config "$conf/decode_asr.yaml" \
    -- decode_all
run_stage 16 score -- score_all

[ ! -f "$expdir/RESULTS.md" ] || cat "$expdir/RESULTS.md"
log "done: table in $expdir/RESULTS.md; bricks in $expdir/*/bricks/"
