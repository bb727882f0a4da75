"""`legokit validate`, `legokit features`, `legokit tokenizer train` through the CLI entry point."""


import pytest
from helpers.datagen import MT_DIR, write_speech_dir

from legokit.cli import main
from legokit.data.featdump import FeatureReader
from legokit.data.tokenizer import Tokenizer


def test_validate(tmp_path, capsys):
    data = write_speech_dir(tmp_path, num=3)
    assert main(["validate", str(data)]) == 0
    assert "OK, 3 utterances, 2 speakers" in capsys.readouterr().out
    assert main(["validate", str(MT_DIR), "--langs", "de", "en"]) == 0
    assert "OK, 12 aligned examples" in capsys.readouterr().out
    (data / "text").write_text("spk0-utt00 hi\nspk1-utt01\n")
    assert main(["validate", str(data)]) == 2
    assert "text:2: empty transcript for id 'spk1-utt01'" in capsys.readouterr().err


def test_features(tmp_path):
    data = write_speech_dir(tmp_path, num=4)
    out = tmp_path / "dump"
    assert main(["--log-level", "WARNING", "features", "--data-dir", str(data), "--out-dir", str(out),
                 "--nj", "2", "--shard-size", "2", "--num-mel-bins", "40"]) == 0
    reader = FeatureReader(out / "feats.scp")
    assert len(reader) == 4 and reader["spk0-utt00"].shape[1] == 40 and (out / "cmvn.json").is_file()


def test_tokenizer_train(tmp_path):
    prefix = tmp_path / "bpe"
    assert main(["tokenizer", "train", "--input", str(MT_DIR / "text.en"), "--kaldi-text",
                 "--model-prefix", str(prefix), "--vocab-size", "80", "--model-type", "bpe"]) == 0
    tok = Tokenizer.load(f"{prefix}.model")
    assert tok.vocab_size == 80 and "s01" not in "".join(tok.pieces)


def test_tokenizer_error_exit_code(tmp_path, capsys):
    assert main(["tokenizer", "train", "--input", str(tmp_path / "nope.txt"), "--model-prefix",
                 str(tmp_path / "m"), "--vocab-size", "50"]) == 2
    assert "nope.txt: tokenizer training text not found" in capsys.readouterr().err


def test_help_strings():
    for command in ("validate", "features", "tokenizer"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
