"""A chain of bricks: encoder bricks joined by interfaces, then (optionally) a decoder brick.

Training minimises CE(decoder) + λ·Σ_i CTC(interface i) (LegoNN; λ = 1 by default). Without the CTC
term the interface is not a distribution over the vocabulary and swapped bricks fail (0.0 BLEU in the
paper). A brick with intermediate CTC layers (``interctc_layers``) has CTC(interface i) = (1 - w)·CTC_final +
w·mean_k CTC_k, w = ``interctc_weight`` (Lee & Watanabe, 2021; ESPnet's formula). The same class covers the
non-modular baselines: an encoder without a CTC head whose hidden states feed a decoder with
``ingestor.kind="states"`` (plus an optional CTC head for joint CTC/attention ASR).

Batches follow the legokit convention; the first encoder reads ``speech``/``speech_lengths`` or
``source``/``source_lengths``. Interface i's CTC target is ``batch[interface_targets[i]]`` (default
"target") with its ``*_lengths``; None: the interface has no CTC target in this training (e.g. a speech brick's
character interface while a composed model is fine-tuned towards the decoder's pieces) and gets no CTC term. The
special ids (CTC blank, padding, bos, eos) are those of each brick's
output vocabulary (``vocabularies``, from the brick manifests: :attr:`legokit.lego.bricks.Brick.vocabulary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from legokit.config import ranged
from legokit.data.vocab import VocabularyInfo
from legokit.decode.beam_search import BeamSearchConfig, Hypothesis, beam_search
from legokit.decode.ctc import ctc_greedy
from legokit.errors import LegokitError
from legokit.lego.decoders import DecoderBrick
from legokit.lego.encoders import EncoderBrick, EncoderOutput
from legokit.lego.interface import marginals
from legokit.losses import LossConfig, ctc_loss, sequence_loss
from legokit.nn.masks import padding_mask


@dataclass
class ChainLossConfig:
    """Loss of a brick chain: decoder sequence loss + weighted CTC on every interface."""

    ctc_weight: float = 1.0  # λ on each interface's CTC term (LegoNN default 1.0)
    decoder: LossConfig = field(default_factory=LossConfig)  # ce / label smoothing / anti-focal / focal
    # w of intermediate CTC (ESPnet's interctc_weight): a brick with model.encoder.interctc_layers has the CTC term
    # (1 - w)·CTC_final + w·mean_k CTC_k over its intermediate layers k; 0 = the final CTC alone
    interctc_weight: float = ranged(0.0, "[0, 1)")


def _decoder_io(target: Tensor, lengths: Tensor, vocab: VocabularyInfo) -> tuple[Tensor, Tensor, Tensor]:
    """target (B, U) padded -> prev tokens (B, U+1) = bos+target, gold (B, U+1) = target+eos (padding of both =
    ``vocab.pad``, never a target token), and prev lengths (B,) = U_b + 1."""
    b, u = target.shape
    padding = padding_mask(lengths + 1, u + 1)
    prev = torch.cat([target.new_full((b, 1), vocab.bos), target], dim=1).masked_fill(padding, vocab.pad)
    gold = torch.cat([target, target.new_zeros(b, 1)], dim=1)
    gold.scatter_(1, lengths[:, None], vocab.eos)
    gold = gold.masked_fill(padding, vocab.pad)
    return prev, gold, lengths + 1


class LegoModel(nn.Module):
    """Encoder bricks [e_1..e_n] and an optional decoder brick.

    Args:
        encoders: the chain; e_{i+1} ingests the marginals of e_i.
        decoder: reads the marginals of e_n (or its states for a baseline); None for CTC-only models.
        loss: CTC weight and decoder loss.
        interface_targets: batch key of each interface's CTC target (default "target" for all); None for an
            interface whose vocabulary has no targets in the batch (no CTC term for it).
        vocabularies: each brick's output vocabulary, in chain order (encoders, then the decoder): encoder
            i's CTC blank, the decoder's bos/eos/pad (an encoder without a CTC head: its target vocabulary).
    """

    def __init__(self, encoders: list[EncoderBrick], decoder: DecoderBrick | None = None,
                 loss: ChainLossConfig | None = None, interface_targets: list[str | None] | None = None, *,
                 vocabularies: list[VocabularyInfo]) -> None:
        super().__init__()
        if not encoders:
            raise ValueError("a LegoModel needs at least one encoder brick")
        if len(vocabularies) != len(encoders) + (decoder is not None):
            raise ValueError(f"a LegoModel needs one vocabulary per brick: {len(vocabularies)} for "
                             f"{len(encoders)} encoders{' and a decoder' if decoder is not None else ''}")
        self.vocabularies = list(vocabularies)
        if decoder is not None:  # no gradient from padding positions: the pad id of the decoder's vocabulary
            decoder.embed.padding_idx = vocabularies[-1].pad
        self.encoders = nn.ModuleList(encoders)
        self.decoder = decoder
        self.loss_cfg = loss or ChainLossConfig()
        self.interface_targets: list[str | None] = list(interface_targets or ["target"] * len(encoders))
        if len(self.interface_targets) != len(encoders):
            raise ValueError(f"{len(self.interface_targets)} interface targets for {len(encoders)} encoders")
        self.frozen: set[str] = set()  # names of frozen children ("encoders.0", "decoder")
        if self.loss_cfg.interctc_weight > 0 and not any(e.cfg.interctc_layers for e in encoders):
            raise LegokitError(f"loss.interctc_weight is {self.loss_cfg.interctc_weight} but no encoder brick has "
                               "model.encoder.interctc_layers: list the layers (e.g. [6]) or set it to 0")

    # --- freezing -----------------------------------------------------------------------------------
    def freeze(self, name: str) -> None:
        """Freeze a brick ("encoders.<i>" or "decoder"): no gradient, always in eval mode (no dropout)."""
        module = self.get_submodule(name)
        for p in module.parameters():
            p.requires_grad_(False)
        self.frozen.add(name)
        module.eval()

    def train(self, mode: bool = True) -> LegoModel:
        super().train(mode)
        for name in self.frozen:
            self.get_submodule(name).eval()
        return self

    # --- forward ------------------------------------------------------------------------------------
    @property
    def input_key(self) -> str:
        return "speech" if self.encoders[0].cfg.input == "speech" else "source"

    def encode(self, batch: dict) -> list[EncoderOutput]:
        """Run the encoder chain; returns every brick's output (the last one feeds the decoder)."""
        inputs, lengths = batch[self.input_key], batch[f"{self.input_key}_lengths"]
        outputs: list[EncoderOutput] = []
        for i, encoder in enumerate(self.encoders):
            key = self.interface_targets[i]
            out = encoder(inputs, lengths, batch.get(f"{key}_lengths") if key else None)
            outputs.append(out)
            if i + 1 < len(self.encoders):
                inputs, lengths = marginals(out.logits), out.lengths
        return outputs

    def decoder_input(self, out: EncoderOutput) -> Tensor:
        """What the decoder ingests: marginals, or hidden states for a baseline decoder."""
        if self.decoder.cfg.ingestor.kind == "states" or out.logits is None:
            return out.states
        return marginals(out.logits)

    def forward(self, batch: dict) -> dict[str, Tensor]:
        """Loss dict for the trainer: sums over target tokens, normaliser in "weight"."""
        outputs = self.encode(batch)
        target, target_lengths = batch["target"], batch["target_lengths"]
        stats: dict[str, Tensor] = {}
        loss = target.new_zeros((), dtype=torch.float32)
        ctc_total = loss
        for i, out in enumerate(outputs):
            key = self.interface_targets[i]
            if out.logits is None or self.loss_cfg.ctc_weight == 0 or f"encoders.{i}" in self.frozen or key is None:
                continue  # a frozen brick's CTC term has no gradient; an interface without targets has no term
            log_probs = F.log_softmax(out.logits.float(), dim=-1)
            ctc = ctc_loss(log_probs, out.lengths, batch[key], batch[f"{key}_lengths"],
                           blank=self.vocabularies[i].blank, reduction="sum")
            suffix = str(i) if len(outputs) > 1 else ""
            stats[f"ctc{suffix}"] = ctc.detach()
            w = self.loss_cfg.interctc_weight
            if w > 0 and out.inter_logits:
                inter = torch.stack([
                    ctc_loss(F.log_softmax(logits.float(), dim=-1), out.lengths, batch[key], batch[f"{key}_lengths"],
                             blank=self.vocabularies[i].blank, reduction="sum")
                    for logits in out.inter_logits]).mean()
                stats[f"interctc{suffix}"] = inter.detach()
                ctc = (1 - w) * ctc + w * inter
            ctc_total = ctc_total + ctc
        loss = loss + self.loss_cfg.ctc_weight * ctc_total
        weight = target_lengths.sum()
        if self.decoder is not None:
            pad = self.vocabularies[-1].pad
            prev, gold, prev_lengths = _decoder_io(target, target_lengths, self.vocabularies[-1])
            logits = self.decoder(self.decoder_input(outputs[-1]), outputs[-1].lengths, prev, prev_lengths)
            flat_logits, flat_gold = logits.reshape(-1, logits.size(-1)).float(), gold.reshape(-1)
            ce = sequence_loss(self.loss_cfg.decoder, flat_logits, flat_gold, ignore_index=pad, reduction="sum")
            mask = flat_gold != pad
            stats["ce"] = ce.detach()
            stats["correct"] = (flat_logits.argmax(-1)[mask] == flat_gold[mask]).sum().float()
            loss = loss + ce
            weight = mask.sum()
        stats["loss"] = loss
        stats["weight"] = weight.float()
        return stats

    # --- inference ----------------------------------------------------------------------------------
    @torch.no_grad()
    def recognize(self, batch: dict, beam: BeamSearchConfig | None = None) -> list[list[int]]:
        """Best token sequence per utterance (no bos/eos): see :meth:`hypotheses`."""
        return [h.tokens for h in self.hypotheses(batch, beam)]

    @torch.no_grad()
    def hypotheses(self, batch: dict, beam: BeamSearchConfig | None = None) -> list[Hypothesis]:
        """Best hypothesis per utterance: beam search with the decoder (optionally fused with the last
        interface's CTC prefix scores), or greedy CTC for encoder-only models (score = the best path's
        log-probability, att_score 0). An utterance without a finished hypothesis gets empty tokens, score -inf."""
        outputs = self.encode(batch)
        last = outputs[-1]
        if self.decoder is None:
            log_probs = F.log_softmax(last.logits.float(), -1)
            frames = ~padding_mask(last.lengths, log_probs.size(1))
            best = (log_probs.max(-1).values * frames).sum(-1).tolist()
            tokens = ctc_greedy(log_probs, last.lengths, blank=self.vocabularies[-1].blank)
            return [Hypothesis(t, score, 0.0, score) for t, score in zip(tokens, best, strict=True)]
        beam = beam or BeamSearchConfig()
        memory, memory_mask = self.decoder.ingest(self.decoder_input(last), last.lengths)
        ctc_lp = F.log_softmax(last.logits.float(), -1) if beam.ctc_weight > 0 and last.logits is not None else None
        source_lengths = batch[f"{self.input_key}_lengths"] if self.input_key == "source" else last.lengths
        hyps = beam_search(self.decoder, memory, memory_mask, source_lengths, beam, self.vocabularies[-1],
                           ctc_log_probs=ctc_lp, ctc_lengths=last.lengths if ctc_lp is not None else None)
        return [h[0] if h else Hypothesis([], float("-inf"), float("-inf"), None) for h in hyps]
