"""Packaged bricks (Hugging Face hub layout): export, load, identical outputs; tampering refused; hub ids offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from robustness.conftest import toy_model, toy_tokenizers  # noqa: F401  (fixtures)

from legokit.cli import main
from legokit.data.tokenizer import Tokenizer
from legokit.decode.beam_search import BeamSearchConfig
from legokit.errors import LegokitError
from legokit.lego.bricks import Brick, compose, encoder_interfaces, make_manifest, save_brick
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.loading import load_bricks
from legokit.nn.config import EncoderConfig


def _export(source: Path | str, out: Path, *extra: str) -> Path:
    assert main(["brick", "export", "--format", "hf", str(source), str(out), *extra]) == 0
    return out


def _same_outputs(a: list[Brick], b: list[Brick]) -> None:
    """Bit-equal weights, encoder outputs and beam-search hypotheses of two loaded chains."""
    for x, y in zip(a, b, strict=True):
        assert x.manifest == y.manifest
        sa, sb = x.module.state_dict(), y.module.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    ma, mb = compose(a, length_rate=None).eval(), compose(b, length_rate=None).eval()
    torch.manual_seed(0)
    batch = {"source": torch.randint(4, 31, (3, 6)), "source_lengths": torch.tensor([6, 4, 2])}
    with torch.no_grad():
        ea, eb = ma.encode(batch)[-1], mb.encode(batch)[-1]
    assert torch.equal(ea.logits, eb.logits) and torch.equal(ea.states, eb.states)
    beam = BeamSearchConfig(beam_size=3)
    assert ma.recognize(batch, beam) == mb.recognize(batch, beam)


def test_round_trip_model(toy_model: Path, tmp_path: Path) -> None:  # noqa: F811
    out = _export(toy_model / "model.pt", tmp_path / "pkg", "--language", "de", "--language", "en",
                  "--license", "apache-2.0")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors",
                                                     "source.model", "target.model"]
    config = json.loads((out / "config.json").read_text())
    assert config["vocabulary_ids"] == {"blank_id": 0, "pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3}
    assert [b["kind"] for b in config["bricks"]] == ["encoder", "decoder"]
    assert config["bricks"][0]["manifest"]["output_interface"]["signature"] == \
        config["bricks"][1]["manifest"]["input_interface"]["signature"]
    _same_outputs(load_bricks(toy_model / "model.pt"), load_bricks(out))
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["library_name"] == "legokit" and front["language"] == ["de", "en"]
    assert front["license"] == "apache-2.0" and front["pipeline_tag"] == "translation"
    for section in ("## Task", "## Languages", "## Training data", "## Metrics", "## Intended use", "## Limits"):
        assert section in card
    assert "not recorded" in card.split("## Metrics")[1].split("##")[0]


def test_card_reads_training_record_and_metrics(toy_model: Path, tmp_path: Path) -> None:  # noqa: F811
    (brick,) = load_bricks(toy_model / "bricks" / "encoder.brick")
    brick.manifest["training"] = {"data": {"train": "data/train", "valid": "data/valid", "samples": 12,
                                           "license": "CC-BY-4.0"},
                                  "config": {"data": {"task": "mt", "src_lang": "de", "tgt_lang": "en"}}}
    brick.manifest["metrics"] = [{"name": "bleu", "value": 12.5, "set": "test",
                                  "command": "legokit score --metric bleu"}]
    save_brick(brick, tmp_path / "encoder.brick")
    card = (_export(tmp_path / "encoder.brick", tmp_path / "pkg") / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["datasets"] == ["train", "valid"] and front["metrics"] == ["bleu"]
    assert front["language"] == ["de", "en"]
    assert "licence of the training data: CC-BY-4.0" in card
    assert "bleu: 12.5 on test (measured with `legokit score --metric bleu`)" in card


def test_compose_reads_folders(toy_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    enc = _export(toy_model / "bricks" / "encoder.brick", tmp_path / "enc")
    dec = _export(toy_model / "bricks" / "decoder.brick", tmp_path / "dec")
    assert main(["compose", str(enc), str(dec), "-o", str(tmp_path / "m.pt")]) == 0
    assert main(["compose", str(toy_model / "bricks" / "encoder.brick"), str(toy_model / "bricks" / "decoder.brick"),
                 "-o", str(tmp_path / "ref.pt")]) == 0
    _same_outputs(load_bricks(tmp_path / "ref.pt"), load_bricks(tmp_path / "m.pt"))


def _tamper(folder: Path, edit) -> None:
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("case", ["signature", "length_rate", "weights", "tokenizer_missing", "no_config",
                                  "not_safetensors", "format"])
def test_tampered_folder_refused(case: str, toy_model: Path, tmp_path: Path,  # noqa: F811
                                 capsys: pytest.CaptureFixture) -> None:
    out = _export(toy_model / "model.pt", tmp_path / "pkg")
    expected = {"signature": "manifest.output_interface.signature is 'ffff", "length_rate": "checksum mismatch",
                "weights": "checksum mismatch", "tokenizer_missing": "which is not in",
                "no_config": "not a legokit brick folder (no config.json)",
                "not_safetensors": "unreadable safetensors file", "format": "expected \"format\""}[case]
    if case == "signature":
        _tamper(out, lambda c: c["bricks"][0]["manifest"]["output_interface"].update(signature="ffff0000ffff0000"))
    elif case == "length_rate":
        _tamper(out, lambda c: c["bricks"][0]["manifest"]["arch"]["config"].update(length_rate=3.0))
    elif case == "weights":
        from safetensors.torch import load_file, save_file

        tensors = load_file(out / "model.safetensors")
        tensors["bricks.1.output.weight"] = tensors["bricks.1.output.weight"] + 1e-3
        save_file(tensors, out / "model.safetensors")
    elif case == "tokenizer_missing":
        (out / "source.model").unlink()
    elif case == "no_config":
        (out / "config.json").unlink()
    elif case == "not_safetensors":
        (out / "model.safetensors").write_bytes(b"\x00" * 64)
    else:
        _tamper(out, lambda c: c.update(format="something/2"))
    with pytest.raises(LegokitError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_bricks(out)
    assert main(["compose", str(out), "-o", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("legokit compose: error: ") and "\n" not in err and str(out) in err
    assert not (tmp_path / "m.pt").exists()


def _hub_cache(folder: Path, cache: Path, repo: str, revision: str = "0" * 40) -> None:
    """The layout huggingface_hub's snapshot_download leaves: models--owner--name/{refs/main,snapshots/<rev>/}."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(revision)
    snapshot = root / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for path in folder.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())


