"""Evaluation of synthesised speech: predicted MOS (DNSMOS from the PyPI package speechmos) and the CER of
an ASR model's transcripts (legokit.score.metrics.cer, jiwer), written to the experiment's RESULTS.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from legokit.data.audio import load_audio
from legokit.data.datadir import read_kaldi_map
from legokit.errors import LegokitError
from legokit.fileio import read_text_lines
from legokit.score.io import read_pair
from legokit.score.metrics import cer
from legokit.score.results import load_record, update_results

DNSMOS_RATE = 16000
MOS_KEYS = ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")
MOS_FILE = "dnsmos.tsv"  # per-utterance scores in a synthesis dir, for significance tests (compare_mos)


def dnsmos_per_utterance(wavs: dict[str, str]) -> dict[str, dict[str, float]]:
    """{utt: DNSMOS scores (MOS_KEYS)} of {utt: wav path}, each file resampled to 16 kHz."""
    try:
        from speechmos import dnsmos as model
    except ImportError as err:
        raise LegokitError("predicted MOS needs the packages speechmos and onnxruntime: "
                           "pip install 'legokit[tts]' (or pip install speechmos onnxruntime)") from err
    if not wavs:
        raise LegokitError("no wav files to score")
    out = {}
    for utt, path in wavs.items():
        scores = model.run(load_audio(path, DNSMOS_RATE), sr=DNSMOS_RATE)
        out[utt] = {k: float(scores[k]) for k in MOS_KEYS}
    return out


def mean_mos(per_utt: dict[str, dict[str, float]]) -> dict[str, float]:
    """{key: mean over the utterances} of per-utterance DNSMOS scores."""
    return {k: float(np.mean([s[k] for s in per_utt.values()])) for k in MOS_KEYS}


def dnsmos(wav_paths: list[str]) -> dict[str, float]:
    """Mean DNSMOS (ovrl_mos, sig_mos, bak_mos, p808_mos) over the files (resampled to 16 kHz)."""
    return mean_mos(dnsmos_per_utterance({str(i): p for i, p in enumerate(wav_paths)}))


def write_mos(scores: dict[str, dict[str, float]], path: str | Path) -> None:
    """Per-utterance scores as TSV: a header ``utt ovrl_mos sig_mos bak_mos p808_mos``, a row per utterance."""
    rows = ["\t".join(("utt",) + MOS_KEYS)]
    rows += ["\t".join([utt] + [f"{s[k]:.4f}" for k in MOS_KEYS]) for utt, s in scores.items()]
    Path(path).write_text("\n".join(rows) + "\n", encoding="utf-8")


def read_mos(path: str | Path) -> dict[str, dict[str, float]]:
    """The scores written by :func:`write_mos` (a synthesis dir is read as <dir>/dnsmos.tsv)."""
    path = Path(path)
    if path.is_dir():
        path = path / MOS_FILE
    if not path.is_file():
        raise LegokitError(f"{path} not found: `legokit tts evaluate --syn-dir DIR` writes per-utterance DNSMOS "
                           f"to DIR/{MOS_FILE}")
    lines = read_text_lines(path)
    header = lines[0].split("\t") if lines else []
    if header[:1] != ["utt"] or len(header) < 2:
        raise LegokitError(f"{path}:1: expected a header 'utt<TAB>ovrl_mos<TAB>...', got {lines[:1]}")
    out = {}
    for number, line in enumerate(lines[1:], 2):
        cells = line.split("\t")
        try:
            out[cells[0]] = dict(zip(header[1:], map(float, cells[1:]), strict=True))
        except ValueError:
            raise LegokitError(f"{path}:{number}: expected an utterance id and {len(header) - 1} numbers, "
                               f"got {line!r}") from None
    return out


def compare_mos(path_a: str | Path, path_b: str | Path, keys: list[str] | None = None, num_samples: int = 1000,
                seed: int = 12345) -> list:
    """Paired bootstrap of per-utterance predicted MOS, system A vs B on the same test sentences
    (legokit.score.significance.paired_bootstrap_means). Returns PairedResults, one per key."""
    from legokit.score.significance import paired_bootstrap_means

    mos_a, mos_b = read_mos(path_a), read_mos(path_b)
    for utt in mos_a:
        if utt not in mos_b:
            raise LegokitError(f"utterance '{utt}' of {path_a} has no score in {path_b}: compare syntheses of "
                               "the same test sentences")
    if len(mos_b) != len(mos_a):
        extra = next(u for u in mos_b if u not in mos_a)
        raise LegokitError(f"utterance '{extra}' of {path_b} has no score in {path_a}")
    keys = keys or list(MOS_KEYS)
    for key in keys:
        if any(key not in s for s in (*mos_a.values(), *mos_b.values())):
            raise LegokitError(f"no '{key}' column in {path_a} or {path_b}; columns: "
                               f"{', '.join(next(iter(mos_a.values()), {}))}")
    utts = sorted(mos_a)
    return paired_bootstrap_means({k: [mos_a[u][k] for u in utts] for k in keys},
                                  {k: [mos_b[u][k] for u in utts] for k in keys}, num_samples, seed)


def evaluate_tts(syn_dir: str | Path, exp_dir: str | Path, test_set: str, hyp: str | Path | None = None
                 ) -> dict[str, float]:
    """Score a synthesis dir (wav.scp, text): DNSMOS (per utterance in <syn_dir>/dnsmos.tsv, the means in
    RESULTS.md), and CER of ``hyp`` (ASR output, Kaldi format) if given: an utterance without a hypothesis
    counts as an empty one (all its characters deleted, with a warning; ``missing`` gives their number)."""
    syn_dir = Path(syn_dir)
    wavs = read_kaldi_map(syn_dir / "wav.scp")
    per_utt = dnsmos_per_utterance(wavs)
    write_mos(per_utt, syn_dir / MOS_FILE)
    scores = {"utterances": float(len(wavs))} | mean_mos(per_utt)
    files = {"wav.scp": str(syn_dir / "wav.scp"), "dnsmos": str(syn_dir / MOS_FILE)}
    if hyp is not None:
        missing: list[str] = []
        _, refs, hyps = read_pair(syn_dir / "text", hyp, kaldi=True, missing=missing)
        scores["cer"] = cer(refs, hyps)
        if missing:
            scores["missing"] = len(missing)
        files["hyp"] = str(hyp)
    update_results(exp_dir, test_set, scores, files=files)
    return scores


def _scores(exp_dir: Path, test_set: str) -> dict[str, float]:
    return load_record(exp_dir)["sets"].get(test_set, {}).get("scores", {})


def results_table(exp_root: str | Path, targets: list[str], conditions: list[str], source: str) -> str:
    """Markdown: per target, CER (%) and DNSMOS OVRL per condition, the espeak-ng reference, and the ASPF
    ranking (from exp_root/aspf_<target>.tsv) of the candidate sources."""
    root = Path(exp_root)
    columns = ["reference"] + conditions
    head = "| target | " + " | ".join(f"{c} CER | {c} MOS" for c in columns) + f" | ASPF ranking (source: {source}) |"
    lines = [head, "|" + "---|" * (2 * len(columns) + 2)]
    for tgt in targets:
        cells = []
        for cond in columns:
            scores = _scores(root / (f"ref_{tgt}" if cond == "reference" else f"tts_{tgt}_{cond}"), f"{tgt}_test")
            cells += [f"{scores['cer']:.1f}" if "cer" in scores else "–",
                      f"{scores['ovrl_mos']:.2f}" if "ovrl_mos" in scores else "–"]
        aspf_file = root / f"aspf_{tgt}.tsv"
        ranking = ", ".join(f"{lang} {float(score):.3f}" for lang, score in
                            (line.split("\t") for line in read_text_lines(aspf_file))) \
            if aspf_file.is_file() else "–"
        lines.append(f"| {tgt} | " + " | ".join(cells) + f" | {ranking} |")
    return "\n".join(lines) + "\n"
