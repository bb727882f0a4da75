"""Paired bootstrap resampling: corpus scores rebuilt from per-segment statistics equal the metrics' own,
identical systems are indistinguishable, a clearly better system is significant."""
import json

import numpy as np
import pytest

from legokit.cli import main
from legokit.errors import LegokitError
from legokit.score.metrics import compute
from legokit.score.significance import _REDUCIBLE, format_results, paired_bootstrap, paired_bootstrap_means

REFS = ["the cat sat on the mat", "a fast gpu free decoder", "debian package for python yaml parsing",
        "gnu c compiler for arm", "documentation for the library", "font for the malayalam language"]
GOOD = ["the cat sat on a mat", "a fast decoder", "python yaml parser package", "gnu c compiler for arm64",
        "documentation of the library", "malayalam font"]
BAD = ["dog", "slow", "ruby", "compiler", "data", "sans"]
OFFLINE = ["rouge", "wer", "cer", "bleu", "chrf"]  # METEOR fetches WordNet: tests/score/test_meteor.py


@pytest.mark.parametrize("name", OFFLINE)
def test_statistics_rebuild_the_corpus_score_of_any_resample(name):
    """A resample (with repeats) scored from summed segment statistics == the metric on that resample."""
    segment_stats, corpus_score = _REDUCIBLE[name]
    stats = segment_stats(REFS, GOOD)
    for rows in ([0, 1, 2, 3, 4, 5], [2, 2, 5, 0, 0, 0], [4, 4, 4, 4, 4, 1]):
        expected = compute([name], [REFS[i] for i in rows], [GOOD[i] for i in rows])
        got = corpus_score(stats[rows].sum(0), len(rows))
        assert got == pytest.approx(expected, abs=1e-9), (name, rows)


def test_identical_systems_differ_by_nothing():
    for result in paired_bootstrap(REFS, GOOD, list(GOOD), ["rouge", "bleu", "wer"], num_samples=200):
        assert result.delta == 0 and result.ci_low == result.ci_high == 0 and result.p == 1.0


def test_a_clearly_better_system_is_significant_in_both_directions():
    better = paired_bootstrap(REFS * 5, GOOD * 5, BAD * 5, ["rouge", "wer"], num_samples=500)
    by_key = {r.metric: r for r in better}
    assert by_key["rouge1"].delta > 20 and by_key["rouge1"].ci_low > 0 and by_key["rouge1"].p < 0.01
    assert by_key["wer"].delta < 0 and by_key["wer"].ci_high < 0 and by_key["wer"].p < 0.01  # lower is better
    worse = {r.metric: r for r in paired_bootstrap(REFS * 5, BAD * 5, GOOD * 5, ["rouge"], num_samples=500)}
    assert worse["rouge1"].delta == pytest.approx(-by_key["rouge1"].delta) and worse["rouge1"].p < 0.01


def test_full_set_scores_are_the_metrics_scores_and_the_seed_fixes_the_interval():
    first = paired_bootstrap(REFS, GOOD, BAD, ["rouge", "chrf"], num_samples=100, seed=3)
    again = paired_bootstrap(REFS, GOOD, BAD, ["rouge", "chrf"], num_samples=100, seed=3)
    assert first == again
    scores_a, scores_b = compute(["rouge", "chrf"], REFS, GOOD), compute(["rouge", "chrf"], REFS, BAD)
    for r in first:
        assert r.a == pytest.approx(scores_a[r.metric]) and r.b == pytest.approx(scores_b[r.metric])
        assert r.ci_low <= r.delta <= r.ci_high or np.isclose(r.delta, r.ci_high)
    table = format_results(first, "E2E", "cascade")
    assert table.startswith("| metric | E2E | cascade | E2E − cascade | 95% interval | p |") and "| rouge1 |" in table


@pytest.mark.parametrize("hyps_b, names, samples, match", [
    (BAD[:3], ["rouge"], 10, "6 references, 6 and 3 hypotheses"),
    (BAD, ["ter"], 10, "no bootstrap statistics for metric 'ter'"),
    (BAD, ["rouge"], 0, "--bootstrap-samples must be >= 1"),
])
def test_bad_requests_are_refused(hyps_b, names, samples, match):
    with pytest.raises(LegokitError, match=match):
        paired_bootstrap(REFS, GOOD, hyps_b, names, num_samples=samples)


