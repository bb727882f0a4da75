"""One experiment: its config, data loaders, model, training run and exported bricks.

``legokit train --config conf/train.yaml --out-dir exp/x key=value ...`` calls :func:`train`:

1. load :class:`ExperimentConfig` (YAML + dotted overrides) and write ``exp/x/config.yaml``;
2. build the data (MT text pairs or speech features + tokenizers) and the brick chain
   (optionally starting from, or freezing, pretrained bricks: LegoNN reuse);
3. run the trainer (resumable; DDP under torchrun);
4. average the N best checkpoints and export ``exp/x/bricks/{encoder,decoder}.brick`` and the
   composed ``exp/x/model.pt`` with manifests (interfaces, length statistics, data, scores).
"""

from __future__ import annotations

import difflib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import yaml
from torch.utils.data import DataLoader

from legokit.config import dump_yaml, load_config, ranged, to_dict
from legokit.data.augment import AugmentConfig, AugmentedSpeech
from legokit.data.batching import BucketBatchSampler, SpeechCollator, collate_text
from legokit.data.datasets import SpeechDataset, TextPairDataset
from legokit.data.features import CMVNStats
from legokit.data.specaug import SpecAugConfig, SpecAugment
from legokit.data.tokenizer import Tokenizer
from legokit.errors import LegokitError
from legokit.lego.bricks import (
    Brick,
    check_chain,
    compose,
    decoder_interfaces,
    encoder_interfaces,
    make_manifest,
    save_brick,
    save_model,
)
from legokit.lego.decoders import DecoderBrick, DecoderBrickConfig
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.interface import InterfaceVocab
from legokit.lego.loading import load_brick, load_bricks
from legokit.lego.model import ChainLossConfig, LegoModel
from legokit.train.checkpoint import average_checkpoints, select_checkpoints
from legokit.train.config import OptimConfig, TrainConfig
from legokit.train.distributed import distributed_info
from legokit.train.seeding import generator, seed_everything
from legokit.train.trainer import TrainingInterrupted, fit, pins_memory

log = logging.getLogger(__name__)


@dataclass
class DataConfig:
    """Where the data is and how it is batched."""

    task: Literal["mt", "asr"] = "mt"     # mt: text pairs; asr: speech features -> text
    train_dir: str = "data/train"         # Kaldi-style data dir (MT: text.<lang> files)
    valid_dir: str = "data/valid"
    train_feats: str = ""                 # asr: feats.scp of the training feature dump
    valid_feats: str = ""                 # asr: feats.scp of the validation feature dump
    target_file: str = "text"             # asr: file of the data dirs holding the targets (transcript:
                                          # ASR pre-training on summarisation speech, whose text = summary)
    src_lang: str = "de"                  # mt: source language suffix of text.<lang>
    tgt_lang: str = "en"                  # mt: target language suffix
    src_tokenizer: str = ""               # mt: sentencepiece model of the source
    tgt_tokenizer: str = ""               # sentencepiece model of the target = the interface vocabulary
    max_tokens: int = ranged(4000, "[1, inf)")  # batch budget: padded tokens (mt) or frames (asr)
    max_batch_size: int | None = ranged(None, "[1, inf)")  # at most this many samples per batch
    max_length: int | None = ranged(None, "[1, inf)")  # drop longer samples (tokens or frames)
    specaug: SpecAugConfig | None = None  # asr: SpecAugment in training (null = off)
    augment: AugmentConfig | None = None  # asr: speed/reverb/noise on the training waveforms (null = off)
    num_workers: int = ranged(0, "[0, inf)")  # DataLoader worker processes


