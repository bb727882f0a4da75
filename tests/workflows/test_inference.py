"""legokit.load on MT and ASR toy models: the same hypotheses as `legokit decode`, every way of naming a model,
raw audio at any rate, wrong tasks refused, chunked transcription stitched, the examples of docs/api.md."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.datagen import tone

import legokit
from legokit.cli import main
from legokit.data.datadir import read_kaldi_map
from legokit.data.features import CMVNStats
from legokit.errors import LegokitError
from legokit.workflows.inference import Model, Result, stitch

ROOT = Path(__file__).parents[2]
LEGO_VALID = ROOT / "tests" / "fixtures" / "lego" / "valid"


def _decode(args: list[str], out: Path) -> dict[str, str]:
    assert main(["--log-level", "WARNING", "decode", *args, "--out", str(out)]) == 0
    return read_kaldi_map(out, allow_empty_value=True)


def test_translate_equals_legokit_decode(toy_model: Path, tmp_path: Path) -> None:
    hyps = _decode(["--model", str(toy_model / "model.pt"), "--data-dir", str(LEGO_VALID), "--src-lang", "de"],
                   tmp_path / "hyp")
    sources = read_kaldi_map(LEGO_VALID / "text.de")
    model = legokit.load(toy_model / "model.pt")
    assert isinstance(model, Model) and model.task == "mt"
    results = model.translate(list(sources.values()))
    assert [r.text for r in results] == [hyps[utt] for utt in sources]
    first = results[0]
    assert isinstance(first, Result) and math.isfinite(first.score) and first.timings["decode"] > 0
    assert "".join(first.tokens).replace("▁", " ").strip() == first.text


def test_every_way_of_naming_a_model_gives_the_same_output(toy_model: Path, tmp_path: Path) -> None:
    sentences = list(read_kaldi_map(LEGO_VALID / "text.de").values())[:4]
    assert main(["brick", "export", "--format", "hf", str(toy_model / "model.pt"), str(tmp_path / "pkg")]) == 0
    bricks = toy_model / "bricks"
    expected = [r.text for r in legokit.load(toy_model / "model.pt").translate(sentences)]
    for source in (bricks, [bricks / "encoder.brick", bricks / "decoder.brick"], tmp_path / "pkg"):
        assert [r.text for r in legokit.load(source).translate(sentences)] == expected, source


def test_transcribe_equals_legokit_decode_on_the_feature_dump(asr_model: Path, speech_data: tuple[Path, Path],
                                                              tmp_path: Path) -> None:
    data, feats = speech_data
    hyps = _decode(["--model", str(asr_model / "model.pt"), "--data-dir", str(data), "--feats", str(feats),
                    "max_source_frames=10000000"], tmp_path / "hyp")
    wavs = read_kaldi_map(data / "wav.scp")
    model = legokit.load(asr_model / "model.pt")
    assert model.task == "asr"
    results = model.transcribe(list(wavs.values()))
    assert [r.text for r in results] == [hyps[utt] for utt in wavs]
    assert results[0].timings["audio"] == pytest.approx(0.3) and results[0].timings["features"] > 0


def test_any_format_and_sample_rate(asr_model: Path, tmp_path: Path) -> None:
    """A 44.1 kHz stereo FLAC, an 8 kHz WAV and an in-memory array are resampled to the brick's 16 kHz."""
    model = legokit.load(asr_model / "model.pt")
    flac, wav = tmp_path / "a.flac", tmp_path / "b.wav"
    sf.write(flac, np.stack([tone(1.0, 300, 44100), tone(1.0, 300, 44100, seed=1)], axis=1), 44100)
    sf.write(wav, tone(1.0, 300, 8000), 8000)
    results = model.transcribe([flac, wav, (tone(1.0, 300, 22050), 22050)])
    assert [r.timings["audio"] for r in results] == pytest.approx([1.0, 1.0, 1.0], abs=1e-3)
    assert all(math.isfinite(r.score) for r in results)
    # the same samples given as an array and as a file give the same text
    samples, rate = sf.read(wav, dtype="float32")
    assert model.transcribe([(samples, rate)])[0].text == results[1].text


