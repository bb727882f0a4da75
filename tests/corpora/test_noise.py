"""legokit/corpora/noise.py: the extremetuxracer-data row of the noise package table (sound effects and music of
at least 0.5 s as 16 kHz mono etr-<name>.wav, the licence read from debian/copyright), on a fake package tree and
on the real package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from legokit.cli import main
from legokit.corpora import noise
from legokit.errors import LegokitError

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Extreme Tux Racer

Files: *
Copyright: 2010-2022, Extreme Tux Racer Team
License: GPL-2+
Comment:
 Please refer to the AUTHORS file.

Files: resources/etr.appdata.xml
Copyright: 2010-2022, Extreme Tux Racer Team
License: CC0
 The CC0 text.
"""


def _stereo(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.2 * np.sin(2 * np.pi * 300 * t), 0.1 * np.sin(2 * np.pi * 500 * t)], axis=1)


def _fake_etr(root: Path) -> Path:
    """extremetuxracer-data as fetch_deb leaves it: two sounds (one too short), one Vorbis track, the copyright."""
    tree = root / "extracted" / "extremetuxracer-data"
    (tree / noise.ETR_DIR / "sounds").mkdir(parents=True)
    (tree / noise.ETR_DIR / "music").mkdir(parents=True)
    sf.write(tree / noise.ETR_DIR / "sounds" / "snow_slide.wav", _stereo(1.0, 44100), 44100, subtype="PCM_16")
    sf.write(tree / noise.ETR_DIR / "sounds" / "pickup1.wav", _stereo(0.03, 44100), 44100, subtype="PCM_16")
    sf.write(tree / noise.ETR_DIR / "music" / "race1-jt.ogg", _stereo(2.0, 48000), 48000, format="OGG",
             subtype="VORBIS")
    (tree / noise.ETR_DIR / "sounds" / "sounds.lst").write_text("not audio\n")
    doc = tree / "usr/share/doc/extremetuxracer-data"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    return tree


def test_extremetuxracer_sounds_and_music_with_their_licence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    tree = _fake_etr(tmp_path)
    fetched = []
    monkeypatch.setattr(noise, "fetch_deb", lambda name, d: fetched.append(name) or tree)
    out = tmp_path / "noise_test"
    assert main(["--log-level", "WARNING", "prepare", "debian-noise", "--package", "extremetuxracer-data",
                 "--out", str(out), "--download-dir", str(tmp_path)]) == 0
    assert fetched == ["extremetuxracer-data"]
    assert '"files": 2' in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.wav")) == ["etr-race1-jt.wav", "etr-snow_slide.wav"]
    for name, seconds in (("etr-snow_slide.wav", 1.0), ("etr-race1-jt.wav", 2.0)):
        info = sf.info(out / name)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.duration - seconds) < 0.01
    assert (out / "LICENSES.tsv").read_text().splitlines() == [
        "etr-snow_slide.wav\tExtreme Tux Racer sound effect snow_slide.wav. License: GPL-2+ (debian/copyright, "
        "Files: *).",
        "etr-race1-jt.wav\tExtreme Tux Racer music race1-jt.ogg. License: GPL-2+ (debian/copyright, Files: *)."]


def test_the_licence_comes_from_the_files_star_paragraph_or_an_error(tmp_path: Path) -> None:
    path = tmp_path / "copyright"
    path.write_text(COPYRIGHT)
    assert noise.copyright_licence(path) == "GPL-2+"
    assert noise.copyright_licence(path, "resources/etr.appdata.xml") == "CC0"
    path.write_text("This package is free software.\n")
    with pytest.raises(LegokitError, match="no paragraph with 'Files: \\*'"):
        noise.copyright_licence(path)
    with pytest.raises(LegokitError, match="no copyright file"):
        noise.copyright_licence(tmp_path / "missing")
    with pytest.raises(LegokitError, match="unknown noise package 'asterisk-core-sounds-en'"):
        noise.prepare_noise(tmp_path / "out", tmp_path, package="asterisk-core-sounds-en")


@pytest.mark.slow
def test_real_extremetuxracer_data(tmp_path: Path) -> None:
    """Needs apt and the Debian mirror: downloads the 40 MB extremetuxracer-data (about 10 s in all)."""
    stats = noise.prepare_noise(tmp_path / "out", tmp_path / "dl", package="extremetuxracer-data")
    names = sorted(p.name for p in (tmp_path / "out").glob("*.wav"))
    assert {"etr-snow_slide.wav", "etr-rock_slide.wav", "etr-freezingpoint.wav"} <= set(names)
    assert "etr-pickup1.wav" not in names  # 0.03 s
    assert stats["files"] == len(names) and stats["minutes"] > 5
    assert all("License: GPL-2+" in line for line in (tmp_path / "out" / "LICENSES.tsv").read_text().splitlines())
