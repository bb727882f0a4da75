"""ONNX export of an encoder brick with greedy CTC: onnxruntime on CPU equals PyTorch (within 1e-4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from robustness.conftest import toy_model, toy_tokenizers  # noqa: F401  (fixtures)

from legokit.cli import main
from legokit.data.tokenizer import Tokenizer
from legokit.decode.ctc import ctc_greedy
from legokit.lego.bricks import Brick, encoder_interfaces, make_manifest, save_brick
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.loading import load_bricks
from legokit.lego.onnx import GreedyCTCEncoder, OnnxEncoder, greedy_tokens
from legokit.nn.config import EncoderConfig
from legokit.nn.dropout import Dropout

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'legokit[export]')")
pytest.importorskip("onnxscript", reason="torch.onnx.export needs onnxscript (pip install 'legokit[export]')")


def _check(onnx_path: Path, module: EncoderBrick, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    runner, reference = OnnxEncoder(onnx_path), GreedyCTCEncoder(module, blank=0).eval()
    for inputs, lengths in batches:
        with torch.no_grad():
            log_probs, out_lengths, tokens, counts = reference(inputs, lengths)
        out = runner.run(inputs.numpy(), lengths.numpy())
        assert out["log_probs"].shape == tuple(log_probs.shape)
        np.testing.assert_allclose(out["log_probs"], log_probs.numpy(), atol=1e-4, rtol=0)
        np.testing.assert_array_equal(out["out_lengths"], out_lengths.numpy())
        assert runner.token_lists(out) == ctc_greedy(log_probs, out_lengths, blank=0)
        np.testing.assert_array_equal(out["tokens"], tokens.numpy())


@pytest.fixture(scope="module")
def mt_onnx(toy_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """The toy MT encoder brick (embedding -> Transformer -> OLC -> CTC) exported through the CLI."""
    path = tmp_path_factory.mktemp("onnx") / "encoder.onnx"
    assert main(["brick", "export", "--format", "onnx", str(toy_model / "model.pt"), str(path)]) == 0
    return path


def test_mt_encoder_matches_pytorch(mt_onnx: Path, toy_model: Path) -> None:  # noqa: F811
    (brick,) = load_bricks(toy_model / "bricks" / "encoder.brick")
    torch.manual_seed(0)
    batches = [(torch.randint(4, 31, (b, t)), torch.tensor([t] + [max(1, t - 2 * i) for i in range(1, b)]))
               for b, t in [(1, 1), (1, 5), (3, 9), (8, 40)]]  # batch and time other than the export example
    _check(mt_onnx, brick.module, batches)
    assert OnnxEncoder(mt_onnx).manifest == brick.manifest


@pytest.mark.slow
def test_speech_conformer_matches_pytorch(toy_tokenizers: Path, tmp_path: Path) -> None:  # noqa: F811
    """A speech Conformer brick with CMVN, conv subsampling and an OLC exports too."""
    tok = Tokenizer.load(toy_tokenizers / "en.model")
    cfg = EncoderBrickConfig(input="speech", feat_dim=20, length_rate=0.5,
                             encoder=EncoderConfig(kind="conformer", num_layers=1, dim=16, num_heads=2, ffn_dim=32,
                                                   kernel_size=5))
    torch.manual_seed(0)
    module = EncoderBrick(cfg, 0, tok.vocab_size).eval()
    module.set_cmvn(torch.randn(20), torch.rand(20) + 0.5)
    inp, out = encoder_interfaces(module, None, tok, {"kind": "fbank"})
    save_brick(Brick(module, make_manifest("encoder", module, {"output_vocab_size": tok.vocab_size}, inp, out),
                     {"output": tok}), tmp_path / "speech.brick")
    path = tmp_path / "speech.onnx"
    assert main(["brick", "export", "--format", "onnx", str(tmp_path / "speech.brick"), str(path)]) == 0
    _check(path, module, [(torch.randn(1, 16, 20), torch.tensor([16])),
                          (torch.randn(3, 120, 20), torch.tensor([120, 77, 30]))])


def test_decoder_brick_refused(toy_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    out = tmp_path / "d.onnx"
    assert main(["brick", "export", "--format", "onnx", str(toy_model / "bricks" / "decoder.brick"), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "ONNX export takes an encoder brick with a CTC head" in err and "\n" not in err
    assert main(["brick", "export", "--format", "onnx", "--brick", "5", str(toy_model / "model.pt"), str(out)]) == 2
    assert "--brick 5, but the chain has 2 brick(s)" in capsys.readouterr().err
    assert not out.exists()


def test_not_an_onnx_file(tmp_path: Path) -> None:
    from legokit.errors import LegokitError

    (tmp_path / "x.onnx").write_bytes(b"not a model")
    with pytest.raises(LegokitError, match="x.onnx: not a loadable ONNX model"):
        OnnxEncoder(tmp_path / "x.onnx")


def test_greedy_tokens_equal_ctc_greedy() -> None:
    torch.manual_seed(0)
    log_probs = torch.log_softmax(torch.randn(6, 30, 5), -1)  # small |V|: many blanks and repeats
    lengths = torch.tensor([30, 1, 17, 2, 29, 10])
    tokens, counts = greedy_tokens(log_probs, lengths, blank=0)
    assert [row[:n].tolist() for row, n in zip(tokens, counts)] == ctc_greedy(log_probs, lengths, blank=0)
    assert all((row[n:] == -1).all() for row, n in zip(tokens, counts))


def test_dropout_scripts() -> None:
    """torch.jit.script compiles legokit's Dropout (it is F.dropout when scripted); eval mode is the identity."""
    scripted = torch.jit.script(Dropout(0.25))
    x = torch.ones(20000)
    dropped = (scripted(x) == 0).float().mean().item()
    assert 0.2 < dropped < 0.3
    assert torch.equal(scripted.eval()(x), x)
