import pytest

from legokit.cli import main


def test_prepare_help_lists_every_option(capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit):
        main(["prepare", "espeak-speech", "--help"])
    out = capsys.readouterr().out
    assert "--test-voices" in out and "--nj" in out and "--force" in out


def test_prepare_error_exit_code(tmp_path, capsys: pytest.CaptureFixture):
    rc = main(["prepare", "espeak-speech", "--text-dir", str(tmp_path), "--out", str(tmp_path / "o"),
               "--voices", "en-us", "--test-voices", "en-us"])
    assert rc == 2 and "test voices must not be training voices" in capsys.readouterr().err