@dataclass
class ModelConfig:
    """The brick chain to train: one encoder brick and an optional decoder brick."""

    encoder: EncoderBrickConfig = field(default_factory=EncoderBrickConfig)
    decoder: DecoderBrickConfig | None = field(default_factory=DecoderBrickConfig)  # null: CTC only
    init_model: str | None = None     # fine-tune this model file (composed bricks); encoder/decoder ignored
    upstream: list[str] = field(default_factory=list)  # brick files before the encoder (its input interface)
    freeze_upstream: bool = True      # keep the upstream bricks fixed (the usual way to add a brick to a chain)
    init_encoder: str | None = None   # start the encoder from this brick file
    init_encoder_skip_ctc: bool = False  # take init_encoder's weights but not its CTC head or length statistics
                                         # (ASR -> summarisation); ctc_head, windows, dropout may differ
    init_decoder: str | None = None   # start the decoder from this brick file (LegoNN reuse)
    freeze_encoder: bool = False      # keep the encoder brick fixed (no gradient, eval mode)
    freeze_decoder: bool = False      # keep the decoder brick fixed: train a new encoder to its interface


@dataclass
class ExperimentConfig:
    """Everything `legokit train` needs; see docs/training.md."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: ChainLossConfig = field(default_factory=ChainLossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    average_best: int = ranged(5, "[1, inf)")  # average this many best checkpoints for the exported model


# --- data -------------------------------------------------------------------------------------------
def _tokenizer(path: str, key: str) -> Tokenizer:
    if not path:
        raise LegokitError(f"config key '{key}' is empty: give the sentencepiece model (.model) to use")
    return Tokenizer.load(path)


@dataclass
class ExperimentData:
    train: torch.utils.data.Dataset
    valid: torch.utils.data.Dataset | None
    src_tokenizer: Tokenizer | None
    tgt_tokenizer: Tokenizer
    cmvn: CMVNStats | None
    features: dict


def load_data(cfg: DataConfig) -> ExperimentData:
    tgt = _tokenizer(cfg.tgt_tokenizer, "data.tgt_tokenizer")
    if cfg.task == "mt":
        src = _tokenizer(cfg.src_tokenizer, "data.src_tokenizer")
        train = TextPairDataset(cfg.train_dir, cfg.src_lang, cfg.tgt_lang, src, tgt)
        valid = TextPairDataset(cfg.valid_dir, cfg.src_lang, cfg.tgt_lang, src, tgt) if cfg.valid_dir else None
        return ExperimentData(train, valid, src, tgt, None, {})
    if not cfg.train_feats:
        raise LegokitError("config key 'data.train_feats' is empty: run `legokit features` and give its feats.scp")
    dump = Path(cfg.train_feats).parent
    cmvn = CMVNStats.load(dump / "cmvn.json")
    meta_path = dump / "fbank.json"
    features = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    train = SpeechDataset(cfg.train_dir, cfg.train_feats, tgt, text_file=cfg.target_file)
    valid = (SpeechDataset(cfg.valid_dir, cfg.valid_feats, tgt, text_file=cfg.target_file)
             if cfg.valid_feats else None)
    return ExperimentData(train, valid, None, tgt, cmvn, features)


def augmented(dataset, cfg: DataConfig, seed: int):
    """``dataset`` as an AugmentedSpeech if ``cfg.augment`` is on (asr; the same if it is one already), else
    itself. Made once per run and given to :func:`make_loader` every epoch, it reads the data dir, the fbank
    config and the noise files once."""
    if isinstance(dataset, AugmentedSpeech) or cfg.task != "asr" or cfg.augment is None or not cfg.augment.enabled:
        return dataset
    return AugmentedSpeech(dataset, cfg.train_dir, cfg.train_feats, cfg.augment, seed, 0)


def make_loader(dataset, cfg: DataConfig, train: bool, seed: int, epoch: int = 0, pin_memory: bool = False
                ) -> DataLoader:
    """A DataLoader over length-bucketed batches; deterministic given (seed, epoch): order, SpecAugment,
    waveform augmentation and worker seeds use generators derived from them, never the global ones; this rank's
    share. ``dataset`` may be one made by :func:`augmented` (else training wraps it here). ``pin_memory`` for
    a run on CUDA (`legokit.train.trainer.pins_memory`)."""
    rank, world = distributed_info()
    sampler = BucketBatchSampler(dataset.lengths, cfg.max_tokens, cfg.max_batch_size, shuffle=train,
                                 seed=seed, rank=rank, world_size=world, max_length=cfg.max_length,
                                 tie_lengths=getattr(dataset, "tie_lengths", None))
    sampler.set_epoch(epoch)
    if train:
        dataset = augmented(dataset, cfg, seed)
        if isinstance(dataset, AugmentedSpeech):
            dataset = dataset.for_epoch(seed, epoch)
    if cfg.task == "mt":
        collate = collate_text
    else:
        collate = SpeechCollator(SpecAugment(cfg.specaug) if train and cfg.specaug is not None else None, seed, epoch)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.num_workers,
                      generator=generator(seed, epoch), pin_memory=pin_memory)


# --- model ------------------------------------------------------------------------------------------
# parameter prefixes init_encoder_skip_ctc leaves fresh (the self-conditioning Linear reads the CTC vocabulary)
SKIPPED_WITHOUT_CTC = ("ctc.", "length_stats.", "interctc_condition.")


def _architecture(cfg: dict, prefix: str = "") -> dict[str, object]:
    """A brick config flattened to dotted keys, without the dropout rates (training settings, free to change
    when fine-tuning, as in ESPnet and fairseq)."""
    out: dict[str, object] = {}
    for key, value in cfg.items():
        if "dropout" in key:
            continue
        if isinstance(value, dict):
            out.update(_architecture(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _load_into(module: torch.nn.Module, path: str, what: str, skip_ctc: bool = False,
               vocabularies: dict[str, tuple[Tokenizer | None, str]] | None = None) -> None:
    """Copy a brick's weights into ``module``. The brick's tokenizers must equal ``vocabularies`` (role ->
    (tokenizer, config key)) and the configs must be equal but for dropout rates (and interctc_layers when neither
    conditions on them: intermediate CTC is then a loss only); with ``skip_ctc`` only the
    weights must fit (so ctc_head and windows may differ too) and the brick's CTC head and length statistics
    are not copied."""
    brick = load_brick(path)
    for role, (tokenizer, key) in (vocabularies or {}).items():
        _check_tokenizer(brick, role, tokenizer, key)
    if brick.manifest.get("compression"):
        raise LegokitError(f"{path}: is a compressed brick ({brick.manifest['compression'].get('method')}); "
                           "start training from the uncompressed brick and compress after training")
    state = brick.module.state_dict()
    differs = ""
    if skip_ctc:
        state = {k: v for k, v in state.items() if not k.startswith(SKIPPED_WITHOUT_CTC)}
        wanted = {k: v.shape for k, v in module.state_dict().items() if not k.startswith(SKIPPED_WITHOUT_CTC)}
        fits = {k: v.shape for k, v in state.items()} == wanted
    else:
        have, want = _architecture(to_dict(brick.module.cfg)), _architecture(to_dict(module.cfg))
        if not have.get("interctc_conditioning") and not want.get("interctc_conditioning"):
            have.pop("interctc_layers", None)
            want.pop("interctc_layers", None)
        keys = sorted(k for k in have.keys() | want.keys() if have.get(k) != want.get(k))
        fits = not keys
        differs = ": " + ", ".join(f"{k} is {have.get(k)!r} in the brick, {want.get(k)!r} in the config"
                                   for k in keys[:5])
    if not fits:
        raise LegokitError(f"{path}: its architecture differs from config 'model.{what}'{differs}; copy the "
                           f"brick's config (legokit brick info {path}) into your config")
    module.load_state_dict(state, strict=not skip_ctc)
    log.info("initialised the %s from %s%s", what, path, " (without CTC head)" if skip_ctc else "")


def _check_tokenizer(brick: Brick, role: str, tokenizer: Tokenizer | None, key: str) -> None:
    embedded = brick.tokenizers.get(role)
    if tokenizer is None or embedded is None:
        return
    have, want = InterfaceVocab.from_tokenizer(embedded), InterfaceVocab.from_tokenizer(tokenizer)
    if have.signature != want.signature:
        raise LegokitError(f"{brick.path}: its {role} vocabulary (signature {have.signature}, {have.size} pieces) "
                           f"differs from config '{key}' (signature {want.signature}, {want.size} pieces); use the "
                           "sentencepiece model the brick was trained with")


def _check_feature_dim(encoder: EncoderBrickConfig, data: ExperimentData, where: str) -> None:
    """A speech encoder's feat_dim must be the dimension of the training and validation feature dumps."""
    for dataset in (data.train, data.valid):
        if encoder.input == "speech" and isinstance(dataset, SpeechDataset):
            dataset.feats.check_dim(encoder.feat_dim, where)


