"""An encoder brick with greedy CTC as one ONNX graph, for onnxruntime on CPU (docs/export.md).

Graph inputs: ``inputs`` — features (B, T, F) float32 for a speech brick, token ids (B, S) int64 for a text
brick, marginals (B, K, |V_in|) float32 for an interface brick — and ``lengths`` (B,) int64; batch and time
are dynamic. Outputs: ``log_probs`` (B, K, |V|) of the interface, ``out_lengths`` (B,), ``tokens`` (B, K)
int64, the greedy CTC path (argmax, repeats collapsed, blanks dropped) left-aligned and padded with -1,
and ``token_lengths`` (B,). The manifest travels in the model's metadata (key ``legokit_manifest``).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from legokit.errors import LegokitError
from legokit.fileio import write_atomic
from legokit.lego.bricks import Brick
from legokit.lego.encoders import EncoderBrick

log = logging.getLogger(__name__)
INPUT_NAMES = ["inputs", "lengths"]
OUTPUT_NAMES = ["log_probs", "out_lengths", "tokens", "token_lengths"]


def greedy_tokens(log_probs: Tensor, lengths: Tensor, blank: int) -> tuple[Tensor, Tensor]:
    """Best CTC path as a padded tensor: (B, K, V), (B,) -> tokens (B, K) padded with -1, counts (B,).

    The same path as :func:`legokit.decode.ctc.ctc_greedy`, with shape-only operations (no data-dependent
    split) so that it exports."""
    best = log_probs.argmax(dim=-1)
    previous = nn.functional.pad(best[:, :-1], (1, 0), value=-1)
    frames = torch.arange(best.size(1), device=best.device)
    keep = (best != blank) & (best != previous) & (frames[None, :] < lengths[:, None])
    slot = torch.where(keep, keep.long().cumsum(dim=1) - 1, best.size(1))  # dropped frames go to a spare column
    tokens = best.new_full((best.size(0), best.size(1) + 1), -1).scatter(1, slot, best)
    return tokens[:, :-1], keep.sum(dim=1)


class GreedyCTCEncoder(nn.Module):
    """An encoder brick followed by log-softmax and greedy CTC: what the ONNX graph computes."""

    def __init__(self, encoder: EncoderBrick, blank: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.blank = blank

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        out = self.encoder(inputs, lengths)
        log_probs = torch.log_softmax(out.logits.float(), dim=-1)
        tokens, counts = greedy_tokens(log_probs, out.lengths, self.blank)
        return log_probs, out.lengths, tokens, counts


def example_inputs(encoder: EncoderBrick, batch: int = 2, length: int = 64) -> tuple[Tensor, Tensor]:
    """A batch of two different lengths (so neither batch nor time is specialised to a constant)."""
    lengths = torch.tensor([length, length * 3 // 4] + [length // 2] * (batch - 2), dtype=torch.long)
    cfg = encoder.cfg
    if cfg.input == "speech":
        return torch.randn(batch, length, cfg.feat_dim), lengths
    if cfg.input == "text":
        return torch.randint(4, max(encoder.input_vocab_size, 5), (batch, length)), lengths
    return torch.softmax(torch.randn(batch, length, encoder.input_vocab_size), dim=-1), lengths


def export_encoder_onnx(brick: Brick, path: str | Path) -> Path:
    """Write ``brick`` (an encoder with a CTC head) with greedy CTC as an ONNX model at ``path``."""
    if brick.kind != "encoder" or brick.module.ctc is None:
        raise LegokitError(f"{brick.path}: ONNX export takes an encoder brick with a CTC head (an interface); "
                           f"this is a {brick.kind} brick{'' if brick.kind != 'encoder' else ' without CTC head'}")
    module = GreedyCTCEncoder(brick.module, blank=brick.vocabulary.blank).eval()
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    dims = ({0: batch, 1: time}, {0: batch})
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and axis-naming chatter
        program = torch.onnx.export(module, example_inputs(brick.module), dynamo=True, dynamic_shapes=dims,
                                    input_names=INPUT_NAMES, output_names=OUTPUT_NAMES, verbose=False)
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = "legokit_manifest", json.dumps(brick.manifest, sort_keys=True)
    write_atomic(proto.SerializeToString(), path)
    return Path(path)


class OnnxEncoder:
    """Runs an exported encoder with onnxruntime on CPU: ``run(inputs, lengths)`` -> dict of the outputs."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise LegokitError("onnxruntime is not installed: pip install 'legokit[export]'") from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own (non-exported) exception types
            raise LegokitError(f"{path}: not a loadable ONNX model ({str(err).splitlines()[0]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.manifest: dict[str, Any] = json.loads(meta.get("legokit_manifest", "{}"))

    def run(self, inputs: np.ndarray | Tensor, lengths: np.ndarray | Tensor) -> dict[str, np.ndarray]:
        feed = {"inputs": np.asarray(inputs), "lengths": np.asarray(lengths, dtype=np.int64)}
        return dict(zip(OUTPUT_NAMES, self.session.run(OUTPUT_NAMES, feed)))

    @staticmethod
    def token_lists(outputs: dict[str, np.ndarray]) -> list[list[int]]:
        """The greedy paths as lists (the padded ``tokens`` cut at ``token_lengths``)."""
        return [row[:n].tolist() for row, n in zip(outputs["tokens"], outputs["token_lengths"])]
