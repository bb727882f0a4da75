#!/usr/bin/env bash
# English ASR on the English side of the Debian De-En data spoken by espeak-ng with varied voices,
# speeds and pitches (test voices unseen in training).
#   ./run.sh                                          LegoNN speech encoder + decoder bricks
#   ./run.sh --train_config conf/train_baseline.yaml  joint CTC/attention baseline
#   ./run.sh --train_config conf/train_ctc_char.yaml --bpe_type char --vocab 200   CTC-only char Conformer (docs/results.md)
set -euo pipefail
./asr.sh --train_config conf/train.yaml --decode_config conf/decode.yaml "$@"
