"""RESULTS.md: environment, git hash, config, rows appended per test set; `legokit results`."""

import json
import platform
import socket
from pathlib import Path

import pytest
import sacrebleu

from legokit import __version__
from legokit.cli import main
from legokit.errors import LegokitError
from legokit.provenance import git_hash
from legokit.score.results import (
    config_info,
    load_record,
    markdown_table,
    read_scores_json,
    update_results,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "score"


def test_markdown_table_layout():
    table = markdown_table([("ce", {"bleu": 30.123, "chrf": 55.0}), ("afl", {"bleu": 31.0, "x": 1.0})])
    assert table.splitlines() == [
        "| system | BLEU | chrF | x |",
        "|---|---:|---:|---:|",
        "| ce | 30.12 | 55.00 | - |",
        "| afl | 31.00 | - | 1.00 |",
    ]
    assert markdown_table([("a", {"wer": 5.0})], metrics=["wer"], digits=1).endswith("| a | 5.0 |\n")


def test_update_appends_rows_and_records_environment(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("model: {d: 256}\n")
    exp = tmp_path / "exp" / "mt"
    update_results(exp, "test", {"bleu": 30.0}, config=config, files={"hyp": "h.txt"})
    md = update_results(exp, "dev", {"bleu": 28.5, "chrf": 50.0})
    text = md.read_text()
    assert "| test | 30.00 | - |" in text and "| dev | 28.50 | 50.00 |" in text
    assert f"python {platform.python_version()}" in text and f"legokit {__version__}" in text
    assert config_info(config)["sha256"] in text and str(config) in text  # config kept from the first call
    assert "hyp `h.txt`" in text and git_hash() in text and f"host: {socket.gethostname()}" in text
    md = update_results(exp, "test", {"bleu": 31.0})  # re-scoring replaces only that row
    text = md.read_text()
    assert "| test | 31.00 | - |" in text and "| dev | 28.50 | 50.00 |" in text
    assert list(load_record(exp)["sets"]) == ["test", "dev"]


def test_config_yaml_in_exp_dir_is_picked_up(tmp_path):
    (tmp_path / "config.yaml").write_text("a: 1\n")
    update_results(tmp_path, "test", {"wer": 10.0})
    assert load_record(tmp_path)["config"]["path"] == str(tmp_path / "config.yaml")


def test_bad_inputs(tmp_path):
    with pytest.raises(LegokitError, match="config file not found"):
        config_info(tmp_path / "missing.yaml")
    with pytest.raises(LegokitError, match=r"missing.json: scores file \(--scores\) not found"):
        read_scores_json(tmp_path / "missing.json")
    bad = tmp_path / "scores.json"
    bad.write_text('{"bleu": "high"}')
    with pytest.raises(LegokitError, match="scores.json: expected a JSON object"):
        read_scores_json(bad)
    (tmp_path / "results.json").write_text("{oops")
    with pytest.raises(LegokitError, match="results.json:1: results record is not valid JSON"):
        load_record(tmp_path)


def test_cli_scores_and_records_in_one_call(tmp_path, capsys):
    exp = tmp_path / "exp"
    ref, hyp = FIXTURES / "ref.txt", FIXTURES / "hyp.txt"
    assert main(["results", "--exp-dir", str(exp), "--test-set", "test", "--ref", str(ref),
                 "--hyp", str(hyp), "--metrics", "bleu"]) == 0
    bleu = sacrebleu.corpus_bleu(hyp.read_text().splitlines(), [ref.read_text().splitlines()]).score
    assert f"| test | {bleu:.2f} |" in (exp / "RESULTS.md").read_text()

    scores = tmp_path / "dev.json"
    scores.write_text(json.dumps({"bleu": 12.5}))
    assert main(["results", "--exp-dir", str(exp), "--test-set", "dev", "--scores", str(scores)]) == 0
    capsys.readouterr()
    assert main(["results", "--compare", str(exp)]) == 0
    out = capsys.readouterr().out
    assert f"| exp/test | {bleu:.2f} |" in out and "| exp/dev | 12.50 |" in out


def test_cli_errors(tmp_path, capsys):
    assert main(["results", "--exp-dir", str(tmp_path)]) == 2
    assert main(["results", "--exp-dir", str(tmp_path), "--test-set", "t", "--ref", "r"]) == 2
    assert main(["results", "--compare", str(tmp_path)]) == 2
    assert "no scores recorded" in capsys.readouterr().err
