"""Evaluation of synthesised speech: predicted MOS (DNSMOS from the PyPI package speechmos) and the CER of
an ASR model's transcripts (legokit.score.metrics.cer, jiwer), written to the experiment's RESULTS.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from legokit.data.audio import load_audio
from legokit.data.datadir import read_kaldi_map
from legokit.errors import LegokitError
from legokit.score.io import read_pair
from legokit.score.metrics import cer
from legokit.score.results import load_record, update_results

DNSMOS_RATE = 16000


def dnsmos(wav_paths: list[str]) -> dict[str, float]:
    """Mean DNSMOS (ovrl_mos, sig_mos, bak_mos, p808_mos) over the files (resampled to 16 kHz)."""
    try:
        from speechmos import dnsmos as model
    except ImportError as err:
        raise LegokitError("predicted MOS needs the packages speechmos and onnxruntime: "
                           "pip install 'legokit[tts]' (or pip install speechmos onnxruntime)") from err
    if not wav_paths:
        raise LegokitError("no wav files to score")
    keys = ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")
    scores = [model.run(load_audio(p, DNSMOS_RATE), sr=DNSMOS_RATE) for p in wav_paths]
    return {k: float(np.mean([s[k] for s in scores])) for k in keys}


def evaluate_tts(syn_dir: str | Path, exp_dir: str | Path, test_set: str, hyp: str | Path | None = None
                 ) -> dict[str, float]:
    """Score a synthesis dir (wav.scp, text): DNSMOS, and CER of ``hyp`` (ASR output, Kaldi format) if given."""
    syn_dir = Path(syn_dir)
    wavs = read_kaldi_map(syn_dir / "wav.scp")
    scores = {"utterances": float(len(wavs))} | dnsmos(list(wavs.values()))
    files = {"wav.scp": str(syn_dir / "wav.scp")}
    if hyp is not None:
        _, refs, hyps = read_pair(syn_dir / "text", hyp, kaldi=True)
        scores["cer"] = cer(refs, hyps)
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
                            (line.split("\t") for line in aspf_file.read_text().splitlines())) \
            if aspf_file.is_file() else "–"
        lines.append(f"| {tgt} | " + " | ".join(cells) + f" | {ranking} |")
    return "\n".join(lines) + "\n"
