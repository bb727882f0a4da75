"""Import a fairseq Transformer's weights into legokit's Transformer encoder/decoder (no fairseq needed).

legokit's layers are pre-norm, so the fairseq model must have been trained with
``--encoder-normalize-before --decoder-normalize-before`` (fairseq's ``transformer`` arch, 0.12.x names).
The name mapping, per layer (fairseq -> legokit)::

    encoder.layers.i.self_attn.{q,k,v,out}_proj    -> layers.i.self_attn.{q,k,v,out}_proj
    encoder.layers.i.self_attn_layer_norm           -> layers.i.norm_attn
    decoder.layers.i.self_attn_layer_norm           -> layers.i.norm_self
    decoder.layers.i.encoder_attn                   -> layers.i.cross_attn
    decoder.layers.i.encoder_attn_layer_norm        -> layers.i.norm_cross
    {encoder,decoder}.layers.i.fc1 / fc2            -> layers.i.ffn.0 / ffn.3
    {encoder,decoder}.layers.i.final_layer_norm     -> layers.i.norm_ffn
    {encoder,decoder}.layer_norm                    -> norm

Embeddings keep fairseq's dictionary order (``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3, then the
dict.txt symbols), which is not a legokit tokenizer's; :class:`ImportedTransformer` runs the imported
model on fairseq token ids with fairseq's scaled embeddings and sinusoidal positions, so its outputs can
be compared with fairseq's own.

fairseq checkpoints pickle their config (argparse/omegaconf objects), so ``torch.load(weights_only=True)``
refuses them; :func:`read_checkpoint` loads them only when told the file is trusted. The plain-data
export ``{"model": state_dict, "cfg": {...}}`` (see tests/fixtures/interop/make_fairseq_fixture.py) loads safely.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from legokit.errors import LegokitError
from legokit.nn.transformer import TransformerDecoder, TransformerEncoder

FAIRSEQ_PAD = 1
_LAYER_KEY = re.compile(r"layers\.(\d+)\.([a-z][a-z0-9_]*)\.(.+)")
_ENCODER_PARTS = {"self_attn": "self_attn", "self_attn_layer_norm": "norm_attn", "fc1": "ffn.0", "fc2": "ffn.3",
                  "final_layer_norm": "norm_ffn"}
_DECODER_PARTS = {"self_attn": "self_attn", "self_attn_layer_norm": "norm_self", "encoder_attn": "cross_attn",
                  "encoder_attn_layer_norm": "norm_cross", "fc1": "ffn.0", "fc2": "ffn.3",
                  "final_layer_norm": "norm_ffn"}


def read_checkpoint(path: str | Path, trusted: bool = False) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(model state dict, config as a dict) of a fairseq checkpoint or of its plain-data export.

    ``trusted=True`` allows unpickling a real fairseq checkpoint (needs fairseq/omegaconf importable and
    executes code from the file: only for files you made or trust).
    """
    path = Path(path)
    if not path.is_file():
        raise LegokitError(f"{path}: no such fairseq checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=not trusted)
    except Exception as err:
        raise LegokitError(f"{path}: cannot be read as plain data ({type(err).__name__}); a fairseq checkpoint "
                           "pickles its config — pass trusted=True if you made or trust this file") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise LegokitError(f"{path}: not a fairseq checkpoint (expected a dict with a 'model' state dict)")
    cfg = ckpt.get("cfg") or {}
    if not isinstance(cfg, dict):  # omegaconf DictConfig of a real checkpoint
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(cfg, resolve=True)
    model_cfg = cfg.get("model") or {}
    return ckpt["model"], model_cfg if isinstance(model_cfg, dict) else vars(model_cfg)


def _rename(state: dict[str, Tensor], prefix: str, parts: dict[str, str], origin: str) -> dict[str, Tensor]:
    """fairseq names under ``prefix`` (e.g. "encoder.") -> legokit stack names (module docstring)."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        match = _LAYER_KEY.fullmatch(name)
        if match:
            index, part, rest = match.groups()
            if part not in parts:
                raise LegokitError(f"{origin}: unsupported fairseq parameter {key!r} (legokit's Transformer "
                                   f"layers have {', '.join(parts)})")
            out[f"layers.{index}.{parts[part]}.{rest}"] = value
        elif name.startswith("layer_norm."):
            out["norm." + name[len("layer_norm."):]] = value
        elif name.startswith("layernorm_embedding."):
            raise LegokitError(f"{origin}: {key!r}: embedding layer norm (--layernorm-embedding) has no legokit "
                               "counterpart; train the fairseq model without it")
    if f"{prefix}layer_norm.weight" not in state:
        raise LegokitError(f"{origin}: no {prefix}layer_norm: the fairseq model is post-norm; legokit layers are "
                           "pre-norm — train it with --encoder-normalize-before --decoder-normalize-before")
    return out


@dataclass
class FairseqDims:
    """Sizes of a fairseq Transformer, read from its weights (heads from its config)."""

    encoder_layers: int
    decoder_layers: int
    dim: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int
    encoder_heads: int
    decoder_heads: int

    @classmethod
    def infer(cls, state: dict[str, Tensor], cfg: dict[str, Any]) -> FairseqDims:
        def count(prefix: str) -> int:
            return len({k.split(".")[2] for k in state if k.startswith(f"{prefix}.layers.")})

        return cls(count("encoder"), count("decoder"), state["encoder.embed_tokens.weight"].size(1),
                   state["encoder.layers.0.fc1.weight"].size(0), state["decoder.layers.0.fc1.weight"].size(0),
                   int(cfg.get("encoder_attention_heads", 8)), int(cfg.get("decoder_attention_heads", 8)))


def fairseq_positions(tokens: Tensor, dim: int, padding_idx: int = FAIRSEQ_PAD) -> Tensor:
    """fairseq's SinusoidalPositionalEmbedding: tokens (B, T) -> (B, T, dim).

    Positions count from padding_idx + 1 over non-padding tokens; the table is [sin | cos] halves with
    frequencies exp(-j·ln(10000)/(dim/2 - 1)); padding gets zeros.
    """
    mask = tokens.ne(padding_idx)
    positions = (torch.cumsum(mask, dim=1) * mask + padding_idx).float()  # (B, T)
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=tokens.device) * -(math.log(10000.0) / (half - 1)))
    angles = positions[..., None] * freqs  # (B, T, half)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
    if dim % 2:
        table = torch.nn.functional.pad(table, (0, 1))
    return table * mask[..., None]


class ImportedTransformer(nn.Module):
    """A fairseq pre-norm Transformer run by legokit's encoder/decoder stacks.

    Args:
        state: the fairseq model state dict.
        cfg: its model config (for the numbers of attention heads).
        origin: name for error messages.
    """

    def __init__(self, state: dict[str, Tensor], cfg: dict[str, Any], origin: str = "<fairseq>") -> None:
        super().__init__()
        dims = FairseqDims.infer(state, cfg)
        self.dims = dims
        self.encoder = TransformerEncoder(dims.encoder_layers, dims.dim, dims.encoder_heads, dims.encoder_ffn_dim,
                                          dropout=0.0)
        self.decoder = TransformerDecoder(dims.decoder_layers, dims.dim, dims.decoder_heads, dims.decoder_ffn_dim,
                                          dropout=0.0, causal=True)
        self.encoder.load_state_dict(_rename(state, "encoder.", _ENCODER_PARTS, origin))
        self.decoder.load_state_dict(_rename(state, "decoder.", _DECODER_PARTS, origin))
        self.src_embed = nn.Embedding.from_pretrained(state["encoder.embed_tokens.weight"], freeze=False)
        self.tgt_embed = nn.Embedding.from_pretrained(state["decoder.embed_tokens.weight"], freeze=False)
        output = state.get("decoder.output_projection.weight", state["decoder.embed_tokens.weight"])
        self.output = nn.Linear(dims.dim, output.size(0), bias=False)
        self.output.weight = nn.Parameter(output.clone())
        self.scale = math.sqrt(dims.dim) if not cfg.get("no_scale_embedding", False) else 1.0

    def _embed(self, embed: nn.Embedding, tokens: Tensor) -> Tensor:
        return self.scale * embed(tokens) + fairseq_positions(tokens, self.dims.dim)

    def forward(self, src_tokens: Tensor, prev_output_tokens: Tensor) -> tuple[Tensor, Tensor]:
        """fairseq token ids src (B, S), prev (B, U) (padding = 1) -> (encoder states (B, S, D),
        decoder logits (B, U, V)), as fairseq's model(src_tokens, src_lengths, prev_output_tokens)."""
        src_pad, prev_pad = src_tokens.eq(FAIRSEQ_PAD), prev_output_tokens.eq(FAIRSEQ_PAD)
        x = self._embed(self.src_embed, src_tokens).masked_fill(src_pad[..., None], 0.0)
        memory = self.encoder(x, src_pad)
        hidden = self.decoder(self._embed(self.tgt_embed, prev_output_tokens), memory, src_pad,
                              prev_pad if prev_pad.any() else None)
        return memory, self.output(hidden)


def import_transformer(path: str | Path, trusted: bool = False) -> ImportedTransformer:
    """Read a fairseq checkpoint (or its plain export) into an eval-mode :class:`ImportedTransformer`."""
    state, cfg = read_checkpoint(path, trusted)
    return ImportedTransformer(state, cfg, origin=str(path)).eval()