def test_cli_compare_with_kaldi_files(tmp_path, capsys):
    ids = [f"utt{i}" for i in range(len(REFS))]
    files = {}
    for name, lines in (("ref", REFS), ("a", GOOD), ("b", BAD)):
        order = ids if name == "ref" else ids[::-1]  # matched by id, not by line
        text = {u: t for u, t in zip(ids, lines)}
        files[name] = tmp_path / name
        files[name].write_text("".join(f"{u} {text[u]}\n" for u in order))
    out = tmp_path / "sig.json"
    assert main(["score", "rouge", "--ref", str(files["ref"]), "--hyp", str(files["a"]), "--compare",
                 str(files["b"]), "--kaldi", "--bootstrap-samples", "50", "--output", str(out), "--json"]) == 0
    printed = capsys.readouterr().out
    assert ": 6 segments, 50 paired resamples" in printed and "| rouge1 |" in printed
    assert "| missing hypotheses (scored as empty) | 0 | 0 | | | |" in printed  # none missing: said so too
    records = json.loads(printed.strip().splitlines()[-1])
    assert records == json.loads(out.read_text())
    assert all(r["missing_a"] == r["missing_b"] == 0 for r in records)
    assert [r["metric"] for r in records] == ["rouge1", "rouge2", "rougeL"]
    assert records[0]["a"] == pytest.approx(compute(["rouge"], REFS, GOOD)["rouge1"])


def test_cli_compare_scores_a_missing_hypothesis_as_empty(tmp_path, capsys, caplog):
    """As sclite/ESPnet scoring: a reference id missing from a hypothesis file is an empty hypothesis (all its
    words deleted) with a warning naming the file and the count; an id not in the reference is an error."""
    ref, a, b = tmp_path / "ref", tmp_path / "a", tmp_path / "b"
    ref.write_text("u1 gnu c compiler\nu2 yaml parser\n")
    a.write_text("u1 c compiler\nu2 parser\n")
    b.write_text("u1 c compiler\n")  # u2 missing
    out = tmp_path / "sig.json"
    assert main(["score", "wer", "--ref", str(ref), "--hyp", str(a), "--compare", str(b), "--kaldi",
                 "--bootstrap-samples", "20", "--json", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    record = json.loads(printed.strip().splitlines()[-1])[0]
    assert record["a"] == pytest.approx(100 * 2 / 5) and record["b"] == pytest.approx(100 * 3 / 5)  # u2: 2 deletions
    assert f"1 of 2 reference ids have no hypothesis in {b}" in caplog.text
    # the count is in what a reader of the printed table (stdout, e.g. RESULTS.md) and of the JSON sees, not
    # only in the warning on stderr
    assert "hypotheses missing (scored as empty, all words deleted): A 0, B 1" in printed.splitlines()[0]
    assert "| missing hypotheses (scored as empty) | 0 | 1 | | | |" in printed.splitlines()
    assert (record["missing_a"], record["missing_b"]) == (0, 1)
    assert [(r["missing_a"], r["missing_b"]) for r in json.loads(out.read_text())] == [(0, 1)]
    b.write_text("u1 c compiler\nu3 parser\n")
    assert main(["score", "wer", "--ref", str(ref), "--hyp", str(a), "--compare", str(b), "--kaldi"]) == 2
    assert f"1 id(s) of {b} not in {ref}: u3" in capsys.readouterr().err


def test_means_bootstrap_of_per_segment_scores():
    """Scores whose corpus value is a mean (predicted MOS per utterance): the full-set values are the means,
    a shift of every segment by +0.5 is significant, a pairing with itself is not."""
    rng = np.random.default_rng(0)
    base = rng.normal(3.0, 0.4, 40)
    a, b = {"mos": base + 0.5, "other": base}, {"mos": base, "other": base}
    by_key = {r.metric: r for r in paired_bootstrap_means(a, b, num_samples=300)}
    assert by_key["mos"].a == pytest.approx(base.mean() + 0.5) and by_key["mos"].b == pytest.approx(base.mean())
    assert by_key["mos"].delta == pytest.approx(0.5) and by_key["mos"].p == 0.0
    assert by_key["mos"].ci_low == pytest.approx(0.5) and by_key["mos"].ci_high == pytest.approx(0.5)
    assert by_key["other"].delta == 0 and by_key["other"].p == 1.0
    noisy = {r.metric: r for r in paired_bootstrap_means({"mos": base + rng.normal(0, 1, 40)}, {"mos": base},
                                                         num_samples=300)}
    assert 0.0 < noisy["mos"].p < 1.0 and noisy["mos"].ci_low < noisy["mos"].delta < noisy["mos"].ci_high
    with pytest.raises(LegokitError, match="one score of each system per segment, got 40 and 39"):
        paired_bootstrap_means({"mos": base}, {"mos": base[:39]})
    with pytest.raises(LegokitError, match="different score keys"):
        paired_bootstrap_means({"mos": base}, {"sig": base})


def test_p_of_zero_is_printed_as_below_one_over_the_resamples():
    """No resample flipping the sign says p < 1/samples, not p = 0: tables print "< 0.001" for 1,000."""
    from legokit.score.significance import PairedResult, format_results

    exact = PairedResult("wer", 30.0, 20.0, 10.0, 8.0, 12.0, 0.0, samples=1000)
    assert exact.p_text == "< 0.001"
    assert "| < 0.001 |" in format_results([exact])
    assert PairedResult("wer", 30.0, 29.0, 1.0, -1.0, 3.0, 0.25, samples=1000).p_text == "0.250"
    assert PairedResult("wer", 30.0, 20.0, 10.0, 8.0, 12.0, 0.0).p_text == "0.000"  # resamples unknown
