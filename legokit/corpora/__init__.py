"""The papers' corpora: resumable downloads and readers of their released formats.

- :mod:`legokit.corpora.download`    resumable HTTP download with progress and MD5, archive extraction
- :mod:`legokit.corpora.europarl_st` Europarl-ST v1.1 speech -> Kaldi speech dirs (m4a -> flac via ffmpeg)
- :mod:`legokit.corpora.wmt`         WMT16 De-En / Ro-En training text and sacrebleu's test sets -> MT dirs
- :mod:`legokit.corpora.how2`        How2 2000 h summarisation release (Kaldi fbank+pitch arks) -> dumps

The command line is ``legokit corpus {download,prepare} NAME``; see docs/corpora.md.
"""

from legokit.corpora.download import Resource, download, extract
from legokit.corpora.europarl_st import download_europarl_st, prepare_europarl_st
from legokit.corpora.how2 import prepare_how2
from legokit.corpora.wmt import WMTPrepConfig, download_wmt16, prepare_wmt16

__all__ = ["Resource", "WMTPrepConfig", "download", "download_europarl_st", "download_wmt16", "extract",
           "prepare_europarl_st", "prepare_how2", "prepare_wmt16"]
