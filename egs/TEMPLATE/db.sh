#!/usr/bin/env bash
# Corpus roots, sourced by every recipe (recipes hold a symlink to this file). Edit the paths for your
# site, or export the variable before running a recipe (the environment wins). A recipe's download
# stage fills an empty or missing root when the network allows; otherwise it stops and names the
# variable to set. Upper case on purpose: these are not recipe options.

# Europarl-ST v1.1 (speech translation + English ASR), https://www.mllp.upv.es/europarl-st/
EUROPARL_ST=${EUROPARL_ST:-downloads/europarl-st}
# WMT16 news translation (De-En and Ro-En), https://www.statmt.org/wmt16/translation-task.html
WMT16=${WMT16:-downloads/wmt16}
# How2 (2000 h, speech summarisation), https://github.com/srvk/how2-dataset (access on request)
HOW2=${HOW2:-downloads/how2}
# Low-resource TTS: CSS10/Common Voice style corpora per language (see egs/*/tts1/README.md)
TTS_CORPORA=${TTS_CORPORA:-downloads/tts}
# Debian-package data that can be had offline (see docs/data_sources.md)
DEBIAN_DATA=${DEBIAN_DATA:-downloads/debian}