def _model_from_file(cfg: ExperimentConfig, data: ExperimentData) -> tuple[LegoModel, dict[int, Brick]]:
    """Fine-tuning a composed model: the architecture comes from the bricks' manifests."""
    bricks = load_bricks(cfg.model.init_model)
    if bricks[-1].kind != "decoder":
        raise LegokitError(f"{cfg.model.init_model}: fine-tuning needs encoder bricks followed by a decoder "
                           f"brick, got {[b.kind for b in bricks]}")
    _check_tokenizer(bricks[0], "input", data.src_tokenizer, "data.src_tokenizer")
    _check_tokenizer(bricks[-1], "output", data.tgt_tokenizer, "data.tgt_tokenizer")
    _check_feature_dim(bricks[0].module.cfg, data, f"the first brick of {cfg.model.init_model}")
    log.info("fine-tuning the composed model %s (%d bricks)", cfg.model.init_model, len(bricks))
    model = compose(bricks, length_rate=None, loss=cfg.loss, allow_states=True)
    model.interface_targets = _interface_targets(bricks, cfg.model.init_model)
    return model, dict(enumerate(bricks))


def _interface_targets(bricks: list[Brick], origin: str) -> list[str | None]:
    """CTC target of each encoder brick of a composed model being fine-tuned: "target" (the decoder's
    vocabulary, which the batches are tokenised in) for an interface of that vocabulary, None for any other
    (e.g. a speech brick's characters in front of a pieces decoder): CTC against another vocabulary's ids is
    meaningless and, with a smaller vocabulary, out of range (NaN losses)."""
    target = bricks[-1].manifest["output_interface"].get("signature")
    keys: list[str | None] = []
    for brick in bricks[:-1]:
        interface = brick.manifest["output_interface"]
        same = interface.get("type") == "states" or interface.get("signature") == target
        keys.append("target" if same else None)
        if not same:
            log.info("%s: encoder brick %s outputs interface %s (|V|=%s), not the target vocabulary: no CTC term "
                     "for it while fine-tuning (its decoder and later bricks' losses still train it)", origin,
                     brick.path, interface.get("signature"), interface.get("size"))
    return keys


