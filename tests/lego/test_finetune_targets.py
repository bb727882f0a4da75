"""Fine-tuning a composed chain whose first brick speaks another vocabulary (a speech brick's characters in
front of a pieces decoder, egs/lego_three_brick/asr1 run_espeak.sh): that interface has no CTC targets in the
batch, so it gets no CTC term — CTC of character logits against piece ids is meaningless, and with a smaller
vocabulary out of range (the NaN losses seen before) — while the decoder's loss still trains every brick."""

from types import SimpleNamespace

import torch

from legokit.data.vocab import VocabularyInfo
from legokit.lego.decoders import DecoderBrick, DecoderBrickConfig
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.model import LegoModel
from legokit.nn.config import EncoderConfig
from legokit.workflows.experiment import _interface_targets

CHARS, PIECES = 8, 20


def _chain() -> LegoModel:
    torch.manual_seed(0)
    stack = EncoderConfig(kind="transformer", num_layers=1, dim=32, num_heads=4, ffn_dim=64)
    speech = EncoderBrick(EncoderBrickConfig(input="speech", feat_dim=20, encoder=stack), 0, CHARS)
    middle = EncoderBrick(EncoderBrickConfig(input="interface", encoder=stack), CHARS, PIECES)
    decoder = DecoderBrick(DecoderBrickConfig(dim=32, num_layers=1, num_heads=4, ffn_dim=64), PIECES, PIECES)
    chars = VocabularyInfo(CHARS, blank=0, pad=0, unk=1, bos=2, eos=3)
    pieces = VocabularyInfo(PIECES, blank=0, pad=0, unk=1, bos=2, eos=3)
    return LegoModel([speech, middle], decoder, interface_targets=[None, "target"],
                     vocabularies=[chars, pieces, pieces])


def test_an_interface_without_targets_gets_no_ctc_term_and_still_learns():
    model = _chain().train()
    batch = {"speech": torch.randn(2, 64, 20), "speech_lengths": torch.tensor([64, 48]),
             "target": torch.tensor([[5, 19, 12, 7], [17, 4, 9, 0]]), "target_lengths": torch.tensor([4, 3])}
    out = model(batch)
    assert "ctc0" not in out and "ctc1" in out  # piece ids (up to 19) never meet the 8-symbol character head
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    grads = [p.grad for p in model.encoders[0].parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)  # the first brick trains through the chain


def test_fine_tuning_gives_ctc_targets_only_to_interfaces_of_the_target_vocabulary():
    def brick(path, signature, kind="vocabulary"):
        return SimpleNamespace(path=path, manifest={"output_interface": {"type": kind, "signature": signature,
                                                                         "size": 8}})

    chain = [brick("speech.brick", "chars"), brick("middle.brick", "pieces"), brick("decoder.brick", "pieces")]
    assert _interface_targets(chain, "model.pt") == [None, "target"]
    baseline = [brick("encoder.brick", None, kind="states"), brick("decoder.brick", "pieces")]
    assert _interface_targets(baseline, "model.pt") == ["target"]
