#!/usr/bin/env bash
# WMT16 German->English (newstest2016), LegoNN bricks or the Transformer baseline, at paper scale.
#   ./run.sh --ngpu 8                                      LegoNN De-En (conf/train.yaml) on 8 GPUs
#   ./run.sh --ngpu 8 --train_config conf/train_baseline.yaml   the monolithic Transformer baseline
#   WMT16=/data/wmt16 ./run.sh                              use archives already extracted on disk
#   ./run.sh --help                                         every option
# The English sentencepiece model (data/tokenizers/en.model) is the LegoNN interface vocabulary that
# egs/wmt16_ro_en, egs/europarl_st and egs/lego_reuse_paper reuse.
set -euo pipefail
./mt.sh --src_lang de --tgt_lang en --src_vocab 10000 --tgt_vocab 10000 --bpe_type unigram \
    --train_config conf/train.yaml --decode_config conf/decode.yaml "$@"