def build_model(cfg: ExperimentConfig, data: ExperimentData) -> tuple[LegoModel, dict[int, Brick]]:
    """The model to train, and the bricks loaded from files (model.init_model, model.upstream) by their index
    in the chain: `export_bricks` keeps their manifests."""
    model, loaded = (_model_from_file if cfg.model.init_model else _model_from_config)(cfg, data)
    if cfg.model.freeze_encoder:
        model.freeze(f"encoders.{len(model.encoders) - 1}")
    if cfg.model.freeze_decoder and model.decoder is not None:
        model.freeze("decoder")
    return model, loaded


def load_upstream(paths: list[str], encoder_cfg: EncoderBrickConfig) -> list[Brick]:
    """Upstream encoder bricks of a new modality-agnostic brick; checked as a chain."""
    bricks = [b for path in paths for b in load_bricks(path)]
    if any(b.kind != "encoder" for b in bricks):
        raise LegokitError(f"model.upstream: {paths} must hold encoder bricks only, got {[b.kind for b in bricks]}")
    check_chain(bricks)
    if encoder_cfg.input != "interface":
        raise LegokitError("model.upstream is set, so model.encoder.input must be 'interface' (the new brick "
                           f"reads the marginals of {bricks[-1].path}), got {encoder_cfg.input!r}")
    if "output" not in bricks[-1].tokenizers:
        raise LegokitError(f"{bricks[-1].path}: carries no output tokenizer; re-export it")
    return bricks


