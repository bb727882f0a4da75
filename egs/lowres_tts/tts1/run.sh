#!/usr/bin/env bash
# Low-resource TTS by transfer learning: pre-train on festvox-ru (real Russian speech), fine-tune on small
# espeak-ng target sets in three conditions, score by ASR CER and DNSMOS (docs/tts.md).
#   ./run.sh                          the short configuration: target kk, small models (conf/*_short.yaml)
#   ./run.sh --config conf/long.conf  the documented configuration (targets bg ka kk sw ur uz, larger models)
#   ./run.sh --help                   all options
set -euo pipefail

./tts.sh "$@"
