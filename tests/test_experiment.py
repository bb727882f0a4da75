"""Experiment assembly: initialising a summarisation encoder from an ASR encoder brick without its CTC head."""

import pytest
import torch
from robustness.conftest import tiny_overrides, toy_model, toy_tokenizers  # noqa: F401 (fixtures)

from legokit.config import load_config
from legokit.errors import LegokitError
from legokit.lego.bricks import Brick, make_manifest, save_brick
from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig
from legokit.lego.loading import load_brick
from legokit.nn.config import EncoderConfig
from legokit.workflows.experiment import ExperimentConfig, _load_into, build_model, export_bricks, load_data

VOCAB = 12


def _speech_encoder(ctc_head: bool, num_layers: int = 2, window: int | list[int] = 4,
                    dropout: float = 0.1) -> EncoderBrick:
    stack = EncoderConfig(kind="conformer", num_layers=num_layers, dim=32, num_heads=2, ffn_dim=64, window=window,
                          kernel_size=5, dropout=dropout)
    return EncoderBrick(EncoderBrickConfig(input="speech", encoder=stack, feat_dim=8, ctc_head=ctc_head),
                        0, VOCAB)


@pytest.fixture
def asr_brick(tmp_path):
    """An ASR encoder brick (CTC head, non-trivial CMVN and length statistics) saved to a file."""
    enc = _speech_encoder(ctc_head=True)
    enc.set_cmvn(torch.randn(8), torch.rand(8) + 0.5)
    enc.length_stats.update(torch.tensor([400]), torch.tensor([100]), torch.tensor([30]))
    arch = {"input_vocab_size": 0, "output_vocab_size": VOCAB}
    manifest = make_manifest("encoder", enc, arch, {"type": "features", "feat_dim": 8}, {"type": "states"})
    path = tmp_path / "asr_encoder.brick"
    save_brick(Brick(enc, manifest), path)
    return enc, path


def test_skip_ctc_loads_the_encoder_stack_and_leaves_ctc_and_length_stats_fresh(asr_brick):
    asr, path = asr_brick
    summ = _speech_encoder(ctc_head=False, window=[4, 4])  # same weights
    _load_into(summ, str(path), "encoder", skip_ctc=True)
    ours = summ.state_dict()
    assert not any(k.startswith("ctc.") for k in ours)
    for key, value in asr.state_dict().items():
        if key.startswith("length_stats."):
            continue
        if key.startswith("ctc."):
            assert key not in ours
        else:
            torch.testing.assert_close(ours[key], value, rtol=0, atol=0, msg=key)
    assert summ.length_stats.summary() == {}  # statistics describe the brick's own training data
    summ.eval()
    asr.eval()
    x, lengths = torch.randn(2, 60, 8), torch.tensor([60, 41])
    torch.testing.assert_close(summ(x, lengths).states, asr(x, lengths).states)


def test_skip_ctc_into_an_encoder_that_keeps_a_fresh_ctc_head(asr_brick):
    asr, path = asr_brick
    other = _speech_encoder(ctc_head=True)
    fresh_ctc = {k: v.clone() for k, v in other.state_dict().items() if k.startswith("ctc.")}
    _load_into(other, str(path), "encoder", skip_ctc=True)
    for key, value in fresh_ctc.items():
        torch.testing.assert_close(other.state_dict()[key], value, rtol=0, atol=0)


def test_without_skip_ctc_a_different_head_is_refused_and_named(asr_brick):
    _, path = asr_brick
    with pytest.raises(LegokitError, match="architecture differs from config 'model.encoder': ctc_head is True in "
                                           "the brick, False in the config"):
        _load_into(_speech_encoder(ctc_head=False), str(path), "encoder")


def test_without_skip_ctc_other_dropout_rates_are_accepted(asr_brick):
    """Dropout is a training setting: fine-tuning may raise it (the summariser's decoder does)."""
    asr, path = asr_brick
    other = _speech_encoder(ctc_head=True, dropout=0.3)
    _load_into(other, str(path), "encoder")
    for key, value in asr.state_dict().items():
        torch.testing.assert_close(other.state_dict()[key], value, rtol=0, atol=0, msg=key)
    assert other.cfg.encoder.dropout == 0.3


def test_skip_ctc_still_refuses_a_different_encoder_stack(asr_brick):
    _, path = asr_brick
    with pytest.raises(LegokitError, match="asr_encoder.brick: its architecture differs"):
        _load_into(_speech_encoder(ctc_head=False, num_layers=3), str(path), "encoder", skip_ctc=True)


def test_skip_ctc_accepts_other_windows(asr_brick):
    """The paper fine-tunes with wider windows (40/60) than ASR pre-training (20/40): same weights."""
    asr, path = asr_brick
    wide = _speech_encoder(ctc_head=False, window=[8, 12])
    _load_into(wide, str(path), "encoder", skip_ctc=True)
    torch.testing.assert_close(wide.encoder.layers[1].self_attn.state_dict(),
                               asr.encoder.layers[1].self_attn.state_dict())


