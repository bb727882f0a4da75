import numpy as np
import pytest
import soundfile as sf
from helpers.datagen import tone

from legokit.data.audio import load_audio
from legokit.errors import LegokitError


def _peak_hz(x: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(x.size, 1 / sample_rate)[spectrum.argmax()])


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_formats_round_trip(tmp_path, fmt):
    x = tone(0.5, 1000.0)
    sf.write(tmp_path / f"a.{fmt}", x, 16000)
    y = load_audio(str(tmp_path / f"a.{fmt}"))
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - x.size) <= 16 and _peak_hz(y, 16000) == pytest.approx(1000.0, abs=4)
    if fmt != "ogg":  # lossless: equal up to 16-bit quantisation
        np.testing.assert_allclose(y, x, atol=1 / 32768)


def test_stereo_is_mixed_down(tmp_path):
    left, right = tone(0.2, 300.0), tone(0.2, 700.0, seed=1)
    sf.write(tmp_path / "s.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(str(tmp_path / "s.wav")), (left + right) / 2, atol=1e-7)


def test_resampling_keeps_duration_and_pitch(tmp_path):
    sf.write(tmp_path / "a.wav", tone(1.0, 440.0, sample_rate=8000), 8000)
    y = load_audio(str(tmp_path / "a.wav"), sample_rate=16000)
    assert y.size == 16000
    assert _peak_hz(y, 16000) == pytest.approx(440.0, abs=1.5)


def test_segment(tmp_path):
    x = tone(1.0)
    sf.write(tmp_path / "a.wav", x, 16000, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(str(tmp_path / "a.wav"), start=0.25, end=0.5), x[4000:8000])
    with pytest.raises(LegokitError, match="outside the recording"):
        load_audio(str(tmp_path / "a.wav"), start=2.0, end=3.0)


def _nan_wav(path):
    x = tone(0.1)
    x[10] = np.nan
    sf.write(path, x, 16000, subtype="FLOAT")


def _truncated_wav(path):
    sf.write(path, tone(1.0), 16000)
    path.write_bytes(path.read_bytes()[:2000])


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "audio file not found"),
    (lambda p: sf.write(p, np.zeros(0, np.float32), 16000), "audio is empty"),
    (lambda p: p.write_text("this is not audio"), "not a readable audio file"),
    (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt "), "not a readable audio file"),
    (_truncated_wav, "truncated WAV file: header declares 32000 data bytes, only 1956 present"),
    (_nan_wav, "NaN"),
])
def test_bad_audio_names_the_file(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(LegokitError, match=f"{path}: .*{message}|{path}: {message}"):
        load_audio(str(path))
