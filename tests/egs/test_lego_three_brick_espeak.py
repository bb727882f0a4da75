"""egs/lego_three_brick/asr1/run_espeak.sh end to end, tiny: a stand-in for the espeak_en recipe (the committed
English text of tests/fixtures/lego as its De-En text, a few utterances of synthetic tones as its speech, a
character CTC encoder trained for 2 updates as brick 1, baseline hypotheses) and for egs/lego_reuse/lego1's De-En
LegoNN model (2 updates on the fixture), then every stage of run_espeak.sh with 2-update trainings: brick 2 on
text, compose, fine-tune, decode, score with paired bootstrap into RESULTS.md. The recipe is copied into tmp_path
(its data/ and exp/ stay untouched). 26 s at load ~3, 63 s at load ~7 on 2 cores (a dozen legokit processes).
Twice: as on espeak_en (the ASR form lower-case without punctuation), and as conf/reuse.conf sets it up for
egs/lego_reuse/lego1 (cased transcripts, each dir given by its own option, the baseline in another experiment,
brick 2 seeing its characters spread over CTC-like frames, some misread, brick 1 trained on for an epoch first)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
import yaml
from helpers.datagen import tone
from helpers.toy_lego import ARCH, DECODER, FIXTURE

from legokit.corpora.text import asr_normalise
from legokit.data.datadir import read_kaldi_map
from legokit.data.fbank_config import FbankConfig
from legokit.data.featdump import dump_features
from legokit.data.tokenizer import train_tokenizer
from legokit.lego.loading import load_brick, load_bricks
from legokit.workflows.experiment import train

ROOT = Path(__file__).resolve().parents[2]
RECIPE = "lego_three_brick/asr1"
STEPS = ["train.max_epochs=1", "train.max_steps=2", "train.valid_interval=1", "train.save_interval_steps=1",
         "train.log_interval=1", "train.keep_best=1", "average_best=1", "train.num_threads=1"]
SPEECH = ["data.task=asr", "model.encoder.input=speech", "model.encoder.subsampling_channels=4",
          "model.encoder.encoder.kind=conformer", "model.encoder.encoder.num_layers=1",
          "model.encoder.encoder.dim=16", "model.encoder.encoder.num_heads=2", "model.encoder.encoder.ffn_dim=32",
          "model.encoder.encoder.kernel_size=3", "model.decoder=null", "data.max_batch_size=4"]


def _speech_dir(data: Path, split: str, sentences: dict[str, str], cased: bool) -> None:
    """A speech data dir of synthetic tones (2-2.6 s: 50+ encoder frames, room for CTC over ~30 characters):
    text (ASR form; the sentence if ``cased``), text.cased (the sentence), utt2spk, wav.scp."""
    (data / split / "wav").mkdir(parents=True)
    lines: dict[str, list[str]] = {"text": [], "text.cased": [], "utt2spk": [], "wav.scp": []}
    for i, (key, sentence) in enumerate(sorted(sentences.items())):
        utt = f"spk{i % 2}-{key}"
        wav = data / split / "wav" / f"{utt}.wav"
        sf.write(wav, tone(2.0 + 0.2 * (i % 4), 200.0 + 50 * i, seed=i), 16000)
        lines["text"].append(f"{utt} {sentence if cased else asr_normalise(sentence)}")
        lines["text.cased"].append(f"{utt} {sentence}")
        lines["utt2spk"].append(f"{utt} spk{i % 2}")
        lines["wav.scp"].append(f"{utt} {wav}")
    for name, rows in lines.items():
        (data / split / name).write_text("\n".join(rows) + "\n")


def _espeak_stand_in(root: Path, cased: bool) -> tuple[Path, Path]:
    """An espeak_en-like recipe dir (data/text, data/<split>, dump/<split>, a brick-1 experiment with baseline
    hypotheses) under ``root``; returns it and its experiment."""
    data = root / "data"
    for split in ("train", "valid"):
        (data / "text" / split).mkdir(parents=True)
        shutil.copy(FIXTURE / split / "text.en", data / "text" / split / "text.en")
    sentences = read_kaldi_map(FIXTURE / "train" / "text.en")
    keys = sorted(sentences)
    splits = {"train": keys[:8], "valid": keys[8:10], "test": keys[10:12]}
    for split, chosen in splits.items():
        _speech_dir(data, split, {k: sentences[k] for k in chosen}, cased)
        dump_features(data / split, root / "dump" / split, FbankConfig(), progress=False)
    train_tokenizer([str(data / "train" / "text"), str(data / "valid" / "text")], str(data / "char"), 100,
                    model_type="char", kaldi_text=True)
    exp = root / "exp" / "asr"
    train(None, SPEECH + STEPS + [f"data.train_dir={data / 'train'}", f"data.valid_dir={data / 'valid'}",
                                  f"data.train_feats={root / 'dump' / 'train' / 'feats.scp'}",
                                  f"data.valid_feats={root / 'dump' / 'valid' / 'feats.scp'}",
                                  f"data.tgt_tokenizer={data / 'char'}.model"], exp)
    reference = (data / "test" / "text").read_text().splitlines()
    (exp / "decode_test").mkdir()
    (exp / "decode_test" / "hyp").write_text("\n".join(reference) + "\n")  # the "LM" baseline: perfect
    (exp / "greedy").mkdir()
    (exp / "greedy" / "hyp_test").write_text("\n".join(line.split(" ", 1)[0] for line in reference) + "\n")
    return root, exp


def _de_en_stand_in(root: Path) -> tuple[Path, Path]:
    """A De-En LegoNN experiment on the fixture (2 updates); returns it and its English tokenizer."""
    for lang, size in (("en", 29), ("de", 31)):
        train_tokenizer([str(FIXTURE / "train" / f"text.{lang}")], str(root / lang), size, model_type="word",
                        kaldi_text=True)
    exp = root / "de_en_lego"
    train(None, ARCH + DECODER + STEPS + ["data.src_lang=de", "data.tgt_lang=en",
                                          f"data.train_dir={FIXTURE / 'train'}", f"data.valid_dir={FIXTURE / 'valid'}",
                                          f"data.src_tokenizer={root / 'de'}.model",
                                          f"data.tgt_tokenizer={root / 'en'}.model"], exp)
    return exp, root / "en.model"


def _recipe_copy(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The recipe copied into ``tmp_path`` (beside a link to egs/TEMPLATE, without data/exp) and the environment
    that runs it with this interpreter's legokit."""
    egs = tmp_path / "egs"
    egs.mkdir()
    (egs / "TEMPLATE").symlink_to(ROOT / "egs" / "TEMPLATE")
    recipe = egs / RECIPE
    shutil.copytree(ROOT / "egs" / RECIPE, recipe, symlinks=True,
                    ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads", ".lock*"))
    env = {k: v for k, v in os.environ.items() if k != "LEGOKIT_LOCK"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = sys.prefix
    return recipe, env


@pytest.mark.slow
@pytest.mark.parametrize("asr_form", ["normalised", "cased"])
def test_three_brick_espeak_demo_runs_every_stage(tmp_path: Path, asr_form: str) -> None:
    espeak, asr_exp = _espeak_stand_in(tmp_path / "espeak", cased=asr_form == "cased")
    de_en_exp, en_tokenizer = _de_en_stand_in(tmp_path / "lego_reuse")
    recipe, env = _recipe_copy(tmp_path)
    env["OMP_NUM_THREADS"] = "1"
    args = ["--espeak_dir", espeak, "--asr_exp", asr_exp, "--asr_tokenizer", espeak / "data" / "char.model",
            "--de_en_exp", de_en_exp, "--en_tokenizer", en_tokenizer, "--test_sets", "test",
            "--train_args", " ".join(STEPS)]
    expname = "espeak"
    if asr_form == "cased":  # conf/reuse.conf's layout: no espeak_en dir, every path its own option
        expname = "reuse"
        # brick 1 trained on first (stage 3), with a config of the stand-in's size
        (recipe / "conf" / "espeak" / "brick1.yaml").write_text(
            "model:\n  encoder: {input: speech, subsampling_channels: 4, encoder: {kind: conformer, num_layers: 1, "
            "dim: 16, num_heads: 2, ffn_dim: 32, kernel_size: 3}}\n  decoder: null\nloss: {ctc_weight: 1.0}\n"
            "data: {max_batch_size: 4}\n")
        args = args[2:] + ["--expdir", "exp/reuse", "--asr_form", "cased", "--target_file", "text",
                           "--brick1_epochs", "1",
                           "--text_dir", espeak / "data" / "text", "--speech_data", espeak / "data",
                           "--speech_dump", espeak / "dump", "--baseline_exp", espeak / "exp",
                           "--baseline_hyps", "asr/decode_{set}/hyp asr/greedy/hyp_{set}",
                           "--train_args", " ".join(STEPS)]
        middle = recipe / "conf" / "espeak" / "middle.yaml"  # brick 2's options as conf/reuse/middle.yaml has them
        config = yaml.safe_load(middle.read_text())
        config["model"]["encoder"].update(text_frames_per_token=1.6, text_token_errors=0.15)
        middle.write_text(yaml.safe_dump(config))
    proc = subprocess.run(["./run_espeak.sh", *map(str, args)], cwd=recipe, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]

    exp = recipe / "exp" / expname
    source = read_kaldi_map(recipe / "data" / expname / "en_text" / "train" / "text.asr")
    expected = "the dog finds a red house" if asr_form == "normalised" else "the dog finds a red house ."
    assert source["train-0000"] == expected, source["train-0000"]  # the ASR form
    composed = load_bricks(exp / "three_brick_zeroshot" / "model.pt")
    assert [b.kind for b in composed] == ["encoder", "encoder", "decoder"]
    # brick 1 of the chain: the stand-in's encoder as is, or (--brick1_epochs) the one stage 3 trained from it
    trained = exp / "brick1" / "bricks" / "encoder.brick"
    assert trained.is_file() == (asr_form == "cased")
    first = load_brick(trained if asr_form == "cased" else asr_exp / "bricks" / "encoder.brick").module.state_dict()
    assert all(torch.equal(v, first[k]) for k, v in composed[0].module.state_dict().items())
    if asr_form == "cased":
        start = load_brick(asr_exp / "bricks" / "encoder.brick").module.state_dict()
        assert any(not torch.equal(v, start[k]) for k, v in first.items())  # it did train
    ref = read_kaldi_map(espeak / "data" / "test" / "text")
    for system in ("three_brick_zeroshot", "three_brick_finetune"):
        hyp = read_kaldi_map(exp / system / "decode_test" / "hyp", allow_empty_value=True)
        assert set(hyp) == set(ref), (system, sorted(hyp))
        cased = read_kaldi_map(exp / system / "decode_test" / "hyp.cased", allow_empty_value=True)
        # scored in the ASR form: normalised, or as the decoder wrote it
        assert hyp == ({k: asr_normalise(v) for k, v in cased.items()} if asr_form == "normalised" else cased), hyp
    results = (exp / "RESULTS.md").read_text()
    assert "| three_brick_zeroshot/test |" in results and "| three_brick_finetune/test |" in results, results
    tables = results.split("### ")[1:]
    assert [t.splitlines()[0] for t in tables] == [f"three_brick_{s} vs baseline ({b})" for s in ("zeroshot",
                                                                                                     "finetune")
                                                   for b in ("lm", "greedy")], results
    for table in tables:  # the baseline column: the perfect "LM" hypotheses 0, the empty "greedy" ones 100
        row = next(line for line in table.splitlines() if line.startswith("| wer |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[2]) == (0.0 if "(lm)" in table.splitlines()[0] else 100.0), row
        assert 0 <= float(cells[-1].removeprefix("< ")) <= 1, row  # p ("< 0.001" when no resample reached it)


def test_brick_2_is_trained_before_brick_1_exists(tmp_path: Path) -> None:
    """Stages 1-2 (brick 2, text only) need the two vocabularies, not the bricks: lego_reuse's long preset makes
    brick 1 and brick 3 while brick 2 trains beside it. Stage 4 (compose) refuses a missing brick, naming it."""
    recipe, env = _recipe_copy(tmp_path)
    for split in ("train", "valid"):
        (tmp_path / "text" / split).mkdir(parents=True)
        shutil.copy(FIXTURE / split / "text.en", tmp_path / "text" / split / "text.en")
    train_tokenizer([str(FIXTURE / "train" / "text.en")], str(tmp_path / "en"), 29, model_type="word",
                    kaldi_text=True)
    missing = tmp_path / "not_yet" / "asr_encoder_char"
    args = ["--asr_exp", missing, "--asr_tokenizer", tmp_path / "en.model", "--de_en_exp", tmp_path / "not_yet",
            "--en_tokenizer", tmp_path / "en.model", "--text_dir", tmp_path / "text"]

    def run(*stages: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["./run_espeak.sh", *stages, *map(str, args)], cwd=recipe, env=env,
                              capture_output=True, text=True, timeout=300)

    proc = run("--stage", "1", "--stop_stage", "1")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (recipe / "data" / "espeak" / "en_text" / "train" / "text.asr").is_file()
    proc = run("--stage", "4", "--stop_stage", "4")
    assert proc.returncode != 0
    assert f"missing {missing}/bricks/encoder.brick" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    proc = run("--stage", "1", "--stop_stage", "1", "--brick1_epochs", "2.5")  # not a whole number: one line
    assert proc.returncode != 0
    assert "--brick1_epochs: expected a whole number of epochs, got '2.5'" in proc.stderr, proc.stderr
    # brick 1's own experiment as stage 3's output dir: refused before anything is moved or written
    (recipe / "exp" / "own" / "brick1").mkdir(parents=True)
    args[1] = "exp/own/brick1"
    proc = run("--stage", "3", "--stop_stage", "3", "--brick1_epochs", "1", "--expdir", "exp/own")
    assert proc.returncode != 0
    assert "--asr_exp exp/own/brick1 is where stage 3 writes" in proc.stderr, proc.stderr
    assert (recipe / "exp" / "own" / "brick1").is_dir() and not list((recipe / "exp" / "own").glob("brick1.*"))
