#!/usr/bin/env bash
# Three-brick LegoNN ASR at demo size, on the data this repository can make offline (README.md, "Demo on
# espeak-ng English"): the same composition as run.sh, each brick learned in a different model:
#   brick 1  speech -> characters (interface A)   the CTC character Conformer of egs/espeak_en/asr1 (--asr_exp)
#   brick 2  characters -> English pieces (B)     trained here on text only: the English side of the Debian De-En
#                                                 training split, its ASR form (lower-case, no punctuation) read
#                                                 as one-hot marginals over A, its cased form in B pieces as target
#   brick 3  English pieces -> English text       the decoder of egs/lego_reuse/lego1's demo De-En LegoNN model
#                                                 (--de_en_exp, --en_tokenizer)
# composed with `legokit compose`, decoded zero-shot, fine-tuned briefly on the espeak_en training speech,
# decoded again, and scored against the espeak_en model itself (brick 1's experiment: its hypotheses with the
# word LM and greedy, which egs/espeak_en/asr1 decoded) with paired bootstrap (`legokit score wer --compare`).
#   ./run_espeak.sh                        needs egs/espeak_en/asr1 run (data, dump, the experiment) and
#                                          egs/lego_reuse/lego1's de_en_lego (`make demo`)
#   ./run_espeak.sh --config conf/reuse.conf   the same chain on egs/lego_reuse/lego1's speech and text, against
#                                          its ASR systems (needs its long preset run with --asr_char_init true:
#                                          brick 1 is its asr_encoder_char, brick 3 its de_en_lego's decoder)
# Nothing is written in the espeak_en or lego_reuse recipe dirs; everything goes to $expdir and $text.
# shellcheck source-path=SCRIPTDIR
. utils/common.sh  # strict mode, path.sh, db.sh, stage.sh; the options stage, stop_stage, force, expdir
expdir=exp/espeak

conf=conf/espeak                 # config set: middle, finetune, decode_asr (.yaml)
espeak_dir=../../espeak_en/asr1  # the espeak_en recipe: data/text (De-En text), data/<set>, dump/<set>
asr_exp=../../espeak_en/asr1/exp/train_ctc_char_6k  # brick 1 (bricks/encoder.brick) and the baseline system
asr_tokenizer=../../espeak_en/asr1/data/tokenizers/text.model  # brick 1's character vocabulary (interface A)
baseline_exp=""                  # the experiment dir of the baseline hypotheses ("": asr_exp, brick 1's own model)
baseline_hyps="decode_{set}/hyp greedy/hyp_{set}"  # baseline hypotheses in baseline_exp, one per system ({set}: test set)
baseline_names="lm greedy"       # names of those systems in RESULTS.md, in the same order
text_dir=""                      # brick 2's text: <dir>/{train,valid}/text.en ("": espeak_dir/data/text)
speech_data=""                   # the speech data dirs <dir>/<set> ("": espeak_dir/data)
speech_dump=""                   # their feature dumps <dir>/<set>/feats.scp ("": espeak_dir/dump)
asr_form=normalised              # what brick 1 writes and WER scores: normalised (lower-case, no punctuation) or cased
target_file=text.cased           # fine-tuning targets in each speech data dir (the decoder's cased English)
de_en_exp=../../lego_reuse/lego1/exp/de_en_lego  # a De-En LegoNN experiment: brick 3 is its bricks/decoder.brick
en_tokenizer=../../lego_reuse/lego1/data/tokenizers/en.model  # its English pieces model (interface B)
test_sets="test test_variants test_festival"  # espeak_en test sets to decode and score
# brick1_epochs: as many as a baseline that started from brick 1 trained (conf/reuse.conf: 5, lego_reuse's asr_baseline)
brick1_epochs=0                  # N > 0: stage 3 trains brick 1 N more epochs (CTC, $conf/brick1.yaml); 0: as it is
train_args=""                    # extra dotted overrides for every legokit train run
help_message="Usage: $0 [options]
Three-brick LegoNN ASR at demo size: espeak_en's character CTC encoder -> characters->English pieces brick
(trained here on text) -> the demo De-En LegoNN decoder. Stages: 1 brick 2's text data, 2 brick 2, 3 brick 1's
further training (only with --brick1_epochs N), 4 compose (zero-shot), 5 fine-tune the composed model on the
training speech, 6 decode, 7 score against the baseline systems (paired bootstrap) into \$expdir/RESULTS.md.
--config conf/reuse.conf: the same on egs/lego_reuse/lego1's data, bricks and ASR systems."

