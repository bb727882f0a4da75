"""The LegoNN reuse table: the three-column table, every system's scores and the stage timings."""
import json

import pytest

from legokit.errors import LegokitError
from legokit.score.results import update_results
from legokit.score.reuse_table import render_reuse_table, stage_durations


def test_table_systems_and_stage_times(tmp_path):
    scores = {"ro_en_baseline": {"bleu": 17.8, "chrf": 37.5}, "ro_en_zeroshot": {"bleu": 17.2, "chrf": 38.3},
              "asr_baseline": {"wer": 20.0, "cer": 9.0}, "asr_finetune": {"wer": 15.5, "cer": 7.0},
              "de_en_lego": {"bleu": 12.7}}
    for name, s in scores.items():
        update_results(tmp_path / name, "test", s)
    (tmp_path / ".done").mkdir()
    for stage, name, seconds in ((5, "de_en_lego", 600.0), (1, "mt_data", 30.0)):
        (tmp_path / ".done" / f"stage{stage}.{name}.done").write_text(
            json.dumps({"stage": stage, "name": name, "duration_s": seconds}))
    (tmp_path / ".done" / "stage6.half_written.done").write_text("{")  # unreadable: left out, not fatal
    text = render_reuse_table(tmp_path)
    assert "| Ro-En MT (BLEU) | 17.80 | 17.20 | - |" in text
    assert "| English ASR (WER) | 20.00 | - | 15.50 |" in text
    assert "De-En LegoNN model whose decoder is reused: BLEU 12.70" in text
    assert "| system | BLEU | chrF | WER | CER |" in text
    assert "| ro_en_zeroshot | 17.20 | 38.30 | - | - |" in text and "| asr_finetune | - | - | 15.50 | 7.00 |" in text
    assert stage_durations(tmp_path) == [(1, "mt_data", 30.0), (5, "de_en_lego", 600.0)]
    assert "| 5 | de_en_lego | 10.0 |" in text and "| | total | 10.5 |" in text


def test_nothing_scored_is_an_error(tmp_path):
    with pytest.raises(LegokitError, match="scoring stage"):
        render_reuse_table(tmp_path)
