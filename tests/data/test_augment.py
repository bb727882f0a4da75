"""On-the-fly waveform augmentation (legokit/data/augment.py): speed perturbation changes the length by the
factor, noise lands at the requested SNR, reverberation is finite and longer-tailed, the same seed gives the
same augmented batch, everything off is the dumped features, and a tiny ASR training run with it on runs."""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from legokit.cli import main
from legokit.corpora.noise import read_catalogue
from legokit.data.audio import load_audio
from legokit.data.augment import AugmentConfig, WaveAugment, add_noise, reverberate, speed_perturb, synthetic_rir
from legokit.data.datadir import read_kaldi_map
from legokit.data.datasets import SpeechDataset
from legokit.data.featdump import dump_features
from legokit.data.features import FbankConfig, compute_fbank
from legokit.data.tokenizer import Tokenizer, train_tokenizer
from legokit.errors import LegokitError
from legokit.train.seeding import generator
from legokit.workflows.experiment import DataConfig, augmented, make_loader

FIXTURES = Path(__file__).parents[1] / "fixtures" / "asr"


def _wave(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_changes_the_length_by_the_factor_and_the_pitch(factor: float) -> None:
    out = speed_perturb(_wave(), factor, 16000)
    assert abs(len(out) - 16000 / factor) <= 2
    peak = np.argmax(np.abs(np.fft.rfft(out))) * 16000 / len(out)  # 220 Hz tone moves to 220 * factor
    assert abs(peak - 220 * factor) < 3


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_noise_is_added_at_the_requested_snr(snr: float) -> None:
    wave, noise = _wave(), np.random.default_rng(1).standard_normal(5000).astype(np.float32)
    out = add_noise(wave, noise, snr, offset=123)
    measured = 10 * np.log10(np.mean(wave ** 2) / np.mean((out - wave) ** 2))
    assert measured == pytest.approx(snr, abs=0.05)


def test_reverb_is_finite_keeps_length_and_rms_and_has_a_longer_tail() -> None:
    click = np.zeros(16000, dtype=np.float32)
    click[1000:1100] = 0.5  # a burst followed by silence
    rir = synthetic_rir(0.5, 16000, generator(0))
    out = reverberate(click, rir)
    assert np.isfinite(out).all() and len(out) == len(click)
    assert np.sqrt(np.mean(out ** 2)) == pytest.approx(np.sqrt(np.mean(click ** 2)), rel=1e-4)
    tail = slice(1100 + 1600, 1100 + 4800)  # 100-300 ms after the burst: silence dry, decaying energy wet
    assert np.abs(click[tail]).max() == 0 and np.sqrt(np.mean(out[tail] ** 2)) > 1e-3
    assert np.abs(out[1100 + 7000:]).mean() < np.abs(out[tail]).mean()  # and it decays


def test_wave_augment_draws_only_from_the_generator(tmp_path: Path) -> None:
    sf.write(tmp_path / "hum.wav", np.random.default_rng(2).standard_normal(8000) * 0.1, 16000)
    aug = WaveAugment(AugmentConfig(speed_perturb=[0.9, 1.0, 1.1], noise_dir=str(tmp_path), reverb_prob=0.5))
    a = [aug(_wave(), generator(7, 0, i)) for i in range(6)]
    torch.manual_seed(123)
    np.random.seed(5)
    b = [aug(_wave(), generator(7, 0, i)) for i in range(6)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len({len(x) for x in a}) > 1  # several speeds drawn


def test_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(LegokitError, match="holds no .wav/.flac/.ogg files; make one with"):
        WaveAugment(AugmentConfig(noise_dir=str(tmp_path)))
    with pytest.raises(LegokitError, match=r"data.augment.noise_snr_db' must be \[low, high\]"):
        WaveAugment(AugmentConfig(noise_snr_db=[20, 10]))
    with pytest.raises(LegokitError, match="data.augment.speed_perturb' must hold factors > 0"):
        WaveAugment(AugmentConfig(speed_perturb=[0.0, 1.0]))


@pytest.fixture(scope="module")
def asr(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The committed espeak-ng fixture (4 utterances) as a data dir, its dump and a word tokenizer."""
    tmp = tmp_path_factory.mktemp("aug")
    data = tmp / "data"
    data.mkdir()
    for name in ("text", "utt2spk"):
        shutil.copy(FIXTURES / name, data / name)
    wavs = read_kaldi_map(FIXTURES / "wav.scp")
    (data / "wav.scp").write_text("".join(f"{u} {FIXTURES / p}\n" for u, p in wavs.items()))
    feats = dump_features(data, tmp / "dump", FbankConfig(), progress=False)
    words = {w for line in read_kaldi_map(data / "text").values() for w in line.split()}
    tok = train_tokenizer([str(data / "text")], str(tmp / "words"), len(words) + 4, model_type="word", kaldi_text=True)
    noise = tmp / "noise"
    noise.mkdir()
    sf.write(noise / "hum.wav", np.random.default_rng(3).standard_normal(16000) * 0.1, 16000)
    return {"data": data, "feats": str(feats), "tok": tok, "noise": noise}


def _batches(asr: dict, augment: AugmentConfig | None, seed: int = 1, epoch: int = 0) -> list[dict]:
    cfg = DataConfig(task="asr", train_dir=str(asr["data"]), train_feats=asr["feats"], max_tokens=100000,
                     augment=augment)
    dataset = SpeechDataset(asr["data"], asr["feats"], Tokenizer.load(asr["tok"]))
    return list(make_loader(dataset, cfg, True, seed, epoch))


def test_same_seed_same_augmented_batch_and_switches_off_is_the_dump(asr: dict) -> None:
    on = AugmentConfig(speed_perturb=[0.9, 1.1], noise_dir=str(asr["noise"]), reverb_prob=1.0)
    plain, off = _batches(asr, None), _batches(asr, AugmentConfig(speed_perturb=[1.0]))
    assert all(torch.equal(a["speech"], b["speech"]) for a, b in zip(plain, off))
    first, again = _batches(asr, on), _batches(asr, on)
    assert [b["ids"] for b in first] == [b["ids"] for b in plain]
    assert all(torch.equal(a["speech"], b["speech"]) for a, b in zip(first, again))
    assert not torch.equal(first[0]["speech_lengths"], plain[0]["speech_lengths"])  # speed changed lengths
    other_epoch = _batches(asr, on, epoch=1)
    assert any(not torch.equal(a["speech"], b["speech"]) for a, b in zip(first, other_epoch))


def test_unchanged_utterances_keep_the_dump_and_changed_ones_get_kaldi_fbank(asr: dict) -> None:
    """An utterance whose draw changes nothing (factor 1.0) keeps its dumped features bit for bit; a perturbed
    one gets kaldi-native-fbank's features of its perturbed wave (computed by TorchFbank)."""
    cfg = DataConfig(task="asr", train_dir=str(asr["data"]), train_feats=asr["feats"], max_tokens=100000,
                     augment=AugmentConfig(speed_perturb=[0.9, 1.0]))
    base = SpeechDataset(asr["data"], asr["feats"], Tokenizer.load(asr["tok"]))
    kinds = set()
    for seed in range(8):
        dataset = augmented(base, cfg, seed).for_epoch(seed, 0)
        for i, utt_id in enumerate(base.ids):
            got, utt = dataset[i]["speech"], dataset.utts[utt_id]
            wave = load_audio(utt.path, 16000)
            perturbed = dataset.augment(wave, generator(seed, 0, zlib.crc32(utt_id.encode())))
            if perturbed is wave:
                kinds.add("dump")
                assert torch.equal(got, base[i]["speech"])
                continue
            kinds.add("perturbed")
            raw = torch.from_numpy(compute_fbank(perturbed, FbankConfig()))
            expected = base.cmvn(raw) if base.cmvn is not None else raw
            assert got.shape == expected.shape and len(got) > len(base[i]["speech"])
            # both compute in float32: bins near silence (log energy < 5 in int16 units) differ by float32
            # rounding of the power spectrum in either implementation (up to ~0.1 there), the rest agree
            assert float((got - expected).abs().mean()) < 1e-3
            loud = raw > 5
            torch.testing.assert_close(got[loud], expected[loud], atol=1e-3, rtol=0)
    assert kinds == {"dump", "perturbed"}


def test_one_augmented_dataset_per_run_gives_each_epoch_the_same_batches(asr: dict, monkeypatch) -> None:
    """Built once and handed to make_loader every epoch, the augmented dataset reads its data dir and noise
    once, and each epoch's batches are those of a dataset built for that epoch alone (same seeding)."""
    from legokit.data import augment

    on = AugmentConfig(speed_perturb=[0.9, 1.1], noise_dir=str(asr["noise"]), reverb_prob=1.0)
    expected = [_batches(asr, on, epoch=epoch) for epoch in range(3)]
    reads: list[str] = []
    read_dir, load_audio = augment.read_speech_dir, augment.load_audio
    monkeypatch.setattr(augment, "read_speech_dir", lambda d: reads.append(str(d)) or read_dir(d))
    monkeypatch.setattr(augment, "load_audio", lambda path, *a: reads.append(str(path)) or load_audio(path, *a))
    cfg = DataConfig(task="asr", train_dir=str(asr["data"]), train_feats=asr["feats"], max_tokens=100000,
                     augment=on)
    train_set = augmented(SpeechDataset(asr["data"], asr["feats"], Tokenizer.load(asr["tok"])), cfg, 1)
    for epoch in range(3):
        got = list(make_loader(train_set, cfg, True, 1, epoch))
        assert [b["ids"] for b in got] == [b["ids"] for b in expected[epoch]]
        assert all(torch.equal(a["speech"], b["speech"]) for a, b in zip(got, expected[epoch]))
    noise = str(asr["noise"] / "hum.wav")
    assert reads.count(str(asr["data"])) == 1 and reads.count(noise) == 1, reads


def test_the_speed_cache_gives_the_same_batches_and_reads_each_perturbed_wave_once(asr: dict, monkeypatch) -> None:
    """data.augment.speed_cache_mb: over 6 epochs the batches are those computed afresh, bit for bit; each
    (utterance, factor) is read and computed once; a budget too small for one utterance keeps nothing; with noise
    on, the cache is off (the draw is not a function of the factor)."""
    from legokit.data import augment

    speed = AugmentConfig(speed_perturb=[0.9, 1.0, 1.1])
    cached_cfg = AugmentConfig(speed_perturb=[0.9, 1.0, 1.1], speed_cache_mb=64)
    expected = [_batches(asr, speed, epoch=epoch) for epoch in range(6)]
    reads: list[str] = []
    load_audio = augment.load_audio
    monkeypatch.setattr(augment, "load_audio", lambda path, *a: reads.append(str(path)) or load_audio(path, *a))
    cfg = DataConfig(task="asr", train_dir=str(asr["data"]), train_feats=asr["feats"], max_tokens=100000,
                     augment=cached_cfg)
    base = SpeechDataset(asr["data"], asr["feats"], Tokenizer.load(asr["tok"]))
    train_set = augmented(base, cfg, 1)
    for epoch in range(6):
        got = list(make_loader(train_set, cfg, True, 1, epoch))
        assert all(torch.equal(a["speech"], b["speech"]) for a, b in zip(got, expected[epoch]))
    cache = train_set.speed_cache
    assert 0 < len(cache) <= 2 * len(base) and len(reads) == len(cache)  # each perturbed (utt, factor) read once
    assert cache.used == sum(t.numel() * 4 for t in cache._items.values())
    tiny = augmented(base, DataConfig(task="asr", train_dir=str(asr["data"]), train_feats=asr["feats"],
                                      augment=AugmentConfig(speed_perturb=[0.9, 1.1], speed_cache_mb=0)), 1)
    assert tiny.speed_cache is None
    noisy = AugmentConfig(speed_perturb=[0.9, 1.1], noise_dir=str(asr["noise"]), speed_cache_mb=64)
    assert augmented(base, DataConfig(task="asr", train_dir=str(asr["data"]), train_feats=asr["feats"],
                                      augment=noisy), 1).speed_cache is None
    small = augment.FeatureCache(1)
    small.put((0, 0.9), torch.zeros(2 ** 19))  # 2 MB > 1 MB: not kept
    assert len(small) == 0 and small.get((0, 0.9)) is None


def test_a_tiny_asr_training_run_with_augmentation_runs(asr: dict, tmp_path: Path, monkeypatch) -> None:
    from legokit.data import augment

    monkeypatch.setenv("LEGOKIT_NO_TQDM", "1")
    built = []
    monkeypatch.setattr(augment, "read_speech_dir", lambda d, read=augment.read_speech_dir: built.append(d) or read(d))
    overrides = ["data.task=asr", "model.encoder.input=speech", "model.encoder.ctc_head=true", "loss.ctc_weight=0.5",
                 "model.encoder.encoder.num_layers=1", "model.encoder.encoder.dim=16",
                 "model.encoder.encoder.num_heads=2", "model.encoder.encoder.ffn_dim=32",
                 "model.encoder.length_rate=null", "model.decoder.dim=16", "model.decoder.num_layers=1",
                 "model.decoder.num_heads=2", "model.decoder.ffn_dim=32", "model.decoder.ingestor.kind=states",
                 f"data.train_dir={asr['data']}", f"data.valid_dir={asr['data']}", f"data.train_feats={asr['feats']}",
                 f"data.valid_feats={asr['feats']}", f"data.tgt_tokenizer={asr['tok']}",
                 "data.augment.speed_perturb=[0.9,1.0,1.1]", f"data.augment.noise_dir={asr['noise']}",
                 "data.augment.noise_snr_db=[10,20]", "data.augment.reverb_prob=0.5", "train.max_epochs=2",
                 "average_best=1"]
    assert main(["--log-level", "WARNING", "train", "--out-dir", str(tmp_path / "run"), *overrides]) == 0
    assert (tmp_path / "run" / "checkpoints" / "checkpoint_last.pt").is_file()
    assert len(built) == 1  # the augmented dataset is made once for the two epochs


def _catalogue(entries: list[tuple[bytes, bytes]]) -> bytes:
    """An OpenTTD sound catalogue as openttd-opensfx ships it (new-format flag on the offsets)."""
    table, body, offset = b"", b"", 8 * len(entries)
    for name, wav in entries:
        item = bytes([len(name) + 1]) + name + b"\0" + wav
        table += struct.pack("<II", (offset + len(body)) | 0x80000000, len(item))
        body += item
    return table + body


def test_the_opensfx_catalogue_reader_and_a_truncated_catalogue(tmp_path: Path) -> None:
    buf = io.BytesIO()
    sf.write(buf, _wave(0.2), 16000, format="WAV", subtype="PCM_16")
    path = tmp_path / "opensfx.cat"
    path.write_bytes(_catalogue([(b'"Wind". License: CC0.', buf.getvalue()), (b"Nothing", b"")]))
    (name, wav), empty = read_catalogue(path)
    assert name == '"Wind". License: CC0.' and empty == ("Nothing", b"")
    assert np.allclose(sf.read(io.BytesIO(wav), dtype="float32")[0], _wave(0.2), atol=1e-4)
    path.write_bytes(path.read_bytes()[:-5])  # into the last entry
    with pytest.raises(LegokitError, match="entry 1 runs past the end of the file"):
        read_catalogue(path)
