#!/usr/bin/env bash
# Example recipe (the thin run.sh every egs/<corpus>/<task>/ has): it sets this corpus's defaults and
# hands them, plus the user's own options ("$@", which come last and win), to the staged script.
#   ./run.sh                          run all stages (finished ones are skipped)
#   ./run.sh --stage 3 --stop_stage 3 run one stage
#   ./run.sh --lr 0.01                changed options re-run the stages that use them
#   ./run.sh --help                   all options with their values
set -euo pipefail

lang=en
train_config=conf/train.yaml
lr=0.002

./example.sh \
    --lang "$lang" \
    --train_config "$train_config" \
    --lr "$lr" \
    "$@"
