#!/usr/bin/env bash
# Example staged recipe script: the shape every egs/TEMPLATE/<task>/<task>.sh follows. The commands are
# stand-ins (python3 -c, shell functions); real scripts call `legokit prepare|tokenizer|train|decode|
# score ...`. Run it through run.sh: ./run.sh --help, ./run.sh, ./run.sh --stage 3 --stop_stage 3.
# shellcheck source-path=SCRIPTDIR
. utils/common.sh  # strict mode, path.sh, db.sh, stage.sh; the options stage, stop_stage, force, expdir

# Options: every lower-case variable set here can be given as --name value.
lang=en                        # language of the toy corpus
lr=0.001                       # learning rate passed to the (dummy) trainer
train_config=conf/train.yaml   # trainer config; its contents are part of stage 3's fingerprint
tag=toy                        # experiment tag: results go to $expdir/$tag
help_message="Usage: $0 [options]
Toy recipe showing the stage pattern: 1 prepare, 2 vocabulary, 3 train, 4 score."

. utils/parse_options.sh
recipe_start

# A stage can be a shell function: its body is part of the fingerprint, so editing it re-runs it.
make_vocab() {
    log "counting words of data/$lang/text"
    tr ' ' '\n' <"data/$lang/text" | sort | uniq -c | sort -rn >"data/$lang/vocab.txt"
}

run_stage 1 prepare -- python3 -c '
import pathlib, sys
out = pathlib.Path("data", sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
(out / "text").write_text("the cat sat\nthe dog ran\na cat ran\n")
print("wrote", out / "text")' "$lang"

run_stage 2 vocabulary -- make_vocab

run_stage 3 train --fresh "$expdir/$tag" -- python3 -c '
import json, pathlib, sys, yaml
config, lr, out = yaml.safe_load(open(sys.argv[1])), float(sys.argv[2]), pathlib.Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
for epoch in range(1, config["epochs"] + 1):
    print(f"epoch {epoch} lr {lr} loss {1.0 / (epoch * lr * 1000):.3f}")
(out / "model.json").write_text(json.dumps({"config": config, "lr": lr}))' \
    "$train_config" "$lr" "$expdir/$tag"

run_stage 4 score -- python3 -c '
import json, pathlib, sys
model = json.loads(pathlib.Path(sys.argv[1], "model.json").read_text())
pathlib.Path(sys.argv[1], "RESULTS.md").write_text("# Results\n\nlr=%s: score 42.0\n" % model["lr"])
print(pathlib.Path(sys.argv[1], "RESULTS.md").read_text())' "$expdir/$tag"

log "stages $stage to $stop_stage done; results in $expdir/$tag/RESULTS.md"
