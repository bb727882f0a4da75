#!/usr/bin/env bash
# Stage 1: De-En text from Debian packages, its English side spoken by espeak-ng (8 training voices, 2 unseen test
# voices) and by Festival (kal + ked diphone voices in training, the HTS voice slt held out), combined into
#   data/train, data/valid   espeak-ng + Festival training voices
#   data/test                espeak-ng's 2 unseen voices (en-gb-x-gbcwmd+f4, en-gb-x-gbclan+m7)
#   data/test_festival       Festival's unseen voice cmu_us_slt_arctic_hts (a synthesizer family never heard)
#   data/test_variants       5 unseen speaker variants of the training accents (en-us+m6, en-gb+f4, ...)
#   data/test_noisy          data/test + Extreme Tux Racer noise (data/noise_test, never in training), SNR 5-15 dB
#   data/test_reverb         data/test through a synthetic room impulse response, RT60 0.3-0.9 s
#   data/lm/3gram.arpa       word 3-gram LM of the De-En training split's English side (conf/decode_lm.yaml;
#                            --lm_text)
# Transcripts in `text` are in the ASR scoring form (lower-case, no punctuation; text.cased keeps the original):
# neither synthesizer speaks case or punctuation. data/noise: recorded noises (openttd-opensfx) for data.augment;
# data/noise_test: other recordings (extremetuxracer-data), only for test_noisy.
# Options (`local/data.sh --help`; from run.sh: --data_args "..."): sizes, the text spoken, the noise recordings.
# A tiny run on committed text, as tests/egs/test_espeak_asr_recipe.py does (no download):
#   --text_dir ../../../tests/fixtures/lego --max_train 16 --festival_train 4 --max_eval 3 --noise false
set -euo pipefail
max_train=10000              # espeak-ng training utterances
festival_train=1500          # Festival training utterances (other sentences than espeak-ng's; 0: no Festival)
max_eval=300                 # valid and test utterances per synthesizer (also the test_variants utterances)
text_dir=""                  # speak this MT-style text dir (<split>/text.en) instead of the Debian De-En text
noise=true                   # false: no data/noise, data/noise_test, data/test_noisy (no noise downloads)
robust_tests=true            # false: no data/test_noisy, data/test_reverb (run.sh then leaves them out of test_sets)
vocoded_festival=false       # true: also train on a vocoded copy of the Festival part (data/festival_voc; README.md)
lm_text=train                # word LM text: "train" (the De-En training split's English side) or "debian" (that +
                             # Debian's package descriptions without the held-out sentences, 6.5x the words: legokit
                             # prepare debian-lm-text; not with --text_dir). Measured with the recipe's model, each
                             # LM's alpha/beta tuned on valid: test 22.4 -> 23.0, test_variants 17.4 -> 17.0 (n.s.),
                             # test_festival 77.7 -> 82.4 WER (docs/results.md, "A larger LM"), so "train"
nj=2                         # parallel synthesizer processes
# espeak-ng training (and valid) voices: 5 accents x 16 speaker variants. None of the test accents (en-gb-x-gbcwmd,
# en-gb-x-gbclan) nor of test_variants' variants (m5, m6, m7, f3, f4) is among them. Against 8 voices of the same
# accents (one variant each), same sentences, 3,000 updates: test_variants 31.1 -> 18.9 WER, test 27.3 -> 25.7
# (docs/results.md, "Voices"). Those measured runs spelt linda paul robert steph with a capital, which espeak-ng
# silently ignores (65 distinct voices, not 80). The 80 distinct voices here, measured end to end (session 12): test
# 26.1, test_variants 21.1 WER (65 voices: 25.2, 19.2; docs/results.md, "End to end from a clean clone").
# Variant names are espeak-ng's file names, case included (`espeak-ng --voices=variant`); `legokit prepare`
# refuses unknown ones.
accents="en-us en-gb en-gb-scotland en-029 en-gb-x-rp"
variants="m1 m2 m3 m4 m8 f1 f2 f5 Andy Annie Alex Michael linda paul robert steph"
. utils/parse_options.sh
voices=()
for accent in $accents; do for variant in $variants; do voices+=("$accent+$variant"); done; done
if [ -z "$text_dir" ]; then
    legokit prepare debian-mt --pair de-en --out data/text --download-dir downloads
    text_dir=data/text
