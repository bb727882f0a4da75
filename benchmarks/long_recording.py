"""Hour-long recordings: `transcribe` in one pass with the restricted-attention Conformer vs the same model with
full attention vs fixed 30 s windows with 5 s overlap, at 1, 10 and 60 minutes.

    .venv/bin/python benchmarks/long_recording.py            # 1, 10, 60 min (about 5 min on 2 cores)
    .venv/bin/python benchmarks/long_recording.py --quick    # 1 min only

The encoder is the speech Conformer of egs/debian_sum/sum1/conf/demo/asr.yaml (2 blocks, d = 64, 4 heads,
windows 20 then 40 steps of 40 ms after x4 conv subsampling) with a CTC head, decoded greedily through
``legokit.load(brick).transcribe``; weights are random (seed 0): speed and memory do not depend on them, the
text does (so no error rates here). "full" is the same brick with ``window: null``; it runs only where its
attention scores fit: 3 x heads x T'^2 x 4 bytes per layer (scores, mask, softmax) must stay under
--full-budget-gb (8), else the record says "not run: would need X GB". "chunked" is
``transcribe(chunk_seconds=30, chunk_overlap=5)`` on the full-attention brick (the fallback offered for
full-attention models). The recording is espeak-ng reading a paragraph (16 kHz), tiled to length, written as
FLAC. Each (method, minutes) runs in a fresh subprocess: wall time of transcribe (audio read + fbank + encoder
+ CTC), real-time factor = that time / audio length, peak RSS of the process.
Writes results/long_recording[_quick].json and prints a table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LEGOKIT_PYTHON, emit, machine, run_worker, set_threads, write_record  # noqa: E402

TEXT = ("The restricted attention conformer reads a long recording in one pass. Each frame attends only to its "
        "neighbours, so the memory and the time grow linearly with the length of the input. A model with full "
        "attention compares every frame with every other frame, and its memory grows with the square of the "
        "length. Chunking cuts the recording into overlapping windows and joins their texts.")
ENCODER = {"input": "speech", "feat_dim": 80, "subsampling": 4, "length_rate": None, "ctc_head": True,
           "encoder": {"kind": "conformer", "num_layers": 2, "dim": 64, "num_heads": 4, "ffn_dim": 256,
                       "window": [20, 40], "kernel_size": 15, "conv_norm": "batch"}}
METHODS = ("restricted", "full", "chunked")


def make_bricks(out: Path) -> dict[str, Path]:
    """restricted.brick and full.brick: the same random weights, windows [20, 40] vs full attention."""
    import torch

    from legokit.config import from_dict
    from legokit.data.features import FbankConfig
    from legokit.data.tokenizer import Tokenizer, train_tokenizer
    from legokit.lego.bricks import Brick, encoder_interfaces, make_manifest, save_brick
    from legokit.lego.encoders import EncoderBrick, EncoderBrickConfig

    (out / "text").write_text("\n".join(TEXT.lower().split(". ")) + "\n")
    tok = Tokenizer.load(train_tokenizer([str(out / "text")], str(out / "words"), 40, model_type="word"))
    paths = {}
    for name, window in (("restricted", [20, 40]), ("full", None)):
        torch.manual_seed(0)
        cfg = from_dict(EncoderBrickConfig, {**ENCODER, "encoder": {**ENCODER["encoder"], "window": window}})
        module = EncoderBrick(cfg, 0, tok.vocab_size).eval()
        inp, outp = encoder_interfaces(module, None, tok, {"fbank": asdict(FbankConfig()), "dim": 80})
        manifest = make_manifest("encoder", module, {"input_vocab_size": 0, "output_vocab_size": tok.vocab_size},
                                 inp, outp)
        paths[name] = out / f"{name}.brick"
        save_brick(Brick(module, manifest, {"output": tok}), paths[name])
    return paths


def make_recordings(out: Path, minutes: list[int]) -> dict[int, Path]:
    """espeak-ng reading TEXT at 16 kHz, tiled to each length in minutes, as FLAC."""
    import numpy as np
    import soundfile as sf
    import soxr

    wav = out / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(wav), TEXT], check=True)
    speech, rate = sf.read(wav, dtype="float32")
    speech = soxr.resample(speech, rate, 16000)
    paths = {}
    for m in minutes:
        reps = int(np.ceil(m * 60 * 16000 / speech.size))
        paths[m] = out / f"talk_{m}min.flac"
        sf.write(paths[m], np.tile(speech, reps)[: m * 60 * 16000], 16000)
    return paths


def worker(args: argparse.Namespace) -> dict:
    import soundfile as sf

    import legokit

    set_threads(args.threads)
    method, minutes = args.worker.split(":")
    model = legokit.load(args.brick)
    start = time.perf_counter()
    chunking = {"chunk_seconds": 30.0, "chunk_overlap": 5.0} if method == "chunked" else {}
    (result,) = model.transcribe([args.audio], **chunking)
    elapsed = time.perf_counter() - start
    seconds = sf.info(args.audio).duration
    return {"method": method, "minutes": int(minutes), "seconds": elapsed, "rtf": elapsed / seconds,
            "features_s": result.timings["features"], "decode_s": result.timings["decode"],
            "words": len(result.text.split())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 minute only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full-budget-gb", type=float, default=8.0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--brick", help=argparse.SUPPRESS)
    parser.add_argument("--audio", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit(worker(args))
        return
    from legokit.config import from_dict
    from legokit.lego.encoders import EncoderBrickConfig
    from legokit.workflows.inference import full_attention_bytes

    minutes = [1] if args.quick else [1, 10, 60]
    full_cfg = from_dict(EncoderBrickConfig, {**ENCODER, "encoder": {**ENCODER["encoder"], "window": None}})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        bricks, audio = make_bricks(Path(tmp)), make_recordings(Path(tmp), minutes)
        for m in minutes:
            for method in METHODS:
                need_gb = 3 * full_attention_bytes(full_cfg, m * 60 * 100) / 2**30
                if method == "full" and need_gb > args.full_budget_gb:
                    rows.append({"method": method, "minutes": m, "not_run": f"would need {need_gb:.0f} GB"})
                    print(f"{method:10s} {m:3d} min  not run: would need {need_gb:.0f} GB", flush=True)
                    continue
                brick = bricks["restricted" if method == "restricted" else "full"]
                rec = run_worker(LEGOKIT_PYTHON, Path(__file__), f"{method}:{m}",
                                 ["--brick", str(brick), "--audio", str(audio[m]), "--threads", str(args.threads)],
                                 args.threads)
                rows.append(rec)
                print(f"{method:10s} {m:3d} min  {rec['seconds']:7.1f} s  RTF {rec['rtf']:.4f}  "
                      f"peak RSS {rec['peak_rss_mb']:7.0f} MB", flush=True)
    record = {"benchmark": "long_recording", "machine": machine(), "threads": args.threads,
              "encoder": ENCODER, "weights": "random init (seed 0)", "full_budget_gb": args.full_budget_gb,
              "command": "python benchmarks/long_recording.py" + (" --quick" if args.quick else ""), "rows": rows}
    print(f"wrote {write_record('long_recording', record, args.quick)}")


if __name__ == "__main__":
    main()
