#!/usr/bin/env bash
# Stage 1: de-en pairs from Debian packages (gettext catalogs, Ding, DDTP), filtered, de-duplicated,
# split by hash into data/{train,valid,test}/text.{de,en}. Cached in downloads/. Extra options
# (e.g. --max-pairs 10000) are passed on to `legokit prepare debian-mt`.
set -euo pipefail
legokit prepare debian-mt --pair de-en --out data --download-dir downloads "$@"
legokit validate data/train --langs de en
