"""Brick files: weights + manifest, saved alone; models composed from them.

A brick file is a ``torch.save`` of plain data, loadable with ``torch.load(weights_only=True)`` (no
pickled code is ever executed)::

    {"format": "legokit-brick/1",
     "manifest": "<JSON>",            # kind, arch, input/output interface, length stats, provenance
     "state_dict": {name: Tensor},
     "tokenizers": {role: uint8 Tensor},   # sentencepiece models ("input", "output") embedded
     "sha256": "<hex>"}               # over the manifest, tensors and tokenizers; verified on load

A model file (``legokit-model/1``) is a list of brick payloads in chain order: encoder bricks, then an
optional decoder brick. ``compose`` checks that each output interface signature equals the next input
interface signature and chooses the length rate of the last encoder so that its output lengths match
what the reused decoder saw in training.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from legokit import __version__
from legokit.config import from_dict, to_dict
from legokit.data.tokenizer import Tokenizer
from legokit.data.vocab import VocabularyInfo
from legokit.errors import LegokitError
from legokit.fileio import load_plain, write_atomic
from legokit.lego.codec import build_loaded, decode_module, encode_state
from legokit.lego.decoders import DecoderBrick, DecoderBrickConfig
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.interface import InterfaceVocab
from legokit.lego.model import ChainLossConfig, LegoModel
from legokit.provenance import environment, git_hash
from legokit.train.checkpoint import MAGIC as CHECKPOINT_MAGIC
from legokit.train.checkpoint import META_KEY as CHECKPOINT_META_KEY

log = logging.getLogger(__name__)
BRICK_FORMAT = "legokit-brick/1"
MODEL_FORMAT = "legokit-model/1"


@dataclass
class Brick:
    """A loaded brick: its module, manifest and embedded tokenizers."""

    module: EncoderBrick | DecoderBrick
    manifest: dict[str, Any]
    tokenizers: dict[str, Tokenizer] = field(default_factory=dict)
    path: str = "<memory>"

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def vocabulary(self) -> VocabularyInfo:
        """Ids of the output vocabulary, read from the manifest's output interface; bricks written before the
        ids were recorded (and encoders with a states interface) take them from their output tokenizer."""
        tokenizer = self.tokenizers.get("output")
        return VocabularyInfo.from_interface(self.manifest["output_interface"], tokenizer and tokenizer.vocab,
                                             f"{self.path} (output_interface)")


# --- interfaces ---------------------------------------------------------------------------------------
def _vocab_interface(tokenizer: Tokenizer) -> dict[str, Any]:
    return InterfaceVocab.from_tokenizer(tokenizer).describe()


def _tokens_interface(tokenizer: Tokenizer) -> dict[str, Any]:
    desc = _vocab_interface(tokenizer)
    desc["type"] = "tokens"
    return desc


def encoder_interfaces(brick: EncoderBrick, input_tokenizer: Tokenizer | None,
                       output_tokenizer: Tokenizer | None,
                       features: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Manifest entries for an encoder brick's input and output interfaces."""
    cfg = brick.cfg
    if cfg.input == "speech":
        inp = {"type": "features", "feat_dim": cfg.feat_dim, **(features or {})}
    elif cfg.input == "text":
        inp = _tokens_interface(input_tokenizer)
    else:
        inp = _vocab_interface(input_tokenizer)
    out = _vocab_interface(output_tokenizer) if cfg.ctc_head else {"type": "states", "dim": brick.dim}
    return inp, out


