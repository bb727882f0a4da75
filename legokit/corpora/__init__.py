"""Data acquisition: every data set legokit downloads or builds, as Kaldi-style dirs (see docs/data_sources.md
and docs/corpora.md).

Shared parts:

- :mod:`legokit.corpora.download`    resumable HTTP download with progress and MD5, archive extraction
- :mod:`legokit.corpora.text`        parallel-text hygiene: normalisation, filters, splits, ``text.<lang>`` files

The papers' corpora, from their releases (``legokit corpus {download,prepare} NAME``):

- :mod:`legokit.corpora.europarl_st` Europarl-ST v1.1 speech -> Kaldi speech dirs (m4a -> flac via ffmpeg)
- :mod:`legokit.corpora.wmt`         WMT16 De-En / Ro-En training text and sacrebleu's test sets -> MT dirs
- :mod:`legokit.corpora.how2`        How2 2000 h summarisation release (Kaldi fbank+pitch arks) -> dumps

Data built from Debian packages and espeak-ng, reachable offline (``legokit prepare``, ``legokit tts prepare``):

- :mod:`legokit.corpora.debian`      apt index files and .deb packages, fetched without installing
- :mod:`legokit.corpora.sources`     readers of gettext .mo catalogs, the Ding dictionary, DDTP translations
- :mod:`legokit.corpora.debian_mt`   De-En / Ro-En parallel text -> MT dirs
- :mod:`legokit.corpora.debian_sum`  package descriptions -> a summarisation set
- :mod:`legokit.corpora.espeak`      synthetic speech of text dirs with espeak-ng -> speech dirs
- :mod:`legokit.corpora.tts`         the low-resource TTS recipe's data (festvox-ru, gettext sentences spoken)

Submodules are imported on use, so reading text files does not load the readers of every release.
"""
