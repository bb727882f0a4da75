"""fairseq -> legokit import: a checkpoint trained by fairseq itself (tests/fixtures/interop, made by
make_fairseq_fixture.py) run by legokit's Transformer stacks gives fairseq's own outputs. No fairseq needed."""

import argparse
import math
from pathlib import Path

import pytest
import torch

from legokit.errors import LegokitError
from legokit.interop.fairseq import ImportedTransformer, fairseq_positions, import_transformer, read_checkpoint

FIXTURE = Path(__file__).parents[1] / "fixtures" / "interop"


def test_imported_fairseq_transformer_reproduces_fairseq_outputs():
    model = import_transformer(FIXTURE / "fairseq_tiny.pt")
    ref = torch.load(FIXTURE / "fairseq_tiny_outputs.pt", weights_only=True)
    assert model.dims.encoder_layers == 2 and model.dims.dim == 32 and model.dims.encoder_heads == 4
    with torch.no_grad():
        memory, logits = model(ref["src_tokens"], ref["prev_output_tokens"])
    src_real, prev_real = ref["src_tokens"] != 1, ref["prev_output_tokens"] != 1
    torch.testing.assert_close(memory[src_real], ref["encoder_out"][src_real], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits[prev_real], ref["logits"][prev_real], rtol=1e-4, atol=1e-4)
    # and the model is not trivial: its greedy next-token choices on the fixed inputs are fairseq's
    assert torch.equal(logits[prev_real].argmax(-1), ref["logits"][prev_real].argmax(-1))


def test_fairseq_positions_by_hand():
    pos = fairseq_positions(torch.tensor([[5, 6, 1]]), dim=4)  # half = 2: frequencies 1 and 1e-4
    expected = [[math.sin(p), math.sin(p * 1e-4), math.cos(p), math.cos(p * 1e-4)] for p in (2, 3)]
    torch.testing.assert_close(pos[0, :2], torch.tensor(expected))
    assert torch.equal(pos[0, 2], torch.zeros(4))  # padding


def test_post_norm_checkpoints_are_refused():
    state, cfg = read_checkpoint(FIXTURE / "fairseq_tiny.pt")
    post_norm = {k: v for k, v in state.items() if not k.startswith("encoder.layer_norm.")}
    with pytest.raises(LegokitError, match="post-norm.*--encoder-normalize-before"):
        ImportedTransformer(post_norm, cfg, origin="x.pt")


def test_pickled_checkpoints_need_trust(tmp_path):
    torch.save({"model": {}, "args": argparse.Namespace(arch="transformer")}, tmp_path / "ckpt.pt")
    with pytest.raises(LegokitError, match="ckpt.pt: cannot be read as plain data.*trusted=True"):
        read_checkpoint(tmp_path / "ckpt.pt")
    with pytest.raises(LegokitError, match="no such fairseq checkpoint"):
        read_checkpoint(tmp_path / "missing.pt")