fi
legokit prepare espeak-speech --text-dir "$text_dir" --out data/espeak --speak en --target en --splits train \
    --max-utts "$max_train" --nj "$nj" --voices "${voices[@]}"
legokit prepare espeak-speech --text-dir "$text_dir" --out data/espeak --speak en --target en --splits valid test \
    --max-utts "$max_eval" --nj "$nj" --voices "${voices[@]}"
train=(data/espeak/train) valid=(data/espeak/valid)
if [ "$festival_train" -gt 0 ]; then
    legokit prepare festival-speech --text-dir "$text_dir" --out data/festival --splits train \
        --max-utts "$festival_train" --skip-utts "$max_train" --nj "$nj"
    legokit prepare festival-speech --text-dir "$text_dir" --out data/festival --splits valid test \
        --max-utts "$max_eval" --nj "$nj"
    train+=(data/festival/train) valid+=(data/festival/valid)
    if [ "$vocoded_festival" = true ]; then  # the sound of HTS-style synthesis, female-like pitch and formants
        legokit data augment data/festival/train data/festival_voc/train --vocode-prob 1 --vocode-f0-scale 1.0 1.9 \
            --vocode-warp 1.0 1.2 --vocode-smooth 1 5 --utt-prefix voc- --spk-prefix voc- --seed 1 --force
        train+=(data/festival_voc/train)
    fi
    legokit data combine --normalise-text data/test_festival data/festival/test
fi
legokit data combine --normalise-text data/train "${train[@]}"
legokit data combine --normalise-text data/valid "${valid[@]}"
legokit data combine --normalise-text data/test data/espeak/test
legokit prepare espeak-speech --text-dir "$text_dir" --out data/espeak_variants --speak en --target en --splits test \
    --test-voices en-us+m6 en-gb+f4 en-gb-scotland+m5 en-029+m7 en-gb-x-rp+f3 --max-utts "$max_eval" --nj "$nj"
legokit data combine --normalise-text data/test_variants data/espeak_variants/test
lm_texts=("$text_dir/train/text.en")
case "$lm_text" in
    train) ;;
    debian)
        [ "$text_dir" = data/text ] || { echo "local/data.sh: --lm_text debian reads the apt lists of the Debian text;" \
            "with --text_dir use --lm_text train" >&2; exit 1; }
        held=()  # every evaluation set's sentences, beside the hash region debian-lm-text leaves out anyway
        for d in data/valid data/test data/test_*; do [ ! -f "$d/text" ] || held+=("$d/text"); done
        legokit prepare debian-lm-text --out data/lm_text --download-dir downloads --exclude "${held[@]}"
        lm_texts+=(data/lm_text/text) ;;
    *) echo "local/data.sh: --lm_text must be train or debian, got '$lm_text'" >&2; exit 1 ;;
esac
legokit lm train --text "${lm_texts[@]}" --kaldi-text --order 3 --out data/lm/3gram.arpa
[ "$noise" = false ] || legokit prepare debian-noise --out data/noise --download-dir downloads
if [ "$robust_tests" = true ]; then  # every utterance corrupted, seed 7: the same sets on every machine
    if [ "$noise" != false ]; then
        legokit prepare debian-noise --package extremetuxracer-data --out data/noise_test --download-dir downloads
        legokit data augment data/test data/test_noisy --noise-dir data/noise_test --snr-db 5 15 --noise-prob 1 \
            --seed 7 --force
    fi
    legokit data augment data/test data/test_reverb --reverb-prob 1 --rt60 0.3 0.9 --seed 7 --force
fi