def test_resuming_under_another_config_is_refused(tmp_path):
    """Checkpoints of one config are never silently continued under another (a changed recipe option)."""
    from helpers.toy_lego import ARCH, FIXTURE, data_args

    from legokit.data.tokenizer import train_tokenizer
    from legokit.errors import LegokitError
    from legokit.workflows.experiment import train

    for lang, size in (("en", 29), ("de", 31)):
        train_tokenizer([str(FIXTURE / "train" / f"text.{lang}")], str(tmp_path / lang), size,
                        model_type="word", kaldi_text=True)
    common = ARCH + data_args(tmp_path, "de") + ["model.decoder=null", "train.max_epochs=1", "train.max_steps=1"]
    train(None, common, tmp_path / "exp")
    train(None, common, tmp_path / "exp")  # same config: resumes (nothing left to do)
    with pytest.raises(LegokitError, match=r"another config .*optim.*lr|another config .*lr"):
        train(None, common + ["optim.lr=0.5"], tmp_path / "exp")
    (tmp_path / "exp" / "config.yaml").unlink()  # e.g. deleted while a killed run was still saving
    with pytest.raises(LegokitError, match=r"checkpoints but no config.yaml"):
        train(None, common, tmp_path / "exp")


def test_a_finished_run_is_extended_by_raising_max_steps(tmp_path, caplog):
    """Raising train.max_steps of a finished run continues from its last checkpoint (fairseq's --max-update on
    resume) to the same weights as one run of that length; lowering it, or a schedule whose length is
    max_steps, is refused."""
    from helpers.toy_lego import ARCH, FIXTURE, data_args

    from legokit.data.tokenizer import train_tokenizer
    from legokit.train.checkpoint import load_checkpoint
    from legokit.workflows.experiment import train

    for lang, size in (("en", 29), ("de", 31)):
        train_tokenizer([str(FIXTURE / "train" / f"text.{lang}")], str(tmp_path / lang), size,
                        model_type="word", kaldi_text=True)
    common = ARCH + data_args(tmp_path, "de") + ["model.decoder=null", "train.max_epochs=3", "optim.warmup_steps=1"]
    train(None, common + ["train.max_steps=2"], tmp_path / "extended")
    with caplog.at_level("INFO", logger="legokit"):
        train(None, common + ["train.max_steps=4"], tmp_path / "extended")
    train(None, common + ["train.max_steps=4"], tmp_path / "straight")
    extended, straight = (load_checkpoint(tmp_path / d / "checkpoints" / "checkpoint_last.pt")
                          for d in ("extended", "straight"))
    assert extended["loop"]["step"] == straight["loop"]["step"] == 4
    torch.testing.assert_close(extended["model"], straight["model"])
    assert "extending the run" in caplog.text and "train.max_steps 2 -> 4" in caplog.text
    with pytest.raises(LegokitError, match=r"another config .*max_steps"):
        train(None, common + ["train.max_steps=3"], tmp_path / "extended")
    cosine = ["optim.scheduler=warmup_cosine"]
    train(None, common + cosine + ["train.max_steps=2"], tmp_path / "cosine")
    with pytest.raises(LegokitError, match=r"warmup_cosine takes its length from it.*optim.total_steps"):
        train(None, common + cosine + ["train.max_steps=4"], tmp_path / "cosine")


def test_build_model_returns_the_bricks_it_loaded(toy_model, toy_tokenizers, tmp_path):  # noqa: F811 (fixtures)
    """Bricks loaded from files come back from build_model (not as a model attribute); export keeps their
    manifests and appends the previous training record to their history."""
    overrides = tiny_overrides(toy_tokenizers)
    data = load_data(load_config(ExperimentConfig, None, overrides).data)
    assert build_model(load_config(ExperimentConfig, None, overrides), data)[1] == {}
    cfg = load_config(ExperimentConfig, None, [*overrides, f"model.init_model={toy_model / 'model.pt'}"])
    model, loaded = build_model(cfg, data)
    assert sorted(loaded) == [0, 1] and not hasattr(model, "loaded_bricks")
    assert loaded[0].module is model.encoders[0] and loaded[1].module is model.decoder
    export_bricks(model, data, tmp_path, {"run": "fine-tuning"}, loaded)
    manifest = load_brick(tmp_path / "bricks" / "decoder.brick").manifest
    assert manifest["training"] == {"run": "fine-tuning"} and manifest["history"] == [{}]


@pytest.mark.slow
def test_an_interrupted_legokit_train_exits_143_and_exports_nothing(tmp_path):
    """SIGTERM: the update finishes, checkpoint_last is written, nothing is exported, and the command exits with
    128 + 15, so a recipe stops there (exit 0 let asr.sh mark the stage done and go on to decode)."""
    import signal
    import subprocess
    import sys
    import time

    from helpers.toy_lego import ARCH, FIXTURE, data_args

    from legokit.data.tokenizer import train_tokenizer

    for lang, size in (("en", 29), ("de", 31)):
        train_tokenizer([str(FIXTURE / "train" / f"text.{lang}")], str(tmp_path / lang), size,
                        model_type="word", kaldi_text=True)
    out = tmp_path / "exp"
    cmd = [sys.executable, "-m", "legokit.cli", "train", "--out-dir", str(out), *ARCH, *data_args(tmp_path, "de"),
           "model.decoder=null", "train.max_epochs=100000", "train.save_interval_steps=2", "train.num_threads=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list((out / "checkpoints").glob("ckpt-*.pt")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "interrupted by signal 15" in err and "resume with the same command" in err
    assert (out / "checkpoints" / "checkpoint_last.pt").is_file()
    assert not (out / "bricks").exists() and not (out / "model.pt").exists()