def decoder_interfaces(brick: DecoderBrick, input_tokenizer: Tokenizer | None,
                       output_tokenizer: Tokenizer, input_dim: int | None = None
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    if brick.cfg.ingestor.kind == "states":
        inp = {"type": "states", "dim": input_dim}
    else:
        inp = _vocab_interface(input_tokenizer)
    return inp, _tokens_interface(output_tokenizer)


# --- payloads -----------------------------------------------------------------------------------------
def _checksum(manifest: str, state: dict[str, Tensor], tokenizers: dict[str, Tensor]) -> str:
    digest = hashlib.sha256(manifest.encode("utf-8"))
    for group in (state, tokenizers):
        for name in sorted(group):
            tensor = group[name].detach().cpu().contiguous()
            digest.update(name.encode() + str(tensor.dtype).encode() + str(tuple(tensor.shape)).encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy() if tensor.numel() else b"")  # no copy
    return digest.hexdigest()


def brick_payload(brick: Brick) -> dict[str, Any]:
    manifest = json.dumps(brick.manifest, sort_keys=True)
    if brick.manifest.get("compression"):
        state = encode_state(brick.module, brick.manifest["compression"])
    else:
        state = {k: v.detach().cpu().clone() for k, v in brick.module.state_dict().items()}
    toks = {role: torch.frombuffer(bytearray(tok.model_bytes), dtype=torch.uint8)
            for role, tok in brick.tokenizers.items()}
    return {"format": BRICK_FORMAT, "manifest": manifest, "state_dict": state, "tokenizers": toks,
            "sha256": _checksum(manifest, state, toks)}


def make_manifest(kind: str, module: EncoderBrick | DecoderBrick, arch: dict[str, Any],
                  input_interface: dict[str, Any], output_interface: dict[str, Any],
                  training: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "kind": kind, "legokit_version": __version__, "git_hash": git_hash(), "environment": environment(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "arch": {"config": to_dict(module.cfg), **arch},
        "input_interface": input_interface, "output_interface": output_interface,
        "length_stats": module.length_stats.summary(), "training": training or {},
    }


def _atomic_save(obj: Any, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(buffer.getvalue(), path)

def save_brick(brick: Brick, path: str | Path) -> None:
    """Write one brick file atomically."""
    _atomic_save(brick_payload(brick), Path(path))


def save_model(bricks: list[Brick], path: str | Path) -> None:
    """Write a composed model (chain order) atomically."""
    _atomic_save({"format": MODEL_FORMAT, "bricks": [brick_payload(b) for b in bricks]}, Path(path))


def _checkpoint_given(path: Path) -> LegokitError:
    return LegokitError(f"{path}: not a readable legokit brick/model file: it is a training checkpoint "
                        "(from `legokit train` or `legokit average`); pass the model.pt or bricks/*.brick "
                        "that `legokit train` exports (already averaged over the best checkpoints)")


def read_file_payload(path: Path) -> Any:
    """The content of a brick/model file (or of another plain torch file, e.g. a TTS model.pt), read once;
    a checkpoint of format 1 is refused."""
    with contextlib.suppress(OSError), open(path, "rb") as f:
        if f.read(len(CHECKPOINT_MAGIC)) == CHECKPOINT_MAGIC:  # a checkpoint of format 1 (not a torch file)
            raise _checkpoint_given(path)
    return load_plain(path, "legokit brick/model file", "re-create it with `legokit train` or `legokit compose`")


def _not_a_checkpoint(payload: Any, path: Path) -> Any:
    if isinstance(payload, dict) and CHECKPOINT_META_KEY in payload:
        raise _checkpoint_given(path)
    return payload


def _build_module(manifest: dict[str, Any], origin: str) -> EncoderBrick | DecoderBrick:
    arch = manifest["arch"]
    if manifest["kind"] == "encoder":
        cfg = from_dict(EncoderBrickConfig, arch["config"], source=f"{origin} manifest arch.config")
        pad = manifest.get("input_interface", {}).get("pad_id", 0) if cfg.input == "text" else 0
        if pad != 0:  # collate_text pads source tokens with 0, the embedding's padding_idx (tokenizer convention)
            raise LegokitError(f"{origin}: manifest input_interface pad_id is {pad}, but a text encoder brick pads "
                               "its source tokens with id 0 (legokit's tokenizer convention); re-export the brick")
        input_vocab = None
        if cfg.input == "interface" and (cfg.text_frames_per_token is not None or cfg.text_token_errors > 0):
            input_vocab = VocabularyInfo.from_interface(manifest.get("input_interface", {}), None,
                                                        f"{origin} (input_interface)")
        return EncoderBrick(cfg, arch.get("input_vocab_size", 0), arch.get("output_vocab_size", 0), input_vocab)
    if manifest["kind"] == "decoder":
        cfg = from_dict(DecoderBrickConfig, arch["config"], source=f"{origin} manifest arch.config")
        return DecoderBrick(cfg, arch.get("input_vocab_size", 0), arch["output_vocab_size"],
                            input_dim=arch.get("input_dim"))
    raise LegokitError(f"{origin}: unknown brick kind {manifest['kind']!r} (expected encoder or decoder)")


def _tensor_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, Tensor) for v in value.values())


def _malformed_manifest(origin: str, err: Exception) -> LegokitError:
    return LegokitError(f"{origin}: malformed brick manifest ({type(err).__name__}: {err}); re-export it")


def brick_from_payload(payload: Any, origin: str) -> Brick:
    """Verify a payload's format and checksum and build its module."""
    if not isinstance(payload, dict) or payload.get("format") != BRICK_FORMAT:
        raise LegokitError(f"{origin}: not a legokit brick (expected format {BRICK_FORMAT})")
    manifest_json, state, toks = payload.get("manifest"), payload.get("state_dict"), payload.get("tokenizers", {})
    if not (isinstance(manifest_json, str) and _tensor_dict(state) and _tensor_dict(toks)):
        raise LegokitError(f"{origin}: malformed brick (manifest, state_dict or tokenizers missing or of the "
                           "wrong type); re-export it")
    if _checksum(manifest_json, state, toks) != payload.get("sha256"):
        raise LegokitError(f"{origin}: checksum mismatch — the file is corrupted or was modified; "
                           "restore it from a backup or re-export it")
    manifest: Any = None

    def build() -> EncoderBrick | DecoderBrick:
        try:
            return _build_module(manifest, origin)
        except (ValueError, KeyError, TypeError) as err:
            raise _malformed_manifest(origin, err) from None

    try:
        manifest = json.loads(manifest_json)
    except ValueError as err:
        raise _malformed_manifest(origin, err) from None
    if isinstance(manifest, dict) and manifest.get("compression"):
        module = decode_module(build(), state, manifest["compression"], origin)
    else:  # the weights overwrite a random initialisation: none is made
        module = build_loaded(build, state, origin)
    tokenizers = {role: Tokenizer(bytes(t.numpy().tobytes()), origin=f"{origin}:{role}")
                  for role, t in toks.items()}
    return Brick(module, manifest, tokenizers, origin)


def read_brick_file(path: str | Path, payload: Any = None) -> list[Brick]:
    """The bricks of a brick file (one brick) or a model file (its bricks in chain order); ``payload``: the
    file's content if already read (:func:`read_file_payload`). Folders and hub ids:
    :func:`legokit.lego.loading.load_bricks`, which every user-facing path goes through."""
    path = Path(path)
    payload = _not_a_checkpoint(read_file_payload(path) if payload is None else payload, path)
    if isinstance(payload, dict) and payload.get("format") == MODEL_FORMAT:
        bricks = payload.get("bricks")
        if not isinstance(bricks, list) or not bricks:
            raise LegokitError(f"{path}: malformed model file (no list of bricks); re-create it with "
                               "`legokit train` or `legokit compose`")
        return [brick_from_payload(p, f"{path}[brick {i}]") for i, p in enumerate(bricks)]
    return [brick_from_payload(payload, str(path))]


def chain_task(bricks: list[Brick]) -> str:
    """The task of a chain: "mt" for text input; for speech input "sum" when the last encoder has no CTC head
    and a decoder follows (a summary is not aligned with the speech, so E2E summarisation is trained without
    CTC, see egs/debian_sum/sum1/conf/demo/sum.yaml), else "asr". A brick's manifest key ``task`` wins."""
    explicit = bricks[-1].manifest.get("task")
    if explicit:
        return str(explicit)
    if bricks[0].manifest["input_interface"].get("type") != "features":  # text, or an interface: MT
        return "mt"
    encoders = [b for b in bricks if b.kind == "encoder"]
    return "sum" if bricks[-1].kind == "decoder" and not encoders[-1].module.cfg.ctc_head else "asr"


# --- composition --------------------------------------------------------------------------------------
def check_chain(bricks: list[Brick], allow_states: bool = False) -> None:
    """Encoders first, at most one decoder last, and every joint's interfaces equal.

    A hidden-state joint (non-modular baseline) is accepted only with ``allow_states``: for a model
    file saved as one unit."""
    kinds = [b.kind for b in bricks]
    if not bricks or kinds[0] != "encoder" or "decoder" in kinds[:-1]:
        raise LegokitError(f"cannot compose {[b.path for b in bricks]} (kinds {kinds}): expected one or "
                           "more encoder bricks followed by at most one decoder brick")
    for up, down in zip(bricks, bricks[1:]):
        out, inp = up.manifest["output_interface"], down.manifest["input_interface"]
        if inp.get("type") == "states" and allow_states:
            continue  # the decoder reads hidden states: a baseline model saved as one unit
        if out.get("type") == "states" or inp.get("type") == "states":
            raise LegokitError(f"cannot compose {up.path} -> {down.path}: a non-modular (hidden-state) "
                               "joint; only bricks with vocabulary interfaces can be swapped")
        if out.get("signature") != inp.get("signature"):
            raise LegokitError(
                f"interface mismatch: {up.path} outputs interface {out.get('signature')} "
                f"(|V|={out.get('size')}) but {down.path} expects {inp.get('signature')} "
                f"(|V|={inp.get('size')}); bricks must share the same interface vocabulary "
                "(train them with the same sentencepiece model)")


def choose_length_rate(encoder: Brick, decoder: Brick) -> float | None:
    """Rate r for the encoder's OLC so its interface lengths match the decoder's training lengths.

    With τ_e = (encoder target length)/(encoder input length) from the encoder's training data and
    ρ_d = (interface length)/(output length) seen by the decoder, r = ρ_d·τ_e. Returns None when the
    encoder has no OLC or statistics are missing.
    """
    enc_stats, dec_stats = encoder.manifest["length_stats"], decoder.manifest["length_stats"]
    if encoder.module.cfg.length_rate is None or not enc_stats or not dec_stats:
        return None
    # a decoder records no target lengths (its output lengths are the targets + 1): only the encoder's are needed
    if not enc_stats.get("target_mean") or not enc_stats.get("input_mean") or not dec_stats.get("output_mean"):
        return None
    # decoder: input = interface lengths K, output = prev-token lengths (target + 1)
    rho = dec_stats["input_mean"] / dec_stats["output_mean"]
    tau = enc_stats["target_mean"] / enc_stats["input_mean"]
    return rho * tau


def compose(bricks: list[Brick], length_rate: float | str | None = "auto",
            loss: ChainLossConfig | None = None, allow_states: bool = False) -> LegoModel:
    """Join bricks into a :class:`LegoModel` after checking the interfaces.

    ``length_rate``: "auto" (choose from length statistics), a number (set it), or None (keep).
    ``allow_states``: accept hidden-state joints (a baseline model file loaded as a whole).
    """
    check_chain(bricks, allow_states)
    encoders = [b for b in bricks if b.kind == "encoder"]
    decoder = bricks[-1] if bricks[-1].kind == "decoder" else None
    last = encoders[-1].module
    if decoder is not None and last.olc is not None and length_rate is not None:
        rate = choose_length_rate(encoders[-1], decoder) if length_rate == "auto" else float(length_rate)
        if rate is not None:
            log.info("length rate of %s: %.3f -> %.3f (decoder %s saw interface lengths %s)", encoders[-1].path,
                     last.olc.rate, rate, decoder.path, decoder.manifest["length_stats"])
            last.olc.set_rate(rate)
            last.cfg.length_rate = rate
            encoders[-1].manifest["arch"]["config"]["length_rate"] = rate
            encoders[-1].manifest.setdefault("composition", {})["length_rate"] = rate
    target = bricks[-1].vocabulary  # what an encoder without a vocabulary interface (states) is trained towards
    vocabularies = [b.vocabulary if b.manifest["output_interface"].get("type") != "states" else target for b in bricks]
    return LegoModel([e.module for e in encoders], decoder.module if decoder else None, loss=loss,
                     vocabularies=vocabularies)
