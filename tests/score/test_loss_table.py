"""The loss comparison table: BLEU/chrF mean ± std over seeds from results.json records, and the F-measure
pooled over the long-tail buckets of each training-frequency band (rare: seen 1-9 times)."""
import json

import pytest

from legokit.errors import LegokitError
from legokit.score.longtail import analyze, parse_buckets
from legokit.score.loss_table import pooled_fmeasure, render_loss_table
from legokit.score.results import update_results

TRAIN = ["common common common common common common common common common common rare", "common"]
REFS = ["common rare", "common unseen"]


def test_pooled_fmeasure_by_frequency_band():
    result = analyze(TRAIN, REFS, {"sys": ["common rare rare", "common other"]}, parse_buckets(), str.split)
    stats, buckets = result["systems"]["sys"], result["buckets"]
    # rare (train freq 1): ref 1, hyp 2, matched 1 -> P 1/2, R 1 -> F 2/3; unseen/other (freq 0) left out
    assert pooled_fmeasure(stats, buckets, 1, 9) == pytest.approx(200 / 3)
    # unseen words alone (band 0..0): ref "unseen", hyp "other": F 0; common (11 times) is in 10-99: F 1
    assert pooled_fmeasure(stats, buckets, 0, 0) == 0.0
    assert pooled_fmeasure(stats, buckets, 10, 99) == pytest.approx(100.0)
    assert pooled_fmeasure(stats, buckets, 100, None) == 0.0  # no token that frequent


def test_table_has_mean_and_std_over_seeds(tmp_path):
    systems = {}
    for loss, bleus in (("ce", (10.0, 12.0)), ("af", (13.0, 13.0))):
        for seed, bleu in zip((1, 2), bleus):
            update_results(tmp_path / f"loss_{loss}_s{seed}", "test", {"bleu": bleu, "chrf": 2 * bleu})
            systems[f"{loss}_s{seed}"] = ["common rare", "common unseen"] if loss == "af" else ["common", "common"]
    longtail = tmp_path / "longtail.json"
    longtail.write_text(json.dumps(analyze(TRAIN, REFS, systems, parse_buckets(), str.split)))
    table = render_loss_table(tmp_path, ["ce", "af"], [1, 2], longtail).splitlines()
    assert table[0] == "| loss | BLEU | chrF | F, train freq 1-9 | F, freq 10-99 | F, freq >= 100 | seeds |"
    # ce says "common" twice: the rare word is missed, the frequent one always right
    assert table[2] == "| ce | 11.00 ± 1.41 | 22.00 ± 2.83 | 0.00 ± 0.00 | 100.00 ± 0.00 | 0.00 ± 0.00 | 2 |"
    assert table[3] == "| af | 13.00 ± 0.00 | 26.00 ± 0.00 | 100.00 ± 0.00 | 100.00 ± 0.00 | 0.00 ± 0.00 | 2 |"


def test_no_scores_is_an_error_naming_the_directory(tmp_path):
    with pytest.raises(LegokitError, match="loss_<name>_s<seed>"):
        render_loss_table(tmp_path, ["ce"], [1], tmp_path / "missing.json")
