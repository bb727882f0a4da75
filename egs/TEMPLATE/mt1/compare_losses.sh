#!/usr/bin/env bash
# Training-loss comparison (Raunak et al. 2020, "On Long-Tailed Phenomena in NMT"): the same model and
# budget trained with CE, CE + label smoothing, Anti-Focal, and label-smoothed Anti-Focal, several seeds;
# BLEU, chrF and the F-measure of rare words in $expdir/losses.md. Runs from an MT recipe dir (after
# its stages 1-2: data and tokenizers), reusing mt.sh for training, decoding and scoring.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. ./path.sh

expdir=exp                            # experiments (loss_<name>_s<seed>/ each)
src_lang=de                           # source language
tgt_lang=en                           # target language
data_args=""                          # extra arguments for the data stage (local/data.sh), e.g. "--sources mo-gcc"
train_config=conf/train_baseline.yaml # the model trained with every loss
decode_config=conf/decode.yaml        # decoding config
losses="ce ce_ls af ls_af"            # which losses (ce, ce_ls, af, ls_af)
seeds="1 2 3"                         # training seeds per loss
smoothing=0.1                         # label smoothing epsilon of ce_ls and ls_af
gamma=1.0                             # Anti-Focal gamma
alpha=0.5                             # Anti-Focal alpha (ls_af uses the paper's (1 + p)^gamma, alpha 1)
help_message="Usage: $0 [options]
Train the same MT model with each loss and seed, decode, score, and tabulate with long-tail analysis."
. utils/parse_options.sh

loss_args() {
    case $1 in
        ce) echo "loss.decoder.name=ce loss.decoder.label_smoothing=0.0" ;;
        ce_ls) echo "loss.decoder.name=ce loss.decoder.label_smoothing=$smoothing" ;;
        af) echo "loss.decoder.name=anti_focal loss.decoder.label_smoothing=0.0 loss.decoder.gamma=$gamma loss.decoder.alpha=$alpha" ;;
        ls_af) echo "loss.decoder.name=anti_focal loss.decoder.label_smoothing=$smoothing loss.decoder.gamma=$gamma" ;;
        *) echo "compare_losses.sh: unknown loss '$1' (ce, ce_ls, af, ls_af)" >&2; exit 1 ;;
    esac
}

./mt.sh --stop_stage 2 --src_lang "$src_lang" --tgt_lang "$tgt_lang" --data_args "$data_args"
hyps=() labels=()
for loss in $losses; do
    for seed in $seeds; do
        tag=loss_${loss}_s${seed}
        ./mt.sh --stage 3 --stop_stage 5 --src_lang "$src_lang" --tgt_lang "$tgt_lang" --tag "$tag" \
            --train_config "$train_config" --decode_config "$decode_config" \
            --train_args "$(loss_args "$loss") train.seed=$seed"
        hyps+=("$expdir/$tag/decode_test/hyp") labels+=("${loss}_s${seed}")
    done
done
legokit analyze longtail --train-ref "data/train/text.$tgt_lang" --ref "data/test/text.$tgt_lang" \
    --hyp "${hyps[@]}" --labels "$(IFS=,; echo "${labels[*]}")" --kaldi \
    --png "$expdir/longtail.png" --json "$expdir/longtail.json" >"$expdir/longtail.txt"
legokit table losses --exp-dir "$expdir" --losses "$(echo "$losses" | tr ' ' ,)" \
    --seeds "$(echo "$seeds" | tr ' ' ,)" --longtail "$expdir/longtail.json" --out "$expdir/losses.md"
