"""Training and synthesis of the TTS acoustic model, including transfer from a pre-trained source model.

Transfer conditions (Do et al., SSW 2023), all through :class:`TTSConfig`:

* no transfer:        model.input=phones, init=null            (inventory from the target data)
* phone IDs + map:    init=<source model.pt> (input phones), phone_map=<map TSV from `legokit tts map-phones`>:
                      target phones are rewritten into the source inventory, the embedding is reused
* features input:     init=<source model.pt> (input features): PanPhon vectors of target phones go
                      through the pre-trained linear input layer directly

With ``init`` the architecture, inventory and mel normalisation come from the initial model (the
config's ``model`` section is ignored). The trained model is ``<out>/model.pt``::

    legokit tts train --config conf/tts_pretrain.yaml --out-dir exp/tts_ru data.train=dump/ru/train
    legokit tts synthesize --model exp/tts_ru/model.pt --text data/kk/test/text --out-dir exp/syn
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from legokit.config import dump_yaml, from_dict, load_config, ranged, to_dict
from legokit.data.batching import BucketBatchSampler
from legokit.errors import LegokitError
from legokit.fileio import load_plain, require_keys
from legokit.train.checkpoint import average_checkpoints, select_checkpoints
from legokit.train.config import OptimConfig, TrainConfig
from legokit.train.seeding import generator, seed_everything
from legokit.train.trainer import TrainingInterrupted, fit, pins_memory
from legokit.tts.audio import MelConfig, griffin_lim
from legokit.tts.data import (
    PAD,
    PAD_ID,
    TTSDataset,
    build_inventory,
    collate_tts,
    feature_encoder,
    load_dump,
    mel_stats,
    phone_encoder,
)
from legokit.tts.mapping import read_mapping
from legokit.tts.model import AcousticConfig, AcousticModel
from legokit.tts.phones import PhonemizerConfig, phonemize

log = logging.getLogger(__name__)


@dataclass
class TTSDataConfig:
    """Dumps (from `legokit tts dump`) and batching."""

    train: str = "dump/train"  # training dump dir
    valid: str = ""  # validation dump dir ("" = no validation)
    max_frames: int = ranged(6000, "[1, inf)")  # batch budget in padded mel frames
    max_batch_size: int | None = ranged(None, "[1, inf)")  # at most this many utterances per batch
    on_unknown: str = "error"  # phones PanPhon does not know: "error" or "warn" (features input)


@dataclass
class TTSConfig:
    """Everything `legokit tts train` needs."""

    data: TTSDataConfig = field(default_factory=TTSDataConfig)
    model: AcousticConfig = field(default_factory=AcousticConfig)
    init: str | None = None  # start from this TTS model.pt (transfer); its architecture is used
    phone_map: str | None = None  # target->source phone map TSV (phone-ID transfer)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3, warmup_steps=200,
                                                                   clip_grad_norm=5.0))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_epochs=20, log_interval=20))
    average_best: int = ranged(3, "[1, inf)")  # average this many best checkpoints (by validation loss) into model.pt


@dataclass
class TTSModel:
    """A trained model with what synthesis needs: inventory, phone map, language, mel analysis."""

    model: AcousticModel
    inventory: list[str]
    phone_map: dict[str, str]
    lang: str
    mel: MelConfig

    def encoder(self, where: str, on_unknown: str = "error", fallback: bool = False
                ) -> Callable[[Sequence[str]], torch.Tensor]:
        """phones -> model inputs for this model's input kind (see data.phone_encoder for `fallback`)."""
        if self.model.cfg.input == "features":
            return feature_encoder(self.lang, on_unknown)
        return phone_encoder(self.inventory, self.phone_map, where, self.lang, fallback)

    def save(self, path: Path) -> None:
        torch.save({"config": to_dict(self.model.cfg), "state_dict": self.model.state_dict(),
                    "inventory": self.inventory, "phone_map": self.phone_map, "lang": self.lang,
                    "mel": asdict(self.mel)}, path)


def load_tts_model(path: str | Path, payload: dict | None = None) -> TTSModel:
    """Read a model.pt written by :func:`train_tts`; ``payload``: its content, if already loaded."""
    what, remedy = "TTS model", "give a model.pt written by `legokit tts train`"
    keys = ("config", "state_dict", "inventory", "phone_map", "lang", "mel")
    ckpt = load_plain(path, what, remedy, keys) if payload is None else require_keys(payload, path, what, remedy, keys)
    model = AcousticModel(from_dict(AcousticConfig, ckpt["config"], str(path)))
    inventory = ckpt["inventory"]
    if model.cfg.input == "phones" and not (isinstance(inventory, list) and inventory[PAD_ID:PAD_ID + 1] == [PAD]):
        start = inventory[:3] if isinstance(inventory, list) else inventory
        raise LegokitError(f"{path}: the phone inventory must hold the padding symbol {PAD!r} at id {PAD_ID} "
                           f"(the embedding's padding index), got {start!r}...")
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as err:
        raise LegokitError(f"{path}: TTS model weights do not fit its config "
                           f"({(str(err).splitlines() or [''])[0][:200]})") from None
    return TTSModel(model, ckpt["inventory"], ckpt["phone_map"], ckpt["lang"], MelConfig(**ckpt["mel"]))