def _model_from_config(cfg: ExperimentConfig, data: ExperimentData) -> tuple[LegoModel, dict[int, Brick]]:
    vocab = data.tgt_tokenizer.vocab_size
    src_vocab = data.src_tokenizer.vocab_size if data.src_tokenizer else 0
    src_ids = data.src_tokenizer.vocab if data.src_tokenizer else None
    upstream = load_upstream(cfg.model.upstream, cfg.model.encoder) if cfg.model.upstream else []
    if upstream:
        src_vocab = upstream[-1].tokenizers["output"].vocab_size
        src_ids = upstream[-1].tokenizers["output"].vocab
    _check_feature_dim(cfg.model.encoder, data, "model.encoder.feat_dim")
    encoder = EncoderBrick(cfg.model.encoder, src_vocab, vocab, input_vocab=src_ids)
    if data.cmvn is not None:
        mean, std = data.cmvn.mean_std()
        encoder.set_cmvn(torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32))
    decoder = (DecoderBrick(cfg.model.decoder, vocab, vocab, input_dim=encoder.dim)
               if cfg.model.decoder is not None else None)
    if cfg.model.init_encoder:
        vocabularies = {"input": (data.src_tokenizer, "data.src_tokenizer")}
        if not cfg.model.init_encoder_skip_ctc:  # a new CTC head may have a new output vocabulary
            vocabularies["output"] = (data.tgt_tokenizer, "data.tgt_tokenizer")
        _load_into(encoder, cfg.model.init_encoder, "encoder", cfg.model.init_encoder_skip_ctc, vocabularies)
    if cfg.model.init_decoder and decoder is not None:
        target = (data.tgt_tokenizer, "data.tgt_tokenizer")
        _load_into(decoder, cfg.model.init_decoder, "decoder", vocabularies={"input": target, "output": target})
    target = data.tgt_tokenizer.vocab
    model = LegoModel([*(b.module for b in upstream), encoder], decoder, loss=cfg.loss,
                      vocabularies=[*(b.vocabulary for b in upstream), target, *([target] if decoder else [])])
    for i in range(len(upstream) if cfg.model.freeze_upstream else 0):
        model.freeze(f"encoders.{i}")
    return model, dict(enumerate(upstream))


def _new_brick(module: EncoderBrick | DecoderBrick, src_tok: Tokenizer | None, data: ExperimentData,
               training: dict, input_dim: int) -> Brick:
    """Manifest and tokenizers of a brick built from the config in this run."""
    tgt = data.tgt_tokenizer
    if isinstance(module, DecoderBrick):
        inp, out = decoder_interfaces(module, tgt, tgt, input_dim=input_dim)
        arch = {"input_vocab_size": tgt.vocab_size, "input_dim": input_dim, "output_vocab_size": tgt.vocab_size}
        return Brick(module, make_manifest("decoder", module, arch, inp, out, training), {"input": tgt, "output": tgt})
    inp, out = encoder_interfaces(module, src_tok, tgt, data.features)
    arch = {"input_vocab_size": src_tok.vocab_size if src_tok else 0, "output_vocab_size": tgt.vocab_size}
    tokenizers = {"output": tgt} | ({"input": src_tok} if src_tok else {})
    return Brick(module, make_manifest("encoder", module, arch, inp, out, training), tokenizers)


