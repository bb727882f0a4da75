"""The loss comparison table: BLEU/chrF mean ± std over seeds from results.json records, and the rare-word
F-measure pooled over the long-tail buckets below training frequency 10."""
import json

import pytest

from legokit.errors import LegokitError
from legokit.score.longtail import analyze, parse_buckets
from legokit.score.loss_table import rare_fmeasure, render_loss_table
from legokit.score.results import update_results

TRAIN = ["common common common common common common common common common common rare", "common"]
REFS = ["common rare", "common unseen"]


def test_rare_fmeasure_pools_low_frequency_buckets_only():
    result = analyze(TRAIN, REFS, {"sys": ["common rare", "common other"]}, parse_buckets(), str.split)
    # rare (train freq 1) matched once; unseen/other (freq 0): 1 ref, 1 hyp, 0 matched; common (11) excluded
    # pooled over freq <= 9: matched 1, hyp 2, ref 2 -> P = R = F = 0.5
    assert rare_fmeasure(result["systems"]["sys"], result["buckets"]) == pytest.approx(50.0)


def test_table_has_mean_and_std_over_seeds(tmp_path):
    systems = {}
    for loss, bleus in (("ce", (10.0, 12.0)), ("af", (13.0, 13.0))):
        for seed, bleu in zip((1, 2), bleus):
            update_results(tmp_path / f"loss_{loss}_s{seed}", "test", {"bleu": bleu, "chrf": 2 * bleu})
            systems[f"{loss}_s{seed}"] = ["common rare", "common unseen"] if loss == "af" else ["common", "common"]
    longtail = tmp_path / "longtail.json"
    longtail.write_text(json.dumps(analyze(TRAIN, REFS, systems, parse_buckets(), str.split)))
    table = render_loss_table(tmp_path, ["ce", "af"], [1, 2], longtail).splitlines()
    assert table[2] == "| ce | 11.00 ± 1.41 | 22.00 ± 2.83 | 0.00 ± 0.00 | 2 |"
    assert table[3] == "| af | 13.00 ± 0.00 | 26.00 ± 0.00 | 100.00 ± 0.00 | 2 |"


def test_no_scores_is_an_error_naming_the_directory(tmp_path):
    with pytest.raises(LegokitError, match="loss_<name>_s<seed>"):
        render_loss_table(tmp_path, ["ce"], [1], tmp_path / "missing.json")
