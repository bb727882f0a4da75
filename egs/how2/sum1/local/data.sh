#!/usr/bin/env bash
# Stage 1: the How2 2000 h release ($HOW2 in db.sh; distributed on request, see README.md) -> Kaldi dirs
# data/{train,valid,test} (text = summary, transcript = the video's ASR utterances joined in order of their
# start time in segments) and data/asr_{train,valid,test} (the utterance sets *_utt, for ASR pre-training),
# plus feature dumps dump/<set>/ converted from the released Kaldi fbank+pitch arks (there is no audio).
# Options: --max_duration S: train/valid keep inputs of 0.1 s < duration < S seconds (ESPnet's mdur=100; 0: all;
#          what is left out is listed in dump/<set>/skipped); --max_frames N keeps the first N frames of each
#          video (0: all; restricted attention needs no cut).
set -euo pipefail
max_frames=0
max_duration=100
. ./db.sh
. utils/parse_options.sh
legokit corpus prepare how2 --download --root "$HOW2" --out data --dump-dir dump --max-frames "$max_frames" \
    --max-duration "$max_duration"
