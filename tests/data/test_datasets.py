import numpy as np
import pytest
import torch
from helpers.datagen import MT_DIR, TRANSCRIPTS, write_speech_dir

from legokit.data.batching import BucketBatchSampler, SpeechCollator, collate_text
from legokit.data.datasets import SpeechDataset, TextPairDataset
from legokit.data.featdump import FeatureReader, dump_features
from legokit.data.features import FbankConfig, GlobalCMVN
from legokit.data.tokenizer import Tokenizer, train_tokenizer
from legokit.errors import LegokitError


@pytest.fixture(scope="module")
def char_tokenizer(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tok")
    (tmp / "t.txt").write_text("\n".join(TRANSCRIPTS) + "\n")
    return Tokenizer.load(train_tokenizer([str(tmp / "t.txt")], str(tmp / "char"), 100, "char"))


def test_speech_dataset_through_dataloader(tmp_path, char_tokenizer):
    data = write_speech_dir(tmp_path, num=6)
    scp = dump_features(data, tmp_path / "dump", FbankConfig(), progress=False)
    cmvn = GlobalCMVN.from_file(tmp_path / "dump" / "cmvn.json")
    ds = SpeechDataset(data, scp, char_tokenizer, cmvn)
    reader = FeatureReader(scp)
    assert len(ds) == 6 and ds.lengths == [reader.num_frames(u) for u in ds.ids]
    item = ds[1]
    assert item["id"] == "spk1-utt01" and char_tokenizer.decode(item["target"].tolist()) == TRANSCRIPTS[1]
    torch.testing.assert_close(item["speech"], cmvn(torch.from_numpy(reader["spk1-utt01"])))
    loader = torch.utils.data.DataLoader(ds, batch_sampler=BucketBatchSampler(ds.lengths, 200, seed=0),
                                         collate_fn=SpeechCollator())
    seen = []
    for batch in loader:
        B = len(batch["ids"])
        assert batch["speech"].shape[0] == batch["target"].shape[0] == B and batch["speech"].shape[2] == 80
        assert batch["speech"].shape[1] == batch["speech_lengths"].max() and B * batch["speech"].shape[1] <= 200
        seen += batch["ids"]
    assert sorted(seen) == sorted(ds.ids)
    all_frames = np.concatenate([ds[i]["speech"].numpy() for i in range(len(ds))])
    np.testing.assert_allclose(all_frames.mean(0), 0, atol=1e-4)


def test_speech_dataset_skips_utterances_without_features(tmp_path, char_tokenizer, caplog):
    data = write_speech_dir(tmp_path, num=3)
    scp = dump_features(data, tmp_path / "dump", FbankConfig(), progress=False)
    with open(data / "text", "a") as f:
        f.write("extra-utt hello\n")
    ds = SpeechDataset(data, scp, char_tokenizer)
    assert "extra-utt" not in ds.ids and len(ds) == 3
    assert "1 of 4 utterances" in caplog.text
    (data / "text").write_text("other hello\n")
    with pytest.raises(LegokitError, match="no utterance of its text file is in"):
        SpeechDataset(data, scp, char_tokenizer)


def test_speech_dataset_reads_targets_from_another_file(tmp_path, char_tokenizer):
    """Summarisation speech: `text` holds the summary, `transcript` the spoken words (ASR pre-training)."""
    data = write_speech_dir(tmp_path, num=3)
    scp = dump_features(data, tmp_path / "dump", FbankConfig(), progress=False)
    texts = (data / "text").read_text().splitlines()
    (data / "transcript").write_text("".join(f"{line.split()[0]} see you\n" for line in texts))
    ds = SpeechDataset(data, scp, char_tokenizer, text_file="transcript")
    assert [char_tokenizer.decode(ds[i]["target"].tolist()) for i in range(3)] == ["see you"] * 3
    assert char_tokenizer.decode(SpeechDataset(data, scp, char_tokenizer)[0]["target"].tolist()) == TRANSCRIPTS[0]
    with pytest.raises(LegokitError, match="no 'summary' file of targets"):
        SpeechDataset(data, scp, char_tokenizer, text_file="summary")


def test_text_pair_dataset(tmp_path):
    toks = {}
    for lang in ("de", "en"):
        path = train_tokenizer([str(MT_DIR / f"text.{lang}")], str(tmp_path / lang), 1000, "char", kaldi_text=True)
        toks[lang] = Tokenizer.load(path)
    ds = TextPairDataset(MT_DIR, "de", "en", toks["de"], toks["en"])
    assert len(ds) == 12
    item = ds[0]
    assert toks["de"].decode(item["source"].tolist()) == "Die Datei konnte nicht geöffnet werden."
    assert toks["en"].decode(item["target"].tolist()) == "The file could not be opened."
    assert ds.lengths[0] == max(len(item["source"]), len(item["target"]))
    batch = collate_text([ds[i] for i in range(3)])
    assert batch["source"].shape == (3, batch["source_lengths"].max())
