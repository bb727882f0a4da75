#!/usr/bin/env bash
# Create a new recipe directory that shares egs/TEMPLATE (ESPnet style):
#   egs/TEMPLATE/setup_recipe.sh NEW_DIR [TEMPLATE_TASK]
#   e.g. egs/TEMPLATE/setup_recipe.sh egs/wmt16/mt1 mt1
# makes NEW_DIR with conf/ and local/, symlinks utils/, path.sh and db.sh (and every *.sh staged
# script of egs/TEMPLATE/TEMPLATE_TASK/ except run.sh) with relative links, copies the task's run.sh
# and conf/ as a starting point, and writes a .gitignore for the generated data/, dump/, exp/ and lock files.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [[ $1 == -* ]]; then
    echo "Usage: $0 NEW_RECIPE_DIR [TEMPLATE_TASK]   (e.g. $0 egs/wmt16/mt1 mt1)" >&2
    exit 1
fi
template=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
task=${2:-}
if [ -n "$task" ] && [ ! -d "$template/$task" ]; then
    # shellcheck disable=SC2012  # task names are plain words
    echo "$0: no template task '$task' in $template (have: $(cd "$template" && ls -d -- */ | tr -d / | tr '\n' ' '))" >&2
    exit 1
fi
if [ -e "$1/run.sh" ]; then
    echo "$0: $1/run.sh exists already; not touching an existing recipe" >&2
    exit 1
fi
mkdir -p "$1/conf" "$1/local"
target=$(cd "$1" && pwd)
rel=$(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$template" "$target")
for name in utils path.sh db.sh; do
    ln -sfn "$rel/$name" "$target/$name"
done
if [ -n "$task" ]; then
    for script in "$template/$task"/*.sh; do
        name=${script##*/}
        [ "$name" = run.sh ] || ln -sfn "$rel/$task/$name" "$target/$name"
    done
    [ ! -f "$template/$task/run.sh" ] || cp "$template/$task/run.sh" "$target/run.sh"
    [ ! -d "$template/$task/conf" ] || cp -rn "$template/$task/conf/." "$target/conf/"
fi
printf '%s\n' data/ dump/ exp/ downloads/ .lock .lock.pid > "$target/.gitignore"
echo "Created $target: write run.sh, put configs in conf/ and recipe-only scripts in local/."
