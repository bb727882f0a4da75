#!/usr/bin/env bash
# Stage 1: Debian package descriptions (document = long description, summary = synopsis), the documents
# spoken by espeak-ng as long audio: Kaldi speech dirs data/{train,valid,test} with text = summary and
# transcript = document (test voices unseen in training). Options: --min_words --max_words (document
# length in words), --max_train, --valid_size, --test_size (documents), --nj.
set -euo pipefail
min_words=15
max_words=30
max_train=2000
valid_size=40
test_size=80
nj=2
. utils/parse_options.sh
legokit prepare debian-sum --out data/debsum --download-dir downloads --min-words "$min_words" \
    --max-words "$max_words" --valid-size "$valid_size" --test-size "$test_size"
legokit prepare espeak-speech --text-dir data/debsum --out data --speak doc --target sum --splits train \
    --max-utts "$max_train" --nj "$nj"
legokit prepare espeak-speech --text-dir data/debsum --out data --speak doc --target sum --splits valid test \
    --nj "$nj"