def _initial_model(cfg: TTSConfig, dump: dict) -> TTSModel:
    mel = MelConfig(**dump["mel"])
    if cfg.init:
        init = load_tts_model(cfg.init)
        if asdict(init.mel) != asdict(mel):
            raise LegokitError(f"{cfg.data.train}: mel analysis {asdict(mel)} differs from that of init model "
                               f"{cfg.init} ({asdict(init.mel)}); dump the target data with the same options")
        phone_map = read_mapping(cfg.phone_map) if cfg.phone_map else {}
        return TTSModel(init.model, init.inventory, phone_map, dump["lang"], mel)
    inventory = build_inventory(dump["phones"], f"{cfg.data.train}/dump.pt")
    model_cfg = from_dict(AcousticConfig, to_dict(cfg.model) | {"num_phones": len(inventory),
                                                                "num_mels": mel.num_mels})
    model = AcousticModel(model_cfg)
    model.set_mel_stats(*mel_stats(dump["mels"]))
    return TTSModel(model, inventory, {}, dump["lang"], mel)


def _loader(dataset: TTSDataset, cfg: TTSDataConfig, train: bool, seed: int, epoch: int = 0,
            pin_memory: bool = False) -> DataLoader:
    sampler = BucketBatchSampler(dataset.lengths, cfg.max_frames, cfg.max_batch_size, shuffle=train, seed=seed)
    sampler.set_epoch(epoch)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_tts, generator=generator(seed, epoch),
                      pin_memory=pin_memory)


def train_tts(config: str | None, overrides: list[str], out_dir: Path) -> TTSModel:
    """Train (or fine-tune) per config; write ``out_dir/model.pt``; return the model."""
    cfg = load_config(TTSConfig, config, overrides)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(dump_yaml(cfg))
    seed_everything(cfg.train.seed)  # before the model's weights are drawn
    dump = load_dump(cfg.data.train)
    tts = _initial_model(cfg, dump)
    train_set = TTSDataset(dump, tts.encoder(cfg.data.train, cfg.data.on_unknown))
    valid_set = (TTSDataset(load_dump(cfg.data.valid), tts.encoder(cfg.data.valid, cfg.data.on_unknown, fallback=True))
                 if cfg.data.valid else None)
    log.info("TTS model (%s input): %.2fM parameters; %d training utterances", tts.model.cfg.input,
             sum(p.numel() for p in tts.model.parameters()) / 1e6, len(train_set))
    seed, pin = cfg.train.seed, pins_memory(cfg.train.device)
    result = fit(tts.model, lambda epoch: _loader(train_set, cfg.data, True, seed, epoch, pin),
                 (lambda: _loader(valid_set, cfg.data, False, seed, pin_memory=pin)) if valid_set is not None
                 else None, cfg.optim, cfg.train, out_dir)
    if result.reason == "interrupted":  # not finished: no model.pt from a partial run
        raise TrainingInterrupted(result.step, result.signal)
    paths = select_checkpoints(out_dir, cfg.average_best, "loss" if valid_set is not None else None)
    tts.model.load_state_dict(average_checkpoints(paths))
    tts.save(out_dir / "model.pt")
    log.info("wrote %s (averaged %s)", out_dir / "model.pt", ", ".join(p.name for p in paths))
    return tts


def speak(tts: TTSModel, texts: list[str], where: str, length_scale: float = 1.0,
          phon_cfg: PhonemizerConfig | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, list[str], list[int]]]:
    """(waveform in [-1, 1] at ``tts.mel.sample_rate``, mel, phones, phone durations) of each text, in order;
    unknown phones are warned about (naming ``where``) and mapped to the nearest known one."""
    tts.model.eval()
    encode = tts.encoder(where, "warn", fallback=True)
    for phones in phonemize(texts, tts.lang, phon_cfg):
        inputs = encode(phones)[None]
        with torch.no_grad():
            mel, length, durations = tts.model.infer(inputs, torch.tensor([inputs.size(1)]), length_scale,
                                                     return_durations=True)
        mel = mel[0, : int(length)].numpy()
        yield np.clip(griffin_lim(mel, tts.mel), -1, 1), mel, phones, durations[0].tolist()


def synthesize(model_path: str | Path, texts: dict[str, str], out_dir: str | Path, length_scale: float = 1.0,
               phon_cfg: PhonemizerConfig | None = None, plots: int = 0) -> list[Path]:
    """Speak ``texts`` ({utt: text}) into ``out_dir/wav/<utt>.wav`` and a Kaldi dir (wav.scp, text, utt2spk);
    for the first `plots` utterances also ``out_dir/plots/<utt>.png`` (mel and predicted phone durations)."""
    from legokit.tts.plot import plot_synthesis

    tts = load_tts_model(model_path)
    out = Path(out_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    ids = list(texts)
    wavs = []
    spoken = speak(tts, [texts[u] for u in ids], str(model_path), length_scale, phon_cfg)
    for i, (uid, (wave, mel, phones, durations)) in enumerate(zip(ids, spoken)):
        wavs.append((out / "wav" / f"{uid}.wav").resolve())
        sf.write(wavs[-1], wave, tts.mel.sample_rate, subtype="PCM_16")
        if i < plots:
            plot_synthesis(mel, phones, durations, out / "plots" / f"{uid}.png",
                           f"{uid} ({tts.lang})", 1000 * tts.mel.hop_length / tts.mel.sample_rate)
    (out / "wav.scp").write_text("".join(f"{u} {w}\n" for u, w in zip(ids, wavs)), encoding="utf-8")
    (out / "text").write_text("".join(f"{u} {texts[u]}\n" for u in ids), encoding="utf-8")
    (out / "utt2spk").write_text("".join(f"{u} tts\n" for u in ids), encoding="utf-8")
    (out / "spk2utt").write_text(f"tts {' '.join(ids)}\n", encoding="utf-8")
    return wavs
