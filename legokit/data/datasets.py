"""Map-style datasets yielding tokenised samples; batch them with legokit.data.batching."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from legokit.data.datadir import read_kaldi_map, read_text_dir
from legokit.data.featdump import FeatureReader
from legokit.data.features import GlobalCMVN
from legokit.data.tokenizer import Tokenizer
from legokit.errors import LegokitError

log = logging.getLogger(__name__)


class SpeechDataset(torch.utils.data.Dataset):
    """Utterances of ``data_dir/<text_file>`` with features from a dump (``feats_scp``), globally
    normalised with ``cmvn`` if given: item i -> {"id", "speech": (T, F) float, "target": (U,) long}.
    Utterances without features (too short to dump) are skipped with a warning. ``text_file`` names
    the Kaldi text file holding the targets, e.g. ``transcript`` to pre-train ASR on summarisation
    speech whose ``text`` is the summary."""

    def __init__(self, data_dir: str | Path, feats_scp: str | Path, tokenizer: Tokenizer,
                 cmvn: GlobalCMVN | None = None, text_file: str = "text") -> None:
        self.feats = FeatureReader(feats_scp)
        text_path = Path(data_dir) / text_file
        if not text_path.is_file():
            raise LegokitError(f"{text_path} does not exist: the data dir has no '{text_file}' file of "
                               "targets (check data.target_file)")
        texts = read_kaldi_map(text_path)
        missing = [utt for utt in texts if utt not in self.feats]
        if missing:
            log.warning("%d of %d utterances of %s have no features in %s (skipped), e.g. %s", len(missing),
                        len(texts), text_path, feats_scp, ", ".join(missing[:5]))
        self.ids = [utt for utt in texts if utt in self.feats]
        if not self.ids:
            raise LegokitError(f"{data_dir}: no utterance of its {text_file} file is in {feats_scp}")
        self.targets = tokenizer.encode_batch([texts[utt] for utt in self.ids])
        self.cmvn = cmvn

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> list[int]:
        """Frames per utterance, for BucketBatchSampler."""
        return [self.feats.num_frames(utt) for utt in self.ids]

    def __getitem__(self, i: int) -> dict:
        speech = torch.from_numpy(self.feats[self.ids[i]])
        if self.cmvn is not None:
            speech = self.cmvn(speech)
        target = torch.tensor(self.targets[i], dtype=torch.long)
        return {"id": self.ids[i], "speech": speech, "target": target}


class TextPairDataset(torch.utils.data.Dataset):
    """Aligned sentences ``text.<src_lang>`` / ``text.<tgt_lang>`` of ``data_dir``, tokenised:
    item i -> {"id", "source": (S,) long, "target": (U,) long}."""

    def __init__(self, data_dir: str | Path, src_lang: str, tgt_lang: str, src_tokenizer: Tokenizer,
                 tgt_tokenizer: Tokenizer) -> None:
        examples = read_text_dir(data_dir, [src_lang, tgt_lang])
        self.ids = [ex.utt_id for ex in examples]
        self.sources = src_tokenizer.encode_batch([ex.sentences[src_lang] for ex in examples])
        self.targets = tgt_tokenizer.encode_batch([ex.sentences[tgt_lang] for ex in examples])

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> list[int]:
        """max(source, target) tokens per example, for BucketBatchSampler."""
        return [max(len(s), len(t)) for s, t in zip(self.sources, self.targets)]

    @property
    def tie_lengths(self) -> list[int]:
        """Target tokens per example: BucketBatchSampler's order among equal ``lengths``."""
        return [len(t) for t in self.targets]

    def __getitem__(self, i: int) -> dict:
        return {"id": self.ids[i], "source": torch.tensor(self.sources[i], dtype=torch.long),
                "target": torch.tensor(self.targets[i], dtype=torch.long)}
