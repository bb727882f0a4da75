#!/usr/bin/env bash
# Low-resource TTS by transfer learning (Do et al., SSW 2023), staged. Run it through run.sh.
#  1 data      festvox-ru (real Russian speech) / gettext sentences spoken by espeak-ng; ASR data per target
#  2 dump      phones (espeak-ng IPA) and log mels of every TTS set
#  3 aspf      ASPF ranking of the sources for each target; target->source phone maps (PanPhon distance)
#  4 pretrain  source acoustic models: phone-embedding input and PanPhon-features input
#  5 finetune  per target: no transfer (scratch), phone IDs + mapping, features input
#  6 asr       a CTC character ASR per target (espeak-ng voices) to score the synthesised speech
#  7 synth     synthesise the target test sentences (Griffin-Lim; 3 mel/duration plots each), fbank, ASR decoding
#  8 score     CER + DNSMOS per target and condition -> exp/*/RESULTS.md and exp/results_table.md, with a
#              paired bootstrap of each transfer condition's CER and predicted MOS against no transfer
# shellcheck source-path=SCRIPTDIR
. utils/common.sh  # strict mode, path.sh, db.sh, stage.sh; the options stage, stop_stage, force, expdir

nj=2                                # parallel jobs (espeak-ng, feature extraction)
source_lang=ru                      # pre-training language (ru = the festvox-ru recording)
rank_sources="ru en fi"             # candidate sources ranked by ASPF (each is prepared and dumped)
targets="kk"                        # target languages (espeak-ng speech): bg ka kk sw ur uz
conditions="scratch phonemap features"  # fine-tuning conditions
corpus_config=conf/corpus_short.yaml  # data sizes (CorpusConfig; conf/corpus.yaml in conf/long.conf)
pretrain_config=conf/tts_short.yaml  # source acoustic model
finetune_config=conf/finetune_short.yaml  # target fine-tuning / scratch training
asr_config=conf/asr_short.yaml      # the scoring ASR model
distance=weighted                   # phone-mapping distance: weighted (PanPhon weights) or hamming
trim_db=0                           # stage 2: cut leading/trailing silence this many dB below the peak (0: keep; 40 usual)
help_message="Usage: $0 [options]
Low-resource TTS transfer recipe: stages 1 data, 2 dump, 3 aspf, 4 pretrain, 5 finetune, 6 asr, 7 synth, 8 score."

. utils/parse_options.sh
recipe_start

tts() { legokit tts "$@"; }

speech_langs() { echo "$source_lang $targets"; }

prepare_data() {
    local lang only
    for lang in $(printf '%s\n' "$source_lang" $targets $rank_sources | awk '!seen[$0]++'); do
        only=()
        [[ " $(speech_langs) " == *" $lang "* ]] || only=(--text-only)
        if [ "$lang" = ru ] && [ ${#only[@]} -eq 0 ]; then
            tts prepare --lang ru --festvox --out-dir data --download-dir "$DEBIAN_DATA" --config "$corpus_config"
        else
            tts prepare --lang "$lang" --out-dir data --download-dir "$DEBIAN_DATA" --config "$corpus_config" \
                --nj "$nj" "${only[@]}"
        fi
    done
}

dump_all() {
    local lang split
    for lang in $(speech_langs); do
        for split in train valid; do
            tts dump --data-dir "data/${lang}_tts/$split" --lang "$lang" --out-dir "dump/$lang/$split" --nj "$nj" \
                --trim-db "$trim_db"
        done
    done
}

aspf_and_maps() {
    local tgt
    mkdir -p "$expdir"
    for tgt in $targets; do
        tts rank-sources --target "$tgt" --sources "${rank_sources// /,}" \
            --text "data/{lang}_text/train/text.{lang}" --kaldi-text --max-lines 500 --out "$expdir/aspf_$tgt.tsv"
        tts map-phones --target "dump/$tgt/train/phone_counts.tsv" --source "dump/$source_lang/train/phone_counts.tsv" \
            --target-lang "$tgt" --source-lang "$source_lang" --distance "$distance" --out "$expdir/phone_map_${tgt}_$source_lang.tsv"
    done
}

pretrain() {
    local input
    for input in phones features; do
        tts train --config "$pretrain_config" --out-dir "$expdir/pre_${source_lang}_$input" \
            data.train="dump/$source_lang/train" data.valid="dump/$source_lang/valid" model.input="$input"
    done
}

finetune() {
    local tgt cond args
    for tgt in $targets; do
        for cond in $conditions; do
            case $cond in
                scratch) args=(model.input=phones) ;;
                phonemap) args=(init="$expdir/pre_${source_lang}_phones/model.pt"
                                phone_map="$expdir/phone_map_${tgt}_$source_lang.tsv") ;;
                features) args=(init="$expdir/pre_${source_lang}_features/model.pt") ;;
                *) log "unknown condition '$cond' (scratch, phonemap, features)"; return 1 ;;
            esac
            tts train --config "$finetune_config" --out-dir "$expdir/tts_${tgt}_$cond" \
                data.train="dump/$tgt/train" data.valid="dump/$tgt/valid" "${args[@]}"
        done
    done
}

