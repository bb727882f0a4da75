#!/usr/bin/env bash
# Ro-En MT on parallel text from Debian packages (see local/data.sh and docs/data_sources.md).
#   ./run.sh                                   LegoNN bricks (conf/train.yaml)
#   ./run.sh --train_config conf/train_baseline.yaml   the monolithic Transformer baseline
#   ./run.sh --help                            every option
set -euo pipefail
./mt.sh --src_lang ro --tgt_lang en --train_config conf/train.yaml --decode_config conf/decode.yaml "$@"
