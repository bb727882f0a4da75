import pytest
import sentencepiece as spm
from helpers.datagen import MT_DIR

from legokit.data.tokenizer import Tokenizer, train_tokenizer
from legokit.data.vocab import VocabularyInfo
from legokit.errors import LegokitError


@pytest.fixture(scope="module")
def sentences(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "en.txt"
    lines = [line.split(maxsplit=1)[1] for line in (MT_DIR / "text.en").read_text().splitlines()]
    path.write_text("\n".join(lines * 3) + "\n")
    return path


@pytest.mark.parametrize("model_type, vocab_size", [("unigram", 60), ("bpe", 60), ("char", 1000)])
def test_id_convention_and_round_trip(tmp_path, sentences, model_type, vocab_size):
    tok = Tokenizer.load(train_tokenizer([str(sentences)], str(tmp_path / "m"), vocab_size, model_type))
    assert tok.pieces[:4] == ["<blank>", "<unk>", "<s>", "</s>"]
    assert tok.vocab == VocabularyInfo(tok.vocab_size, blank=0, pad=0, unk=1, bos=2, eos=3)
    assert len(tok.pieces) == tok.vocab_size == tok.sp.GetPieceSize()
    if model_type != "char":
        assert tok.vocab_size == vocab_size
    text = "Please save the changes."
    ids = tok.encode(text)
    assert ids and min(ids) > 3 and tok.decode(ids) == text
    assert tok.decode([0, *ids, 3]) == text  # blank and eos are ignored
    assert "".join(tok.pieces[i] for i in ids).replace("▁", " ").strip() == text


def test_char_model_has_one_piece_per_character(tmp_path, sentences):
    tok = Tokenizer.load(train_tokenizer([str(sentences)], str(tmp_path / "c"), 1000, "char"))
    assert all(len(p) == 1 for p in tok.pieces[4:])
    assert len(tok.encode("the cat")) == len("▁the▁cat")


def test_from_bytes_equals_file(tmp_path, sentences):
    path = train_tokenizer([str(sentences)], str(tmp_path / "m"), 50, "bpe")
    a, b = Tokenizer.load(path), Tokenizer(Tokenizer.load(path).model_bytes)
    assert a.pieces == b.pieces and a.encode("The disk is full.") == b.encode("The disk is full.")


def test_kaldi_text_strips_ids_and_user_symbols_stay_whole(tmp_path):
    path = train_tokenizer([str(MT_DIR / "text.en"), str(MT_DIR / "text.de")], str(tmp_path / "k"), 1000,
                           "char", user_defined_symbols=["<de>", "<en>"], kaldi_text=True)
    tok = Tokenizer.load(path)
    assert tok.pieces[4:6] == ["<de>", "<en>"]
    assert "0" not in tok.pieces and "1" not in tok.pieces  # digits only occur in the ids s01..s12
    assert [tok.pieces[i] for i in tok.encode("<de> Hallo")][:3] == ["▁", "<de>", "▁"]


def test_foreign_model_is_refused(tmp_path, sentences):
    spm.SentencePieceTrainer.train(input=str(sentences), model_prefix=str(tmp_path / "plain"), vocab_size=40,
                                   minloglevel=2)
    with pytest.raises(LegokitError, match=r"plain.model: model breaks the id convention"):
        Tokenizer.load(tmp_path / "plain.model")
    with pytest.raises(LegokitError, match="not a sentencepiece model"):
        Tokenizer(b"garbage")
    with pytest.raises(LegokitError, match="sentencepiece model not found"):
        Tokenizer.load(tmp_path / "nothing.model")


def test_training_errors(tmp_path, sentences):
    with pytest.raises(LegokitError, match="Vocabulary size too high"):
        train_tokenizer([str(sentences)], str(tmp_path / "m"), 5000, "unigram")
    with pytest.raises(LegokitError, match="missing.txt: tokenizer training text not found"):
        train_tokenizer([str(tmp_path / "missing.txt")], str(tmp_path / "m"), 50)
    with pytest.raises(LegokitError, match="unknown tokenizer model type 'wordpiece'"):
        train_tokenizer([str(sentences)], str(tmp_path / "m"), 50, "wordpiece")
