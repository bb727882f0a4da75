#!/usr/bin/env bash
# Stage 1: the How2 2000 h release ($HOW2 in db.sh; distributed on request, see README.md) -> Kaldi dirs
# data/{train,valid,test} (text = summary, transcript = the video's ASR utterances joined) and
# data/asr_{train,valid,test} (utterance-level ASR pre-training sets), plus feature dumps dump/<set>/
# converted from the released Kaldi fbank+pitch arks (there is no audio to compute features from).
# Options: --max_frames N keeps the first N frames of each video (0: all; restricted attention needs no cut).
set -euo pipefail
max_frames=0
. ./db.sh
. utils/parse_options.sh
legokit corpus prepare how2 --download --root "$HOW2" --out data --dump-dir dump --max-frames "$max_frames"