def export_bricks(model: LegoModel, data: ExperimentData, out_dir: Path, training: dict,
                  loaded: dict[int, Brick] | None = None) -> list[Brick]:
    """Write the trained bricks to bricks/ (encoder.brick — or encoder<i>.brick for several — and
    decoder.brick) and the whole chain to model.pt. ``loaded``: the bricks `build_model` loaded from files
    (model.init_model, model.upstream) by chain index; they keep their manifests, with this run's length
    statistics and training record."""
    loaded = loaded or {}
    chain = [*model.encoders, *([model.decoder] if model.decoder is not None else [])]
    bricks: list[Brick] = []
    for i, module in enumerate(chain):
        if i in loaded:
            brick = loaded[i]
            brick.manifest["length_stats"] = module.length_stats.summary() or brick.manifest["length_stats"]
            brick.manifest.setdefault("history", []).append(brick.manifest.get("training", {}))
            brick.manifest["training"] = training
        else:
            src_tok = bricks[-1].tokenizers["output"] if bricks else data.src_tokenizer
            brick = _new_brick(module, src_tok, data, training, input_dim=model.encoders[-1].dim)
        bricks.append(brick)
    frozen = {int(name.split(".")[1]) if name.startswith("encoders.") else len(chain) - 1 for name in model.frozen}
    trained = [b for i, b in enumerate(bricks) if i not in frozen]
    n_encoders = sum(b.kind == "encoder" for b in trained)
    (out_dir / "bricks").mkdir(parents=True, exist_ok=True)
    for i, brick in enumerate(trained):
        name = f"encoder{i}" if brick.kind == "encoder" and n_encoders > 1 else brick.kind
        save_brick(brick, out_dir / "bricks" / f"{name}.brick")
    save_model(bricks, out_dir / "model.pt")
    return bricks


