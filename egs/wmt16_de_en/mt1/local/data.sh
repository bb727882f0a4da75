#!/usr/bin/env bash
# Stage 1 of the WMT16 recipes: download (resumable; skipped when $WMT16 in db.sh already holds the
# extracted archives), prepare and validate data/{train,valid,test}/text.{<src>,en}:
#   train  de-en: Europarl v7 + CommonCrawl + News Commentary v11;  ro-en: Europarl v8 + SETIMES2
#   valid  de-en: newstest2015;  ro-en: newsdev2016        test  newstest2016 (sacrebleu -t wmt16)
# Options: --pair de-en|ro-en, --max_words N and --max_ratio R (Moses clean-corpus-n, as in fairseq).
set -euo pipefail
pair=de-en
max_words=250
max_ratio=1.5
. ./db.sh
. utils/parse_options.sh
legokit corpus prepare wmt16 --download --root "$WMT16" --pair "$pair" --out data --max-words "$max_words" \
    --max-ratio "$max_ratio"