. utils/parse_options.sh
recipe_start
text_dir=${text_dir:-$espeak_dir/data/text}
speech_data=${speech_data:-$espeak_dir/data}
speech_dump=${speech_dump:-$espeak_dir/dump}
baseline_exp=${baseline_exp:-$asr_exp}
[[ $brick1_epochs =~ ^[0-9]+$ ]] || { log "--brick1_epochs: expected a whole number of epochs, got '$brick1_epochs'"; exit 1; }
# stage 3 writes (and on a fresh start moves aside) $expdir/brick1: never brick 1's own experiment
[ "$brick1_epochs" -eq 0 ] || [ "$(realpath -m "$asr_exp")" != "$(realpath -m "$expdir/brick1")" ] ||
    { log "--asr_exp $asr_exp is where stage 3 writes (--expdir $expdir, brick1): give another --expdir"; exit 1; }
case $asr_form in
    normalised | cased) ;;
    *) log "--asr_form: expected normalised or cased, got '$asr_form'"; exit 1 ;;
esac

[ -d "$conf" ] || { log "no config set $conf (see --conf)"; exit 1; }
# brick 2 (stages 1-2) needs only the two vocabularies; the bricks are checked when stage 3 or 4 reads them
needed=("$asr_tokenizer" "$en_tokenizer")
[ "$stage" -gt 4 ] || [ "$stop_stage" -lt 3 ] || needed+=("$asr_exp/bricks/encoder.brick" "$de_en_exp/bricks/decoder.brick")
for f in "${needed[@]}"; do
    [ -f "$f" ] || { log "missing $f (see --asr_exp, --asr_tokenizer, --de_en_exp, --en_tokenizer)"; exit 1; }
done
text=data/$(basename "$expdir")/en_text
brick1=$asr_exp/bricks/encoder.brick
[ "$brick1_epochs" -eq 0 ] || brick1=$expdir/brick1/bricks/encoder.brick
zeroshot=$expdir/three_brick_zeroshot
finetune=$expdir/three_brick_finetune

asr_form() {  # asr_form IN OUT: the ASR form of a Kaldi text file (normalised, or as written with --asr_form cased)
    if [ "$asr_form" = normalised ]; then
        python3 local/espeak/asr_normalise.py "$1" "$2"
    else
        cp "$1" "$2"
    fi
}

text_data() {  # brick 2's parallel text: text.asr (the ASR form brick 1 writes) -> text.en (cased, B pieces)
    local split
    for split in train valid; do
        mkdir -p "$text/$split"
        cp "$text_dir/$split/text.en" "$text/$split/text.en"
        asr_form "$text/$split/text.en" "$text/$split/text.asr"
    done
}

train() {  # train NAME CONFIG ARGS...: legokit train into $expdir/NAME
    local name=$1 config=$2
    shift 2
    # shellcheck disable=SC2086  # train_args is a word list
    queue train "$expdir/$name/log/train.log" -- legokit train --config "$config" --out-dir "$expdir/$name" "$@" \
        $train_args
}

decode_all() {  # hyp.cased: the decoder's English; hyp: its ASR form, scored against data/<set>/text
    local sys set dir
    for sys in three_brick_zeroshot three_brick_finetune; do
        for set in $test_sets; do
            dir=$expdir/$sys/decode_$set
            queue decode "$dir/log/decode.log" -- legokit decode --model "$expdir/$sys/model.pt" \
                --data-dir "$speech_data/$set" --feats "$speech_dump/$set/feats.scp" \
                --config "$conf/decode_asr.yaml" --out "$dir/hyp.cased" --device "$decode_device"
            asr_form "$dir/hyp.cased" "$dir/hyp"
        done
    done
}

