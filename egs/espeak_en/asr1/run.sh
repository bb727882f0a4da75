#!/usr/bin/env bash
# English ASR on the English side of the Debian De-En data spoken by espeak-ng (8 voices) and Festival (2 voices).
# Test sets never heard in training: data/test (2 espeak-ng accents+voices), data/test_variants (5 new speaker
# variants of the training accents), data/test_festival (Festival's HTS voice slt: another synthesizer family),
# data/test_noisy and data/test_reverb (data/test with unseen noise, with a synthetic room; local/data.sh builds them
# unless --data_args has --robust_tests false, test_noisy not with --noise false: test_sets then leaves them out).
#   ./run.sh                                          CTC-only character Conformer (a LegoNN encoder brick),
#                                                     decoded with a word 3-gram LM (conf/decode_lm.yaml)
#   ./run.sh --stage 5 --decode_config conf/decode.yaml   greedy CTC, no LM (overwrites the decode dirs)
#   ./run.sh --train_config conf/train.yaml --bpe_type unigram --vocab 1000 --decode_config conf/decode.yaml
#                                                     LegoNN encoder + decoder bricks
#   ./run.sh --train_config conf/train_baseline.yaml --bpe_type unigram --vocab 1000 --decode_config conf/decode.yaml
#                                                     joint CTC/attention baseline
set -euo pipefail
data_args=""
for ((i = 1; i < $#; i++)); do [ "${!i}" != --data_args ] || { j=$((i + 1)); data_args=${!j}; }; done
test_sets="test test_variants test_festival"
if [[ " $data_args " != *" --robust_tests false "* ]]; then
    [[ " $data_args " == *" --noise false "* ]] || test_sets+=" test_noisy"
    test_sets+=" test_reverb"
fi
./asr.sh --train_config conf/train_ctc_char.yaml --bpe_type char --vocab 100 --decode_config conf/decode_lm.yaml \
    --test_sets "$test_sets" "$@"