def test_hub_id_offline(toy_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                        capsys: pytest.CaptureFixture) -> None:
    _hub_cache(_export(toy_model / "model.pt", tmp_path / "pkg"), tmp_path / "cache", "legokit-demo/de-en")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _same_outputs(load_bricks(toy_model / "model.pt"), load_bricks("hf://legokit-demo/de-en"))
    assert main(["compose", "hf://legokit-demo/de-en", "-o", str(tmp_path / "m.pt")]) == 0
    assert main(["compose", "hf://legokit-demo/absent", "-o", str(tmp_path / "n.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "hf://legokit-demo/absent: not in the Hugging Face cache" in err and "\n" not in err


def test_hub_id_offline_subprocess(toy_model: Path, tmp_path: Path) -> None:  # noqa: F811
    """What a user runs: HF_HUB_OFFLINE=1 legokit brick info hf://owner/name (a fresh process)."""
    _hub_cache(_export(toy_model / "model.pt", tmp_path / "pkg"), tmp_path / "cache", "owner/name")
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-m", "legokit.cli", "brick", "info", "hf://owner/name"], env=env,
                          capture_output=True, text=True, check=True)
    assert [m["kind"] for m in json.loads(done.stdout)] == ["encoder", "decoder"]


def test_speech_encoder_round_trip(toy_tokenizers: Path, tmp_path: Path) -> None:  # noqa: F811
    """A speech (Conformer) encoder: CMVN in config.json, bit-equal encoder outputs after the round trip."""
    tok = Tokenizer.load(toy_tokenizers / "en.model")
    cfg = EncoderBrickConfig(input="speech", feat_dim=20, length_rate=0.5,
                             encoder=EncoderConfig(kind="conformer", num_layers=1, dim=16, num_heads=2, ffn_dim=32,
                                                   kernel_size=5))
    torch.manual_seed(0)
    module = EncoderBrick(cfg, 0, tok.vocab_size)
    module.set_cmvn(torch.randn(20), torch.rand(20) + 0.5)
    inp, out = encoder_interfaces(module, None, tok, {"kind": "fbank", "num_mel_bins": 20})
    brick = Brick(module, make_manifest("encoder", module, {"output_vocab_size": tok.vocab_size}, inp, out),
                  {"output": tok})
    save_brick(brick, tmp_path / "speech.brick")
    folder = _export(tmp_path / "speech.brick", tmp_path / "pkg")
    entry = json.loads((folder / "config.json").read_text())["bricks"][0]
    assert entry["cmvn"]["mean"] == module.cmvn_mean.tolist()
    assert entry["manifest"]["input_interface"] == {"type": "features", "feat_dim": 20, "kind": "fbank",
                                                    "num_mel_bins": 20}
    (loaded,) = load_bricks(folder)
    feats, lengths = torch.randn(2, 40, 20), torch.tensor([40, 31])
    with torch.no_grad():
        a, b = module.eval()(feats, lengths), loaded.module.eval()(feats, lengths)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.lengths, b.lengths)