def _check_resumable(out_dir: Path, config_yaml: str) -> None:
    """Refuse to resume checkpoints written under another config: they would silently mix two runs."""
    previous = out_dir / "config.yaml"
    if not (out_dir / "checkpoints" / "checkpoint_last.pt").is_file():
        return
    if not previous.is_file():
        raise LegokitError(f"{out_dir} holds checkpoints but no config.yaml, so they cannot be checked against "
                           f"this config (was the directory deleted while a run was still writing?); delete "
                           f"{out_dir / 'checkpoints'} or use another --out-dir to start afresh")
    if previous.read_text() != config_yaml and not _extends(previous.read_text(), config_yaml, out_dir):
        old, new = previous.read_text().splitlines(), config_yaml.splitlines()
        diff = [line for line in difflib.unified_diff(old, new, lineterm="", n=0)
                if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        raise LegokitError(f"{out_dir} holds checkpoints of a run with another config ({'; '.join(diff[:6])}); "
                           f"resume with the same config, or delete {out_dir} / use another --out-dir to start afresh")


EXTENDABLE = ("train.max_steps", "train.max_epochs")
"""Config keys a resumed run may raise: training continues from checkpoint_last to the new limit (fairseq's
--max-update, ESPnet's --max_epoch on resume)."""


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _extends(previous_yaml: str, config_yaml: str, out_dir: Path) -> bool:
    """True if ``config_yaml`` only raises EXTENDABLE limits of the run in ``out_dir`` and the learning-rate
    schedule does not depend on them; logs the extension. A lowered limit or any other change is not one."""
    old, new = _flatten(yaml.safe_load(previous_yaml) or {}), _flatten(yaml.safe_load(config_yaml) or {})
    changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    if not changed or not changed <= set(EXTENDABLE):
        return False
    if any(new.get(k) is not None and (old.get(k) is None or new[k] < old[k]) for k in changed) or \
            any(new.get(k) is None and old.get(k) is not None for k in changed):
        return False  # lowering or removing a limit: not an extension
    if "train.max_steps" in changed and new.get("optim.scheduler") == "warmup_cosine" \
            and not new.get("optim.total_steps"):
        raise LegokitError(f"{out_dir}: train.max_steps changed from {old.get('train.max_steps')} to "
                           f"{new.get('train.max_steps')}, but optim.scheduler=warmup_cosine takes its length from "
                           "it, so the learning rate of the steps already taken would change; set "
                           "optim.total_steps to extend this run, or use another --out-dir")
    log.info("extending the run in %s: %s", out_dir,
             ", ".join(f"{k} {old.get(k)} -> {new.get(k)}" for k in sorted(changed)))
    return True


def train(config: str | None, overrides: list[str], out_dir: Path) -> LegoModel:
    """Train per config, export bricks; returns the (averaged) model."""
    cfg = load_config(ExperimentConfig, config, overrides)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_resumable(out_dir, dump_yaml(cfg))
    (out_dir / "config.yaml").write_text(dump_yaml(cfg))
    seed_everything(cfg.train.seed)  # before anything random: the same weights on every run and every rank
    data = load_data(cfg.data)
    model, loaded = build_model(cfg, data)
    n_params = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("model: %.2fM parameters (%.2fM trained); %d training samples", n_params / 1e6, n_train / 1e6,
             len(data.train))
    seed, pin = cfg.train.seed, pins_memory(cfg.train.device)
    train_set = augmented(data.train, cfg.data, seed)  # once per run, not once per epoch
    result = fit(model,
                 lambda epoch: make_loader(train_set, cfg.data, True, seed, epoch, pin),
                 (lambda: make_loader(data.valid, cfg.data, False, seed, pin_memory=pin)) if data.valid is not None
                 else None,
                 cfg.optim, cfg.train, out_dir)
    if result.reason == "interrupted":
        raise TrainingInterrupted(result.step, result.signal)
    if distributed_info()[0] != 0:
        return model
    paths = select_checkpoints(out_dir, cfg.average_best, cfg.train.best_metric, cfg.train.best_mode)
    _export_average(model, cfg, data, loaded, paths, out_dir,
                    {"steps": result.step, "epochs": result.epoch, "best_valid": result.best})
    log.info("exported model averaged over %d checkpoints: %s", len(paths), ", ".join(p.name for p in paths))
    return model


def _export_average(model: LegoModel, cfg: ExperimentConfig, data: ExperimentData, loaded, paths: list[Path],
                    out_dir: Path, run: dict) -> None:
    """Load the average of checkpoints ``paths`` into ``model`` and export it (bricks + model.pt) to ``out_dir``
    with a training record: ``run`` (steps, epochs, ...) and the data, the averaged files and the config."""
    model.load_state_dict(average_checkpoints(paths))
    training = {"data": {"train": cfg.data.train_dir, "valid": cfg.data.valid_dir, "samples": len(data.train)},
                **run, "averaged": [p.name for p in paths], "config": to_dict(cfg)}
    export_bricks(model, data, out_dir, training, loaded)


def export_checkpoints(exp_dir: Path, paths: list[Path], out_dir: Path) -> LegoModel:
    """Export the average of checkpoints ``paths`` of the experiment in ``exp_dir`` (its config.yaml, data and
    tokenizers as `legokit train` read them) as bricks and model.pt in ``out_dir``, as training exports its
    best-N average: for decoding an earlier point of a run, or a last-N average (`legokit average --export-dir`)."""
    config = exp_dir / "config.yaml"
    if not config.is_file():
        raise LegokitError(f"{config} does not exist: --exp-dir must be a `legokit train` output directory")
    cfg = load_config(ExperimentConfig, config)
    seed_everything(cfg.train.seed)
    data = load_data(cfg.data)
    model, loaded = build_model(cfg, data)
    _export_average(model, cfg, data, loaded, paths, out_dir, {})
    return model