score_all() {
    local sys set name hyp
    local -a names hyps
    read -r -a names <<<"$baseline_names"
    read -r -a hyps <<<"$baseline_hyps"
    [ ${#names[@]} -eq ${#hyps[@]} ] || { log "--baseline_names and --baseline_hyps differ in length"; exit 1; }
    for sys in three_brick_zeroshot three_brick_finetune; do
        for set in $test_sets; do
            legokit results --exp-dir "$expdir/$sys" --test-set "$set" --ref "$speech_data/$set/text" \
                --hyp "$expdir/$sys/decode_$set/hyp" --kaldi --metrics wer,cer --utt2spk "$speech_data/$set/utt2spk"
        done
    done
    {
        echo "# Three-brick LegoNN ASR (demo) vs $baseline_exp"
        echo
        echo "WER / CER; baseline systems: ${baseline_names} (${baseline_hyps}, in $baseline_exp)."
        echo
        legokit results --compare "$zeroshot" "$finetune"
        for set in $test_sets; do
            echo
            echo "## $set: paired bootstrap (A = three-brick, B = baseline; A - B < 0: three-brick better)"
            for sys in three_brick_zeroshot three_brick_finetune; do
                for k in "${!names[@]}"; do
                    hyp=$baseline_exp/${hyps[k]//\{set\}/$set}
                    echo
                    echo "### $sys vs baseline (${names[k]})"
                    echo
                    legokit score wer --kaldi --ref "$speech_data/$set/text" \
                        --hyp "$expdir/$sys/decode_$set/hyp" --compare "$hyp"
                done
            done
        done
    } >"$expdir/RESULTS.md"
}

run_stage 1 text_data --env text_dir --env asr_form -- text_data
run_stage 2 brick2_middle --config "$conf/middle.yaml" -- train middle "$conf/middle.yaml" data.task=mt \
    data.src_lang=asr data.tgt_lang=en data.train_dir="$text/train" data.valid_dir="$text/valid" \
    data.src_tokenizer="$asr_tokenizer" data.tgt_tokenizer="$en_tokenizer"
# Brick 1 trained on as a baseline that started from it was (lego_reuse: asr_baseline, 5 epochs from the same
# character encoder), so the chain and the baseline have heard the same speech as often: only with --brick1_epochs.
train_brick1() {
    if [ "$brick1_epochs" -eq 0 ]; then
        log "brick 1 is used as --asr_exp has it (--brick1_epochs 0)"
        return
    fi
    train brick1 "$conf/brick1.yaml" model.init_encoder="$asr_exp/bricks/encoder.brick" train.max_epochs="$brick1_epochs" \
        data.task=asr data.train_dir="$speech_data/train" data.valid_dir="$speech_data/valid" \
        data.train_feats="$speech_dump/train/feats.scp" data.valid_feats="$speech_dump/valid/feats.scp" \
        data.tgt_tokenizer="$asr_tokenizer"
}
brick1_conf=()
[ "$brick1_epochs" -eq 0 ] || brick1_conf=(--config "$conf/brick1.yaml")
run_stage 3 brick1 --env asr_exp --env brick1_epochs --env speech_data --env speech_dump "${brick1_conf[@]}" \
    --fresh "$expdir/brick1" -- train_brick1
# --length-rate keep: brick 2 keeps the OLC rate it was trained at, as in the measured runs (README.md). With
# conf/reuse it was trained on frame-like input (text_frames_per_token), so that rate is already for frames.
run_stage 4 compose --env asr_exp --env brick1_epochs --env de_en_exp -- legokit compose "$brick1" \
    "$expdir/middle/bricks/encoder.brick" "$de_en_exp/bricks/decoder.brick" -o "$zeroshot/model.pt" --length-rate keep
# The decoder was trained on cased English with punctuation: the fine-tuning targets are the cased transcripts.
run_stage 5 finetune --config "$conf/finetune.yaml" -- train three_brick_finetune "$conf/finetune.yaml" \
    model.init_model="$zeroshot/model.pt" data.task=asr data.train_dir="$speech_data/train" \
    data.valid_dir="$speech_data/valid" data.train_feats="$speech_dump/train/feats.scp" \
    data.valid_feats="$speech_dump/valid/feats.scp" data.target_file="$target_file" \
    data.tgt_tokenizer="$en_tokenizer"
run_stage 6 decode --config "$conf/decode_asr.yaml" --env test_sets --env speech_data --env speech_dump \
    --env asr_form -- decode_all
run_stage 7 score --env test_sets --env speech_data --env baseline_exp --env baseline_hyps --env baseline_names -- \
    score_all

[ ! -f "$expdir/RESULTS.md" ] || cat "$expdir/RESULTS.md"
log "done: table in $expdir/RESULTS.md"
