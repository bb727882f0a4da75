"""legokit.data: everything between files on disk and batches (see docs/data.md).

datadir    Kaldi-style speech dirs (wav.scp, text, utt2spk, segments) and MT dirs (text.<lang>)
audio      load_audio: mono float32, resampled, checked
features   FbankConfig, compute_fbank (kaldi-native-fbank), TorchFbank, CMVNStats, GlobalCMVN
featdump   dump_features / FeatureReader: sharded, memory-mapped feature dumps with feats.scp
specaug    SpecAugConfig, SpecAugment
augment    AugmentConfig, WaveAugment: vocoder, speed perturbation, reverberation, noise (on the fly in training)
vocoder    vocode, estimate_f0: pulse/noise resynthesis with new pitch and formants (an augmentation)
corrupt    augment_data_dir: a noisy/reverberant/vocoded copy of a speech dir on disk (`legokit data augment`)
tokenizer  train_tokenizer, Tokenizer (sentencepiece, <blank>=0 <unk>=1 <s>=2 </s>=3)
datasets   SpeechDataset, TextPairDataset
batching   BucketBatchSampler, SpeechCollator, collate_text
"""
