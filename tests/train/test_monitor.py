import json

import pytest

from legokit.errors import LegokitError
from legokit.train import plot_curves
from legokit.train.monitor import MetricsWriter


def test_metrics_writer_and_plot_curves(tmp_path):
    writer = MetricsWriter(tmp_path)
    for step in (1, 2, 3):
        writer.write("train", 1, step, {"loss": 1.0 / step, "lr": 0.1})
    writer.write("valid", 1, 3, {"loss": 0.5, "acc": 0.7, "weight": 10.0})
    writer.close()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["event"] == "valid" and records[-1]["acc"] == 0.7 and records[0]["step"] == 1
    assert any((tmp_path / "tensorboard").iterdir())
    png = plot_curves(tmp_path / "metrics.jsonl", tmp_path / "plots" / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_curves_errors(tmp_path):
    with pytest.raises(LegokitError, match="metrics file not found"):
        plot_curves(tmp_path / "none.jsonl", tmp_path / "c.png")
    (tmp_path / "bad.jsonl").write_text('{"event": "train", "step": 1, "loss": 1}\n{oops\n')
    with pytest.raises(LegokitError, match=r"bad.jsonl:2: not a JSON line"):
        plot_curves(tmp_path / "bad.jsonl", tmp_path / "c.png")
