#!/usr/bin/env bash
# Stage 1: De-En text from Debian packages, its English side spoken by espeak-ng (8 training voices, 2 unseen test
# voices) and by Festival (kal + ked diphone voices in training, the HTS voice slt held out), combined into
#   data/train, data/valid   espeak-ng + Festival training voices
#   data/test                espeak-ng's 2 unseen voices (en-gb-x-gbcwmd+f4, en-gb-x-gbclan+m7)
#   data/test_festival       Festival's unseen voice cmu_us_slt_arctic_hts (a synthesizer family never heard)
#   data/test_variants       5 unseen speaker variants of the training accents (en-us+m6, en-gb+f4, ...)
#   data/lm/3gram.arpa       word 3-gram LM of the De-En training split's English side (conf/decode_lm.yaml)
# Transcripts in `text` are in the ASR scoring form (lower-case, no punctuation; text.cased keeps the original):
# neither synthesizer speaks case or punctuation. data/noise: recorded noises (openttd-opensfx) for data.augment.
# Options: --max_train N (espeak-ng training utterances), --festival_train N (Festival training utterances, other
# sentences than espeak-ng's; 0: no Festival), --max_eval N (valid and test utterances per synthesizer), --nj N.
set -euo pipefail
max_train=10000
festival_train=1500
max_eval=300
nj=2
. utils/parse_options.sh
legokit prepare debian-mt --pair de-en --out data/text --download-dir downloads
legokit prepare espeak-speech --text-dir data/text --out data/espeak --speak en --target en --splits train \
    --max-utts "$max_train" --nj "$nj"
legokit prepare espeak-speech --text-dir data/text --out data/espeak --speak en --target en --splits valid test \
    --max-utts "$max_eval" --nj "$nj"
train=(data/espeak/train) valid=(data/espeak/valid)
if [ "$festival_train" -gt 0 ]; then
    legokit prepare festival-speech --text-dir data/text --out data/festival --splits train \
        --max-utts "$festival_train" --skip-utts "$max_train" --nj "$nj"
    legokit prepare festival-speech --text-dir data/text --out data/festival --splits valid test \
        --max-utts "$max_eval" --nj "$nj"
    train+=(data/festival/train) valid+=(data/festival/valid)
    legokit data combine --normalise-text data/test_festival data/festival/test
fi
legokit data combine --normalise-text data/train "${train[@]}"
legokit data combine --normalise-text data/valid "${valid[@]}"
legokit data combine --normalise-text data/test data/espeak/test
legokit prepare espeak-speech --text-dir data/text --out data/espeak_variants --speak en --target en --splits test \
    --test-voices en-us+m6 en-gb+f4 en-gb-scotland+m5 en-029+m7 en-gb-x-rp+f3 --max-utts "$max_eval" --nj "$nj"
legokit data combine --normalise-text data/test_variants data/espeak_variants/test
legokit lm train --text data/text/train/text.en --kaldi-text --order 3 --out data/lm/3gram.arpa
legokit prepare debian-noise --out data/noise --download-dir downloads
