#!/usr/bin/env bash
# Stage 1: Europarl-ST v1.1 English speech -> validated Kaldi speech dirs data/{train,valid,test} (wav.scp,
# segments, text, utt2spk). Downloads the release (resumable) unless $EUROPARL_ST in db.sh holds it
# already. The English segments of every en-X pair are pooled and de-duplicated; talks of any dev/test
# set are kept out of train. The m4a recordings are converted once to 16 kHz mono flac with ffmpeg
# (needs ffmpeg on PATH) into $audio_dir. Options: --audio_dir DIR, --nj N (parallel ffmpeg), --targets "de fr",
# --cased true (text keeps the released casing and punctuation; default: lower-cased, no punctuation).
set -euo pipefail
audio_dir=downloads/europarl_st_flac
nj=4
targets=""
cased=false
. ./db.sh
. utils/parse_options.sh
[ "$cased" = true ] || cased=""  # parse_options.sh accepts only true/false
# shellcheck disable=SC2086  # targets is a word list
legokit corpus prepare europarl-st --download --root "$EUROPARL_ST" --out data --audio-dir "$audio_dir" \
    --nj "$nj" ${targets:+--targets $targets} ${cased:+--cased}
