#!/usr/bin/env bash
# WMT16 Romanian->English (newstest2016): the low-resource pair of LegoNN's decoder reuse, at paper scale.
#   ./run.sh --ngpu 4                                      LegoNN Ro-En trained from scratch
#   ./run.sh --tgt_tokenizer ../../wmt16_de_en/mt1/data/tokenizers/en.model   share De-En's interface
#   ./run.sh --help                                         every option
set -euo pipefail
./mt.sh --src_lang ro --tgt_lang en --src_vocab 10000 --tgt_vocab 10000 --bpe_type unigram \
    --train_config conf/train.yaml --decode_config conf/decode.yaml "$@"