@pytest.mark.parametrize(("source", "message"), [
    ("missing.wav", "missing.wav: audio file not found"),
    ("text.wav", "text.wav: not a readable audio file"),
    ("empty.wav", "empty.wav: "),
    ((np.zeros(0, dtype=np.float32), 16000), "input 0: samples must be a non-empty"),
    ((np.full(100, np.nan, dtype=np.float32), 16000), "input 0: samples must be a non-empty finite"),
    ((np.zeros(1600, dtype=np.float32), 5), "input 0: sample rate 5 Hz"),
    ("tiny.wav", "tiny.wav: too short for one feature frame"),
])
def test_bad_audio_is_one_error_naming_it(asr_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          source: object, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    Path("text.wav").write_text("not audio\n")
    Path("empty.wav").write_bytes(b"")
    sf.write("tiny.wav", np.zeros(100, dtype=np.float32), 16000)
    with pytest.raises(LegokitError, match=re.escape(message)):
        legokit.load(asr_model / "model.pt").transcribe([source])


def test_a_method_of_another_task_is_refused(toy_model: Path, asr_model: Path) -> None:
    with pytest.raises(LegokitError, match=r"model.pt: is a mt model, it cannot transcribe; use translate"):
        legokit.load(toy_model / "model.pt").transcribe(["a.wav"])
    asr = legokit.load(asr_model / "model.pt")
    for call, verb in ((lambda: asr.translate(["hallo"]), "translate"), (lambda: asr.summarize(["a.wav"]),
                       "summarize"), (lambda: asr.synthesize(["hi"]), "synthesize")):
        with pytest.raises(LegokitError, match=f"is a asr model, it cannot {verb}; use transcribe"):
            call()
    assert legokit.load(asr_model / "model.pt", task="sum").task == "sum"  # an explicit task wins


def test_feature_settings_and_cmvn_travel_in_the_brick(asr_model: Path, speech_data: tuple[Path, Path]) -> None:
    import json

    (encoder,) = legokit.load(asr_model / "bricks" / "encoder.brick").bricks
    dump = speech_data[1].parent
    assert encoder.manifest["input_interface"]["fbank"] == json.loads((dump / "fbank.json").read_text())["fbank"]
    mean, std = CMVNStats.load(dump / "cmvn.json").mean_std()
    np.testing.assert_allclose(encoder.module.cmvn_mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(encoder.module.cmvn_std.numpy(), np.maximum(std, 1e-5), rtol=1e-6)


def test_stitch_splits_each_overlap_at_its_middle() -> None:
    # two 10 s chunks overlapping by 4 s (0-10 s, 6-16 s), 10 evenly spread words each: the first keeps the words
    # centred before 8 s, the second those from 8 s on
    first = [f"▁a{i}" for i in range(10)]
    second = [f"▁b{i}" for i in range(10)]
    kept = stitch([first, second], [0.0, 6.0], [10.0, 10.0], 4.0)
    words = [(first + second)[k] for k in kept]
    assert words == [f"▁a{i}" for i in range(8)] + [f"▁b{i}" for i in range(2, 10)]
    # a word of several pieces is kept or dropped whole
    assert stitch([["▁x", "y", "▁z"], ["▁w"]], [0.0, 1.0], [2.0, 2.0], 1.0) == [0, 1, 3]


def test_chunking_options_are_checked(asr_model: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "a.wav", tone(1.0), 16000)
    with pytest.raises(LegokitError, match="chunk overlap 5.0 s must be >= 0 and below the chunk length 2.0 s"):
        legokit.load(asr_model / "model.pt").transcribe([tmp_path / "a.wav"], chunk_seconds=2.0)


def test_full_attention_beyond_the_budget_is_refused_with_the_chunking_hint(asr_model: Path, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from legokit.workflows import inference

    model = legokit.load(asr_model / "model.pt")
    model.bricks[0].module.cfg.encoder.window = None  # full attention
    monkeypatch.setattr(inference, "FULL_ATTENTION_BUDGET", 2**20)
    sf.write(tmp_path / "long.wav", tone(30.0), 16000)
    with pytest.raises(LegokitError, match=r"long.wav: 30 s in one pass needs .* GB .*--chunk-seconds"):
        model.transcribe([tmp_path / "long.wav"])
    assert len(model.transcribe([tmp_path / "long.wav"], chunk_seconds=10, chunk_overlap=2)) == 1


@pytest.mark.long  # a random-weight model: which words come out moves with the thread count and float order
def test_chunked_transcription_matches_one_pass(asr_model: Path, tmp_path: Path) -> None:
    """A 2-minute recording through the (untrained) CTC encoder brick: 30 s windows with 5 s overlaps, stitched,
    give as many words as one pass (within 10 %) and the same words over the first window's own 27.5 s. Later
    windows differ from the one-pass text: an untrained model's output depends on absolute positions."""
    rng = np.random.default_rng(0)
    audio = np.concatenate([tone(0.4, float(f), seed=i) for i, f in enumerate(rng.integers(150, 900, 300))])
    sf.write(tmp_path / "talk.flac", audio, 16000)
    model = legokit.load(asr_model / "bricks" / "encoder.brick")
    one = model.transcribe([tmp_path / "talk.flac"])[0].text.split()
    chunked = model.transcribe([tmp_path / "talk.flac"], chunk_seconds=30, chunk_overlap=5)[0].text.split()
    assert len(one) > 50 and abs(len(chunked) - len(one)) <= 0.1 * len(one)
    head = len(one) * 20 // 120  # the words of the first 20 s, well inside the first window
    assert chunked[:head] == one[:head]


def test_the_examples_of_docs_api_run(toy_model: Path, asr_model: Path, speech_data: tuple[Path, Path],
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/api.md, run in order in one namespace, in a folder laid out like `make demo`
    leaves it (exp/mt/model.pt, exp/asr/model.pt and bricks/, talk.wav)."""
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "mt").symlink_to(toy_model)
    (tmp_path / "exp" / "asr").symlink_to(asr_model)
    wav = next(iter(read_kaldi_map(speech_data[0] / "wav.scp").values()))
    (tmp_path / "talk.wav").symlink_to(wav)
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), namespace)  # noqa: S102


def test_the_config_device_is_kept_unless_device_is_given(toy_model: Path) -> None:
    """A decode config's device is used when `device=` is not given; `device=` overrides it."""
    from legokit.errors import LegokitError
    from legokit.workflows.decode import DecodeConfig

    model = toy_model / "model.pt"
    with pytest.raises(LegokitError, match="cuda:7"):  # no such device here: the config's device was used
        legokit.load(model, config=DecodeConfig(device="cuda:7"))
    assert str(legokit.load(model, device="cpu", config=DecodeConfig(device="cuda:7")).device) == "cpu"


def test_load_reads_a_model_file_once(toy_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Telling a TTS model.pt from a brick/model file does not cost a second torch.load of the file."""
    import torch

    from legokit.tts.audio import MelConfig
    from legokit.tts.experiment import TTSModel
    from legokit.tts.model import AcousticConfig, AcousticModel
    from legokit.workflows.inference import Speaker

    tts = tmp_path / "tts.pt"
    cfg = AcousticConfig(num_phones=4, dim=8, encoder_layers=1, decoder_layers=1, ffn_dim=8, duration_channels=4,
                         num_mels=8)
    TTSModel(AcousticModel(cfg), ["<pad>", "|", "a", "b"], {}, "kk", MelConfig(num_mels=8)).save(tts)
    loads: list[str] = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda f, *a, **k: loads.append(str(f)) or real_load(f, *a, **k))
    speaker = legokit.load(tts)
    assert isinstance(speaker, Speaker) and speaker.tts.inventory == ["<pad>", "|", "a", "b"]
    assert loads == [str(tts)]
    loads.clear()
    assert isinstance(legokit.load(toy_model / "model.pt"), Model)
    assert loads == [str(toy_model / "model.pt")]
