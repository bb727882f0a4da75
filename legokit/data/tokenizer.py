"""sentencepiece tokenizers with legokit's fixed id convention.

Every model is trained with pad_id=0 whose piece is "<blank>" (the CTC blank and the padding value),
unk_id=1 "<unk>", bos_id=2 "<s>", eos_id=3 "</s>". :class:`Tokenizer` refuses models that differ, and
carries the ids of its model as :class:`legokit.data.vocab.VocabularyInfo` (``tokenizer.vocab``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import sentencepiece as spm

from legokit.data.vocab import VocabularyInfo
from legokit.errors import LegokitError
from legokit.fileio import iter_text_lines

BLANK, UNK, BOS, EOS = "<blank>", "<unk>", "<s>", "</s>"
MODEL_TYPES = ("unigram", "bpe", "char", "word")


def _strip_kaldi_ids(paths: list[str], out_dir: str) -> list[str]:
    """Copy Kaldi ``text`` files without their first (id) column into ``out_dir``."""
    stripped = []
    for i, path in enumerate(paths):
        out = Path(out_dir) / f"{i}.txt"
        with open(out, "w", encoding="utf-8") as dst:
            for line in iter_text_lines(path):
                parts = line.strip().split(maxsplit=1)
                if len(parts) == 2:
                    dst.write(parts[1] + "\n")
        stripped.append(str(out))
    return stripped


def train_tokenizer(text_files: list[str], model_prefix: str, vocab_size: int, model_type: str = "unigram",
                    character_coverage: float = 1.0, user_defined_symbols: list[str] | None = None,
                    kaldi_text: bool = False, input_sentence_size: int = 2_000_000, seed: int = 0) -> str:
    """Train a sentencepiece model on ``text_files`` (one sentence a line, or Kaldi ``text`` files with
    ``kaldi_text``); writes ``<model_prefix>.model`` / ``.vocab`` and returns the .model path.
    For ``model_type="char"`` the vocabulary is every character seen, so ``vocab_size`` is an upper bound."""
    if model_type not in MODEL_TYPES:
        raise LegokitError(f"unknown tokenizer model type '{model_type}'; expected one of {MODEL_TYPES}")
    if input_sentence_size < 0:
        raise LegokitError(f"input sentence size must be >= 0 (0: all sentences), got {input_sentence_size}")
    for path in text_files:
        if not Path(path).is_file():
            raise LegokitError(f"{path}: tokenizer training text not found")
    Path(model_prefix).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        inputs = _strip_kaldi_ids(text_files, tmp) if kaldi_text else list(text_files)
        spm.set_random_generator_seed(seed)
        try:
            spm.SentencePieceTrainer.train(
                input=inputs, model_prefix=model_prefix, vocab_size=vocab_size, model_type=model_type,
                character_coverage=character_coverage, user_defined_symbols=user_defined_symbols or [],
                pad_id=0, pad_piece=BLANK, unk_id=1, unk_piece=UNK, bos_id=2, bos_piece=BOS,
                eos_id=3, eos_piece=EOS, hard_vocab_limit=model_type != "char",
                input_sentence_size=input_sentence_size, shuffle_input_sentence=True,
                minloglevel=2)
        except (RuntimeError, ValueError) as err:  # sentencepiece's checks of the options and the text
            raise LegokitError(f"sentencepiece training on {', '.join(text_files)} failed: {err}") from err
    return f"{model_prefix}.model"


class Tokenizer:
    """A sentencepiece model with the legokit id convention; built from serialized model bytes."""

    def __init__(self, model_bytes: bytes, origin: str = "<bytes>") -> None:
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(model_bytes)
        except RuntimeError as err:
            raise LegokitError(f"{origin}: not a sentencepiece model ({err})") from err
        self.model_bytes = bytes(model_bytes)
        self.pieces: list[str] = [self.sp.IdToPiece(i) for i in range(self.sp.GetPieceSize())]
        expected = [BLANK, UNK, BOS, EOS]
        if self.pieces[:4] != expected or (self.sp.pad_id(), self.sp.unk_id(), self.sp.bos_id(),
                                           self.sp.eos_id()) != (0, 1, 2, 3):
            raise LegokitError(f"{origin}: model breaks the id convention: first pieces "
                               f"{self.pieces[:4]}, expected {expected}; retrain: `legokit tokenizer train`")
        pad = self.sp.pad_id()  # the "<blank>" piece: CTC blank and padding value
        self.vocab = VocabularyInfo(len(self.pieces), blank=pad, pad=pad, unk=self.sp.unk_id(),
                                    bos=self.sp.bos_id(), eos=self.sp.eos_id())

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Load a ``.model`` file."""
        if not Path(path).is_file():
            raise LegokitError(f"{path}: sentencepiece model not found")
        return cls(Path(path).read_bytes(), origin=str(path))

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, without bos/eos."""
        return self.sp.EncodeAsIds(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.sp.EncodeAsIds(texts)

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``; blank/bos/eos are ignored."""
        skip = (self.vocab.blank, self.vocab.bos, self.vocab.eos)
        return self.sp.DecodeIds([i for i in ids if i not in skip])
