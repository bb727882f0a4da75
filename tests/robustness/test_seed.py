"""A seed reproduces a run: the same `legokit train` (MT; ASR with SpecAugment and dropout) or `legokit tts train`
command run twice on CPU gives bit-identical checkpoints and validation losses; another seed gives other weights;
a run resumed from any checkpoint reaches the uninterrupted weights; `train.deterministic=true` runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from robustness.conftest import tiny_overrides

from legokit.cli import main
from legokit.data.datadir import read_kaldi_map
from legokit.data.featdump import dump_features
from legokit.data.features import FbankConfig
from legokit.data.tokenizer import train_tokenizer
from legokit.errors import LegokitError
from legokit.lego.loading import load_bricks
from legokit.train import OptimConfig, TrainConfig, fit
from legokit.train.checkpoint import list_checkpoints, load_checkpoint

FIXTURES = Path(__file__).parents[1] / "fixtures"
MT = ["train.max_epochs=2", "train.save_interval_steps=2", "train.keep_last_checkpoints=0",
      "model.encoder.encoder.dropout=0.1", "model.decoder.dropout=0.1"]


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGOKIT_NO_TQDM", "1")


def _train(command: str, out: Path, overrides: list[str]) -> None:
    argv = ["--log-level", "WARNING", *command.split(), "--out-dir", str(out), *overrides]
    assert main(argv) == 0


def _checkpoints(out: Path) -> dict[str, dict]:
    ckpt_dir = out / "checkpoints"
    paths = [ckpt_dir / "checkpoint_last.pt", *list_checkpoints(ckpt_dir).values()]
    return {path.name: load_checkpoint(path) for path in paths}


def _valid_losses(out: Path) -> list[tuple[int, float]]:
    records = map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
    return [(r["step"], r["loss"]) for r in records if r["event"] == "valid"]


def _assert_identical(a: Path, b: Path) -> None:
    ours, theirs = _checkpoints(a), _checkpoints(b)
    assert ours.keys() == theirs.keys() and len(ours) > 1
    for name, ckpt in ours.items():
        state, other = ckpt["model"], theirs[name]["model"]
        assert state.keys() == other.keys()
        for key, tensor in state.items():
            assert torch.equal(tensor, other[key]), f"{name}: {key} differs"
        assert ckpt["loop"] == theirs[name]["loop"], name
    assert _valid_losses(a) == _valid_losses(b) != []


def _differs(a: Path, b: Path) -> bool:
    ours, theirs = (load_checkpoint(out / "checkpoints" / "checkpoint_last.pt")["model"] for out in (a, b))
    return any(not torch.equal(tensor, theirs[key]) for key, tensor in ours.items())


def _resume_from(done: Path, ckpt: str, out: Path) -> None:
    """`out` as a run of `done`'s command killed right after it wrote `ckpt`."""
    (out / "checkpoints").mkdir(parents=True)
    shutil.copy(done / "config.yaml", out / "config.yaml")
    shutil.copy(done / "checkpoints" / ckpt, out / "checkpoints" / "checkpoint_last.pt")


def test_the_same_mt_command_twice_gives_bit_identical_checkpoints(toy_tokenizers: Path, tmp_path: Path) -> None:
    """The issue's case: the seed was applied after the model was built (valid loss 8.09 vs 8.75 at step 6)."""
    overrides = tiny_overrides(toy_tokenizers) + MT
    _train("train", tmp_path / "a", overrides)
    torch.manual_seed(12345)  # whatever the process's generators hold before the command starts
    _train("train", tmp_path / "b", overrides)
    _assert_identical(tmp_path / "a", tmp_path / "b")
    for ours, theirs in zip(*(load_bricks(tmp_path / out / "model.pt") for out in ("a", "b")), strict=True):
        state = theirs.module.state_dict()
        assert all(torch.equal(tensor, state[key]) for key, tensor in ours.module.state_dict().items())
    _train("train", tmp_path / "seed2", [*overrides, "train.seed=2"])
    assert _differs(tmp_path / "a", tmp_path / "seed2")
    assert _valid_losses(tmp_path / "a") != _valid_losses(tmp_path / "seed2")


@pytest.mark.parametrize("ckpt", ["ckpt-4.pt", "ckpt-6.pt"])  # mid-epoch 1, end of epoch 1 (6 updates per epoch)
def test_a_resumed_mt_run_reaches_the_uninterrupted_weights(toy_tokenizers: Path, tmp_path: Path, ckpt: str) -> None:
    overrides = tiny_overrides(toy_tokenizers) + MT
    _train("train", tmp_path / "full", overrides)
    _resume_from(tmp_path / "full", ckpt, tmp_path / "resumed")
    _train("train", tmp_path / "resumed", overrides)
    last = [load_checkpoint(tmp_path / out / "checkpoints" / "checkpoint_last.pt") for out in ("full", "resumed")]
    assert last[1]["loop"]["step"] == last[0]["loop"]["step"] == 12
    for key, tensor in last[0]["model"].items():
        assert torch.equal(tensor, last[1]["model"][key]), key


def test_deterministic_algorithms_option_runs_and_gives_the_same_weights(toy_tokenizers: Path,
                                                                         tmp_path: Path) -> None:
    overrides = tiny_overrides(toy_tokenizers) + MT
    _train("train", tmp_path / "default", overrides)
    _train("train", tmp_path / "det", [*overrides, "train.deterministic=true"])
    assert (tmp_path / "det" / "model.pt").is_file()
    assert not torch.are_deterministic_algorithms_enabled()  # switched off again after the run
    assert not _differs(tmp_path / "default", tmp_path / "det")  # CPU kernels here are deterministic anyway


