#!/usr/bin/env bash
# Europarl-ST English ASR (the speech side of LegoNN's decoder reuse), at paper scale.
#   ./run.sh --ngpu 4                                       LegoNN speech encoder + decoder bricks
#   ./run.sh --ngpu 4 --train_config conf/train_baseline.yaml   joint CTC/attention baseline
#   ./run.sh --tokenizer ../../wmt16_de_en/mt1/data/tokenizers/en.model   the De-En interface vocabulary
#   EUROPARL_ST=/data/europarl-st/v1.1 ./run.sh              a release already on disk
#   ./run.sh --ngpu 4 --data_args "--cased true"            train and score on the released cased text
set -euo pipefail
./asr.sh --vocab 10000 --bpe_type unigram --nj 8 --train_config conf/train.yaml \
    --decode_config conf/decode.yaml "$@"
