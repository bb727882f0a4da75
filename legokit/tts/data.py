"""TTS data: a Kaldi speech dir -> a dump of phone sequences and log mels; datasets and batches.

    <out>/dump.pt           {"ids", "phones": list[list[str]], "mels": list[(T, M) float16], "lang", "mel"}
    <out>/phones.txt        <utt> <phones separated by spaces>   (readable; '|' = word boundary)
    <out>/phone_counts.tsv  phone<TAB>count, the inventory with frequencies (ASPF, mapping)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

from legokit.data.audio import load_audio
from legokit.data.datadir import read_speech_dir
from legokit.errors import LegokitError
from legokit.fileio import load_plain
from legokit.tts.audio import MelConfig, log_mel, trim_silence
from legokit.tts.features import feature_matrix
from legokit.tts.mapping import map_phones
from legokit.tts.phones import WORD, PhonemizerConfig, phone_counts, phonemize, write_counts

log = logging.getLogger(__name__)

PAD = "<pad>"
#: the id of PAD in every phone inventory: :func:`build_inventory` puts it first, :func:`load_tts_model` refuses a
#: model whose inventory does not, :func:`collate_tts` pads id sequences with 0 and the model's phone embedding
#: takes it as padding_idx (its row stays zero and gets no gradient)
PAD_ID = 0


def dump_tts(data_dir: str | Path, out_dir: str | Path, lang: str, mel_cfg: MelConfig | None = None,
             phon_cfg: PhonemizerConfig | None = None, max_utts: int = 0, trim_db: float = 0.0) -> dict:
    """Phonemise the transcripts and compute log mels of a Kaldi dir; return {"utterances", "hours"}.

    `trim_db` > 0 first cuts leading and trailing silence quieter than that many dB below the utterance's
    loudest frame (audio.trim_silence): without it, the alignment gives the first and last phones that silence
    and the model learns to speak them as silence."""
    mel_cfg = mel_cfg or MelConfig()
    utts = read_speech_dir(data_dir)[:max_utts or None]
    phones = phonemize([u.text for u in utts], lang, phon_cfg)
    mels = []
    for u in utts:
        wave = load_audio(u.path, mel_cfg.sample_rate, u.start, u.end)
        if trim_db > 0:
            wave = trim_silence(wave, trim_db, margin=mel_cfg.sample_rate // 20)
        mels.append(torch.from_numpy(log_mel(wave, mel_cfg)).half())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"ids": [u.utt_id for u in utts], "phones": phones, "mels": mels, "lang": lang,
                "mel": asdict(mel_cfg), "trim_db": trim_db}, out / "dump.pt")
    (out / "phones.txt").write_text("".join(f"{u.utt_id} {' '.join(p)}\n" for u, p in zip(utts, phones)),
                                    encoding="utf-8")
    write_counts(phone_counts(phones), out / "phone_counts.tsv")
    frames = sum(m.shape[0] for m in mels)
    return {"utterances": len(utts), "hours": round(frames * mel_cfg.hop_length / mel_cfg.sample_rate / 3600, 3)}


def load_dump(path: str | Path) -> dict:
    """Read ``<dir>/dump.pt`` written by :func:`dump_tts`."""
    file = Path(path) / "dump.pt"
    if not file.is_file():
        raise LegokitError(f"{file} not found: run `legokit tts dump --data-dir ... --out-dir {path}` first")
    return load_plain(file, "TTS dump", f"re-create it with `legokit tts dump --out-dir {path}`",
                      keys=("ids", "phones", "mels", "lang", "mel"))


def build_inventory(phone_lists: Sequence[Sequence[str]], where: str = "phone sequences") -> list[str]:
    """Token inventory: padding (id PAD_ID = 0, by construction), the word boundary (id 1), then the phones
    sorted. A phone spelled like the padding symbol is refused (it would be encoded as padding)."""
    phones = {p for utt in phone_lists for p in utt}
    if PAD in phones:
        raise LegokitError(f"{where}: the phone {PAD!r} is the reserved padding symbol; expected IPA phones")
    inventory = [PAD, WORD] + sorted(phones - {WORD})
    assert inventory.index(PAD) == PAD_ID  # collate_tts pads with PAD_ID, the embedding's padding_idx
    return inventory


def phone_encoder(inventory: Sequence[str], phone_map: dict[str, str] | None, where: str, lang: str = "?",
                  fallback: bool = False) -> Callable[[Sequence[str]], torch.Tensor]:
    """A function phones -> ids (N,) over `inventory`, sending phones through `phone_map` first.

    A phone still missing is an error, or with `fallback` (validation sets, synthesis) mapped to the
    closest inventory phone by PanPhon feature distance, with a warning naming both."""
    index = {p: i for i, p in enumerate(inventory)}
    phone_map = dict(phone_map or {})

    def encode(phones: Sequence[str]) -> torch.Tensor:
        missing = sorted({p for p in phones if phone_map.get(p, p) not in index})
        if missing and not fallback:
            raise LegokitError(f"{where}: phones {missing} are not in the model's inventory and not in the "
                               "phone map; write a map with `legokit tts map-phones` and pass it as phone_map")
        if missing:
            known = Counter(p for p in inventory if p not in (PAD, WORD))
            for row in map_phones(missing, known, lang, "model inventory"):
                log.warning("%s: phone %r of '%s' is not in the model's inventory: using %r (distance %g)",
                            where, row.target, lang, row.source, row.distance)
                phone_map[row.target] = row.source
        return torch.tensor([index[phone_map.get(p, p)] for p in phones], dtype=torch.long)
    return encode


def feature_encoder(lang: str, on_unknown: str = "error") -> Callable[[Sequence[str]], torch.Tensor]:
    """A function phones -> PanPhon input vectors (N, 25)."""
    return lambda phones: torch.from_numpy(feature_matrix(phones, lang, on_unknown))


class TTSDataset(torch.utils.data.Dataset):
    """(inputs, log mel) pairs of a dump; `encode` turns a phone list into ids (N,) or features (N, 25)."""

    def __init__(self, dump: dict, encode: Callable[[Sequence[str]], torch.Tensor]) -> None:
        self.ids = dump["ids"]
        self.inputs = [encode(p) for p in dump["phones"]]
        self.mels = dump["mels"]
        self.lengths = [m.shape[0] for m in self.mels]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return {"id": self.ids[i], "inputs": self.inputs[i], "mel": self.mels[i].float()}


def collate_tts(samples: list[dict]) -> dict:
    """Pad a list of samples into {"ids", "inputs", "input_lengths", "mel", "mel_lengths"}; phone ids are
    padded with PAD_ID, feature vectors and mels with zeros."""
    return {"ids": [s["id"] for s in samples],
            "inputs": pad_sequence([s["inputs"] for s in samples], batch_first=True, padding_value=PAD_ID),
            "input_lengths": torch.tensor([len(s["inputs"]) for s in samples]),
            "mel": pad_sequence([s["mel"] for s in samples], batch_first=True),
            "mel_lengths": torch.tensor([s["mel"].shape[0] for s in samples])}


def mel_stats(mels: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin mean and std (M,) over all frames."""
    frames = torch.cat([m.float() for m in mels])
    return frames.mean(0), frames.std(0)
