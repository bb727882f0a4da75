"""Peer worker of benchmarks/ctc_lm.py: pyctcdecode's CTC beam search with a KenLM-read ARPA LM.

Runs in its own venv (benchmarks/venvs/pyctcdecode: pyctcdecode 0.5.0 pins numpy<2, so it cannot live in
legokit's). Reads posteriors.npz (one (T, V) log-posterior array per utterance id), labels.json (V labels:
"" the blank, " " the word boundary) and decodes every utterance for each (alpha, beta) of the grid; prints one
JSON line: {"runs": [{"alpha", "beta", "cpu_s", "hyps": {id: text}}], "load_avg"}.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from pyctcdecode import build_ctcdecoder


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--posteriors", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--arpa", required=True)
    p.add_argument("--grid", required=True, help="JSON list of [alpha, beta]")
    p.add_argument("--beam", type=int, default=32)
    args = p.parse_args()
    data = np.load(args.posteriors)
    labels = json.load(open(args.labels, encoding="utf-8"))
    runs = []
    decoder = build_ctcdecoder(labels, kenlm_model_path=args.arpa)  # unigrams read from the ARPA file
    for alpha, beta in json.loads(args.grid):
        decoder.reset_params(alpha=alpha, beta=beta)
        start, hyps = time.process_time(), {}
        for utt in data.files:
            hyps[utt] = decoder.decode(data[utt], beam_width=args.beam)
        runs.append({"alpha": alpha, "beta": beta, "cpu_s": time.process_time() - start, "hyps": hyps})
    print("BENCH " + json.dumps({"runs": runs, "load_avg": os.getloadavg()}), flush=True)


if __name__ == "__main__":
    main()
