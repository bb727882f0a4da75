#!/usr/bin/env bash
# Stage 1: De-En text from Debian packages, then its English side spoken by espeak-ng into Kaldi speech
# dirs data/{train,valid,test} (16 kHz wav, text, utt2spk). Options: --max_train N --max_eval N --nj N.
set -euo pipefail
max_train=3000
max_eval=300
nj=2
. utils/parse_options.sh
legokit prepare debian-mt --pair de-en --out data/text --download-dir downloads
legokit prepare espeak-speech --text-dir data/text --out data --speak en --target en --splits train \
    --max-utts "$max_train" --nj "$nj"
legokit prepare espeak-speech --text-dir data/text --out data --speak en --target en --splits valid test \
    --max-utts "$max_eval" --nj "$nj"
