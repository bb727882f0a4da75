#!/usr/bin/env bash
# Speech summarisation on Debian package descriptions spoken by espeak-ng (see docs/summarization.md):
# ASR pre-training, E2E summarisation fine-tuning (restricted-attention Conformer), cascade baseline, ROUGE.
#   ./run.sh                       conf/medium on 2,000 documents: 73 min on 2 cores, E2E beats the cascade
#   ./run.sh --conf conf/demo --data_args "--max_train 300"   plumbing check in minutes (learns nothing)
#   ./run.sh --conf conf/paper     ESPnet How2 sizes (12 Conformer blocks, w = 20/40 and 40/60): GPU scale
#   ./run.sh --data_args "--max_train 5000 --max_words 120"   more and longer documents
#   ./run.sh --stage 7             re-decode and re-score only;  ./run.sh --help  for every option
set -euo pipefail
./sum.sh --vocab 500 --conf conf/medium "$@"
