"""One vocabulary contract: the special ids travel with the interface in the brick manifest, are read back from
there by loss, CTC and beam search, old manifests without them still load, and no `blank=0` default is left."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from lego.test_compress import _batch, make_bricks

from legokit.data.tokenizer import Tokenizer, train_tokenizer
from legokit.data.vocab import VocabularyInfo
from legokit.decode.beam_search import BeamSearchConfig
from legokit.errors import LegokitError
from legokit.lego.bricks import Brick, compose, save_brick, save_model
from legokit.lego.loading import load_brick, load_bricks
from legokit.lego.model import LegoModel, _decoder_io

FIXTURE = Path(__file__).parents[1] / "fixtures" / "lego"
PACKAGE = Path(__file__).parents[2] / "legokit"
IDS = ("blank_id", "pad_id", "unk_id", "bos_id", "eos_id")


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory) -> dict[str, Tokenizer]:
    tmp = tmp_path_factory.mktemp("spm")
    return {lang: Tokenizer.load(train_tokenizer([str(FIXTURE / "train" / f"text.{lang}")], str(tmp / lang), size,
                                                 model_type="word", kaldi_text=True))
            for lang, size in (("en", 29), ("de", 31))}


def test_manifest_carries_the_ids_and_loading_reads_them(tokenizers, tmp_path):
    encoder, decoder = make_bricks(tokenizers)
    en = tokenizers["en"]
    assert en.vocab == VocabularyInfo(en.vocab_size, blank=0, pad=0, unk=1, bos=2, eos=3)
    for brick in (encoder, decoder):
        assert {k: brick.manifest["output_interface"][k] for k in IDS} == en.vocab.describe()
    save_model([encoder, decoder], tmp_path / "model.pt")
    loaded = load_bricks(tmp_path / "model.pt")
    assert [b.vocabulary for b in loaded] == [en.vocab, en.vocab]
    assert compose(loaded, length_rate=None).vocabularies == [en.vocab, en.vocab]


def test_manifest_ids_are_what_the_model_uses(tokenizers, tmp_path):
    """The ids come from the manifest, not from the tokenizer or a default: rewritten ids change what is read."""
    encoder, _ = make_bricks(tokenizers)
    encoder.manifest["output_interface"].update(blank_id=5, pad_id=6, unk_id=7, bos_id=8, eos_id=9)
    save_brick(encoder, tmp_path / "e.brick")
    brick = load_brick(tmp_path / "e.brick")
    assert brick.vocabulary == VocabularyInfo(tokenizers["en"].vocab_size, blank=5, pad=6, unk=7, bos=8, eos=9)
    assert compose([brick]).vocabularies == [brick.vocabulary]


def test_non_default_ids_flow_through_ctc_loss_and_search(tokenizers, monkeypatch):
    encoder, decoder = make_bricks(tokenizers)
    size = tokenizers["en"].vocab_size
    ids = VocabularyInfo(size, blank=5, pad=6, unk=7, bos=8, eos=9)
    model = LegoModel([encoder.module], decoder.module, vocabularies=[ids, ids]).eval()
    batch = _batch(tokenizers)
    with torch.no_grad():
        stats = model(batch)
        out = model.encode(batch)[-1]
        log_probs = F.log_softmax(out.logits.float(), -1)
    expected = F.ctc_loss(log_probs.transpose(0, 1), batch["target"], out.lengths, batch["target_lengths"],
                          blank=5, reduction="sum", zero_infinity=True)
    torch.testing.assert_close(stats["ctc"], expected)
    assert not torch.allclose(expected, F.ctc_loss(log_probs.transpose(0, 1), batch["target"], out.lengths,
                                                   batch["target_lengths"], blank=0, reduction="sum",
                                                   zero_infinity=True))
    first_tokens = []
    step = model.decoder.step

    def spy(tokens, state):
        first_tokens.append(tokens[:, 0].tolist())
        return step(tokens, state)

    monkeypatch.setattr(model.decoder, "step", spy)
    for cfg in (BeamSearchConfig(beam_size=1), BeamSearchConfig(beam_size=3, ctc_weight=0.3)):
        first_tokens.clear()
        hyps = model.hypotheses(batch, cfg)
        assert first_tokens and all(t == 8 for row in first_tokens for t in row)  # every prefix starts with bos 8
        assert all(5 not in h.tokens and 8 not in h.tokens and 9 not in h.tokens for h in hyps)


def test_ctc_only_model_decodes_with_its_blank(tokenizers):
    encoder, _ = make_bricks(tokenizers)
    batch = _batch(tokenizers)
    size = tokenizers["en"].vocab_size
    with torch.no_grad():
        logits = encoder.module(batch["source"], batch["source_lengths"]).logits
    blank = int(logits.argmax(-1)[0, 0])  # the first frame's best token: dropped only if it is the blank
    ids = VocabularyInfo(size, blank=blank, pad=blank, unk=1, bos=2, eos=3)
    first = LegoModel([encoder.module], vocabularies=[ids]).eval().hypotheses(batch)[0]
    other = VocabularyInfo(size, blank=(blank + 1) % size, pad=0, unk=1, bos=2, eos=3)
    second = LegoModel([encoder.module], vocabularies=[other]).eval().hypotheses(batch)[0]
    assert blank not in first.tokens and blank in second.tokens


def test_old_manifest_without_ids_loads(tokenizers, tmp_path):
    encoder, decoder = make_bricks(tokenizers)
    for brick in (encoder, decoder):
        for key in IDS[1:]:
            del brick.manifest["output_interface"][key]  # what bricks written before the contract carry
    save_model([encoder, decoder], tmp_path / "old.pt")
    loaded = load_bricks(tmp_path / "old.pt")
    assert [b.vocabulary for b in loaded] == [tokenizers["en"].vocab] * 2  # derived from the embedded model
    hyps = compose(loaded, length_rate=None).eval().hypotheses(_batch(tokenizers), BeamSearchConfig(beam_size=2))
    assert len(hyps) == 2


def test_manifest_without_ids_or_tokenizer_is_an_error(tokenizers):
    encoder, _ = make_bricks(tokenizers)
    bare = Brick(encoder.module, json.loads(json.dumps(encoder.manifest)), {}, "bare.brick")
    del bare.manifest["output_interface"]["pad_id"]
    with pytest.raises(LegokitError, match=r"^bare.brick \(output_interface\): .*no vocabulary ids"):
        _ = bare.vocabulary


def _id_defaults(tree: ast.AST) -> list[str]:
    """Function arguments named blank/pad/bos/eos/unk (or *_id) with a default other than None (None: not used)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            pairs = [*zip(positional[len(positional) - len(args.defaults):], args.defaults),
                     *((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None)]
            found += [f"{node.name}({a.arg}=...):{node.lineno}" for a, default in pairs
                      if a.arg.removesuffix("_id") in ("blank", "pad", "bos", "eos", "unk")
                      and not (isinstance(default, ast.Constant) and default.value is None)]
    return found


def test_no_special_id_has_a_default_in_legokit():
    found = [f"{path.relative_to(PACKAGE)}: {hit}" for path in sorted(PACKAGE.rglob("*.py"))
             for hit in _id_defaults(ast.parse(path.read_text(encoding="utf-8")))]
    assert not found, "special ids must come from a VocabularyInfo, not a default: " + "; ".join(found)
    assert _id_defaults(ast.parse("def f(x, blank: int = 0): ...")) == ["f(blank=...):1"]  # the scan sees one


def test_decoder_padding_is_the_pad_id_of_its_vocabulary(tokenizers):
    """The target embedding does not assume pad id 0: with pad 6 the padding positions of the decoder input hold
    6, the embedding's padding row is 6, and a real token 0 keeps its gradient; the default vocabulary keeps 0."""
    encoder, decoder = make_bricks(tokenizers)
    size = tokenizers["en"].vocab_size
    ids = VocabularyInfo(size, blank=5, pad=6, unk=7, bos=8, eos=9)
    model = LegoModel([encoder.module], decoder.module, vocabularies=[ids, ids])
    prev, gold, _ = _decoder_io(torch.tensor([[4, 0], [4, 0]]), torch.tensor([2, 1]), ids)
    assert prev.tolist() == [[8, 4, 0], [8, 4, 6]] and gold.tolist() == [[4, 0, 9], [4, 9, 6]]
    embed = model.decoder.embed
    embed(prev).sum().backward()
    assert embed.weight.grad[0].abs().sum() > 0 and embed.weight.grad[6].abs().sum() == 0
    assert LegoModel([encoder.module], decoder.module, vocabularies=[ids, tokenizers["en"].vocab]) \
        .decoder.embed.padding_idx == 0


def test_text_encoder_with_another_source_pad_id_is_refused(tokenizers, tmp_path):
    """Source batches are padded with 0 (the tokenizer convention): a manifest saying otherwise is one error."""
    encoder, _ = make_bricks(tokenizers)
    encoder.manifest["input_interface"]["pad_id"] = 6
    save_brick(encoder, tmp_path / "e.brick")
    with pytest.raises(LegokitError, match=r"e.brick: manifest input_interface pad_id is 6, but a text encoder"):
        load_brick(tmp_path / "e.brick")