train_asr() {
    local tgt split
    for tgt in $targets; do
        for split in asr valid; do
            legokit features --data-dir "data/${tgt}_asr/$split" --out-dir "dump/asr_$tgt/$split" --nj "$nj"
        done
        legokit tokenizer train --input "data/${tgt}_asr/asr/text" --kaldi-text --model-type char \
            --vocab-size 300 --model-prefix "dump/asr_$tgt/char"
        queue train "$expdir/asr_$tgt/log/train.log" -- legokit train --config "$asr_config" --out-dir "$expdir/asr_$tgt" \
            data.train_dir="data/${tgt}_asr/asr" data.valid_dir="data/${tgt}_asr/valid" \
            data.train_feats="dump/asr_$tgt/asr/feats.scp" data.valid_feats="dump/asr_$tgt/valid/feats.scp" \
            data.tgt_tokenizer="dump/asr_$tgt/char.model"
    done
}

asr_decode() {  # asr_decode TARGET SYN_DIR
    legokit features --data-dir "$2" --out-dir "$2/fbank" --nj "$nj"
    legokit decode --model "$expdir/asr_$1/model.pt" --data-dir "$2" --feats "$2/fbank/feats.scp" --out "$2/hyp" \
        --device "$decode_device"
}

synth() {
    local tgt cond
    for tgt in $targets; do
        mkdir -p "$expdir/ref_$tgt"
        cp data/"${tgt}"_tts/test/{wav.scp,text,utt2spk,spk2utt} "$expdir/ref_$tgt/"  # espeak-ng itself: the bound
        asr_decode "$tgt" "$expdir/ref_$tgt"
        for cond in $conditions; do
            tts synthesize --model "$expdir/tts_${tgt}_$cond/model.pt" --text "data/${tgt}_tts/test/text" \
                --out-dir "$expdir/tts_${tgt}_$cond/syn" --plots 3  # syn/plots/: mel + predicted phone durations
            asr_decode "$tgt" "$expdir/tts_${tgt}_$cond/syn"
        done
    done
}

score() {
    local tgt cond
    for tgt in $targets; do
        tts evaluate --syn-dir "$expdir/ref_$tgt" --hyp "$expdir/ref_$tgt/hyp" --exp-dir "$expdir/ref_$tgt" --test-set "${tgt}_test"
        for cond in $conditions; do
            tts evaluate --syn-dir "$expdir/tts_${tgt}_$cond/syn" --hyp "$expdir/tts_${tgt}_$cond/syn/hyp" \
                --exp-dir "$expdir/tts_${tgt}_$cond" --test-set "${tgt}_test"
        done
    done
    tts table --exp-dir "$expdir" --targets "${targets// /,}" --conditions "${conditions// /,}" \
        --source "$source_lang" --out "$expdir/results_table.md"
    for tgt in $targets; do  # is a transfer condition's CER different from no transfer's? (paired bootstrap)
        [[ " $conditions " == *" scratch "* ]] || break
        for cond in $conditions; do
            [ "$cond" != scratch ] || continue
            {
                echo
                echo "### $tgt: CER of $cond (A) vs scratch (B), paired bootstrap over the test sentences"
                echo
                legokit score cer --ref "$expdir/tts_${tgt}_scratch/syn/text" --kaldi \
                    --hyp "$expdir/tts_${tgt}_$cond/syn/hyp" --compare "$expdir/tts_${tgt}_scratch/syn/hyp" \
                    --output "$expdir/tts_${tgt}_$cond/cer_vs_scratch.json"
                echo
                echo "### $tgt: predicted MOS of $cond (A) vs scratch (B), paired bootstrap over the test sentences"
                echo
                tts compare-mos --a "$expdir/tts_${tgt}_$cond/syn" --b "$expdir/tts_${tgt}_scratch/syn" \
                    --output "$expdir/tts_${tgt}_$cond/mos_vs_scratch.json"
            } >>"$expdir/results_table.md"
        done
    done
    cat "$expdir/results_table.md"
}

# --env names the options a stage's function reads: changing one (e.g. --targets) re-runs that stage and the later ones
run_stage 1 data --config "$corpus_config" --env source_lang --env targets --env rank_sources -- prepare_data
run_stage 2 dump --env source_lang --env targets --env trim_db -- dump_all
run_stage 3 aspf --env source_lang --env targets --env rank_sources --env distance -- aspf_and_maps
run_stage 4 pretrain --config "$pretrain_config" --env source_lang -- pretrain
run_stage 5 finetune --config "$finetune_config" --env source_lang --env targets --env conditions -- finetune
run_stage 6 asr --config "$asr_config" --env targets -- train_asr
run_stage 7 synth --env targets --env conditions -- synth
run_stage 8 score --env source_lang --env targets --env conditions -- score

log "stages $stage to $stop_stage done; table in $expdir/results_table.md"