class _NoDeterministicKernel(torch.nn.Module):
    """Calls an op that has no deterministic implementation (as e.g. some CUDA scatter/index kernels)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        from torch._prims_common import alert_not_deterministic

        alert_not_deterministic("toy_scatter_kernel")
        return {"loss": (self.w * batch["x"]).sum(), "weight": torch.tensor(1.0)}


def test_an_op_without_a_deterministic_kernel_is_one_line_naming_the_option(tmp_path: Path) -> None:
    with pytest.raises(LegokitError, match=r"^train.deterministic=true: toy_scatter_kernel does not have a "
                                           r"deterministic implementation; set train.deterministic=false[^\n]*$"):
        fit(_NoDeterministicKernel(), lambda epoch: [{"x": torch.ones(1)}], None, OptimConfig(),
            TrainConfig(deterministic=True, max_epochs=1, device="cpu"), tmp_path)
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed English speech fixture (4 espeak-ng utterances) as a data dir with absolute paths."""
    data = tmp_path_factory.mktemp("speech")
    for name in ("text", "utt2spk"):
        shutil.copy(FIXTURES / "asr" / name, data / name)
    (data / "wav.scp").write_text("".join(f"{utt} {FIXTURES / 'asr' / path}\n"
                                          for utt, path in read_kaldi_map(FIXTURES / "asr" / "wav.scp").items()))
    return data


@pytest.fixture(scope="module")
def asr_data(speech_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Overrides of a tiny ASR run with SpecAugment (time warp, masks) and dropout."""
    tmp, data = tmp_path_factory.mktemp("asr"), speech_dir
    feats = dump_features(data, tmp / "dump", FbankConfig(), progress=False)
    words = {w for line in read_kaldi_map(data / "text").values() for w in line.split()}
    tok = train_tokenizer([str(data / "text")], str(tmp / "words"), len(words) + 4, model_type="word",
                          kaldi_text=True)
    return ["data.task=asr", "model.encoder.input=speech", "model.encoder.ctc_head=true", "loss.ctc_weight=0.5",
            "model.encoder.encoder.kind=conformer", "model.encoder.encoder.num_layers=1",
            "model.encoder.encoder.dim=16", "model.encoder.encoder.num_heads=2", "model.encoder.encoder.ffn_dim=32",
            "model.encoder.encoder.dropout=0.2", "model.encoder.length_rate=null", "model.decoder.dim=16",
            "model.decoder.num_layers=1", "model.decoder.num_heads=2", "model.decoder.ffn_dim=32",
            "model.decoder.dropout=0.2", "model.decoder.ingestor.kind=states", "data.max_tokens=700",
            "data.specaug.time_warp=5", "data.specaug.freq_mask_width=8", "data.specaug.time_mask_width=20",
            f"data.train_dir={data}", f"data.valid_dir={data}", f"data.train_feats={feats}",
            f"data.valid_feats={feats}", f"data.tgt_tokenizer={tok}", "optim.warmup_steps=5",
            "train.max_epochs=3", "train.save_interval_steps=1", "train.keep_last_checkpoints=0",
            "average_best=1"]


def test_the_same_asr_command_with_specaugment_and_dropout_twice_is_bit_identical(asr_data: list[str],
                                                                                 tmp_path: Path) -> None:
    _train("train", tmp_path / "a", asr_data)
    torch.manual_seed(777)
    _train("train", tmp_path / "b", asr_data)
    _assert_identical(tmp_path / "a", tmp_path / "b")
    _resume_from(tmp_path / "a", "ckpt-1.pt", tmp_path / "resumed")  # SpecAugment after a resume
    _train("train", tmp_path / "resumed", asr_data)
    assert not _differs(tmp_path / "a", tmp_path / "resumed")


@pytest.mark.slow
def test_asr_with_specaugment_in_dataloader_workers_gives_the_same_run(asr_data: list[str], tmp_path: Path) -> None:
    _train("train", tmp_path / "a", asr_data)
    _train("train", tmp_path / "workers", [*asr_data, "data.num_workers=2"])
    _assert_identical(tmp_path / "a", tmp_path / "workers")
    _train("train", tmp_path / "seed3", [*asr_data, "train.seed=3"])
    assert _differs(tmp_path / "a", tmp_path / "seed3")


def test_the_same_tts_command_twice_is_bit_identical(speech_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("panphon")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from legokit.tts.data import dump_tts

    dump = tmp_path / "dump"
    dump_tts(speech_dir, dump, "en")
    overrides = [f"data.train={dump}", f"data.valid={dump}", "data.max_frames=400", "model.dim=16",
                 "model.encoder_layers=1", "model.decoder_layers=1", "model.ffn_dim=32", "model.duration_channels=16",
                 "model.dropout=0.2", "optim.warmup_steps=5", "train.max_epochs=2", "train.keep_last_checkpoints=0",
                 "train.device=cpu", "average_best=1"]
    _train("tts train", tmp_path / "a", overrides)
    torch.manual_seed(99)
    _train("tts train", tmp_path / "b", overrides)
    _assert_identical(tmp_path / "a", tmp_path / "b")
    _train("tts train", tmp_path / "seed2", [*overrides, "train.seed=2"])
    assert _differs(tmp_path / "a", tmp_path / "seed2")
