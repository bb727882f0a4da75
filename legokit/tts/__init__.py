"""legokit.tts: low-resource TTS by transfer learning (docs/tts.md).

phones      text -> IPA phones (espeak-ng / epitran), inventories, frequencies
features    PanPhon feature vectors per phone
mapping     target -> source phone mapping by feature distance
aspf        ASPF source-language ranking
alignment   monotonic alignment search, length regulator
model       AcousticConfig, AcousticModel (phone-embedding or feature input)
audio       MelConfig, log_mel, griffin_lim
data        dump_tts, TTSDataset, collate_tts
experiment  TTSConfig, train_tts, synthesize, load_tts_model
evaluate    dnsmos, evaluate_tts, results_table
corpus      offline data: festvox-ru, gettext sentences spoken by espeak-ng
"""
