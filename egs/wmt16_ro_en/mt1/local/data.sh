#!/usr/bin/env bash
# Stage 1: the WMT16 data stage of egs/wmt16_de_en for the Ro-En pair (Europarl v8 + SETIMES2,
# newsdev2016, newstest2016). Options as there (--max_words, --max_ratio).
set -euo pipefail
exec ../../wmt16_de_en/mt1/local/data.sh --pair ro-en "$@"
