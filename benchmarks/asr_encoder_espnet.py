"""Conformer encoder at inference and whole test-set decodes, legokit against ESPnet (asr_epoch_espnet's models).

Reads the models and test set that benchmarks/asr_epoch_espnet.py trained and prepared (run it first, with
--quick for --quick); writes only into <its work directory>/encoder_bench.

- encoder: CPU seconds (time.process_time, min of --repeats rounds, the variants alternating in one process)
  of legokit's encoder brick (conv2d subsampling + Conformer blocks + CTC head) over the test set
  (a) in the batches `legokit decode` forms (length-bucketed, padded; its default max_tokens/max_batch_size;
  the Conformer blocks run on the real frames only, ConformerEncoder.packed_inference),
  (b) one utterance at a time, unpadded, each with its evaluation paths (as `legokit decode` runs) and with the
  training-path computation ("reference": the subsampling and the relative attention as in training, the
  blocks on the padded layout, dropout 0), with the largest difference of the states over real frames; and
  of ESPnet's encoder as `asr_inference` runs it (one utterance at a time; its STFT/log-mel frontend + global
  MVN timed apart).
  Where the time goes: forward hooks summing CPU time per module group (subsampling, macaron FFNs,
  self-attention, convolution module) on both sides, and the top operators of torch.profiler (legokit).
  The two sides have equal architecture and each its own trained weights (the arithmetic does not depend
  on the values).
- decode (--decode-rounds N): `legokit decode` and `espnet2.bin.asr_inference` with the arguments of
  asr_epoch_espnet.py, alternating, N times each; CPU seconds of the whole command (the child's rusage) and
  of the decoding loop (legokit: the batches of `decode_batches`; ESPnet: its `Speech2Text.__call__` per
  utterance), the load average around each, and whether legokit's hypotheses are the same every round.

Usage:
    .venv/bin/python benchmarks/asr_encoder_espnet.py                      # benchmarks/work/asr_epoch
    .venv/bin/python benchmarks/asr_encoder_espnet.py --quick              # benchmarks/work/asr_epoch_quick
    .venv/bin/python benchmarks/asr_encoder_espnet.py --decode-rounds 0    # encoder only
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LEGOKIT_PYTHON, ROOT, emit, machine, matmul_gflops, peer_python, set_threads, write_record  # noqa: E402

WORK = ROOT / "benchmarks" / "work"


def work_dir(args: argparse.Namespace) -> Path:
    return Path(args.work) if args.work else WORK / ("asr_epoch_quick" if args.quick else "asr_epoch")


def min_cpu(variants: dict, repeats: int) -> dict[str, float]:
    """Min CPU seconds of each variant (a callable) over ``repeats`` rounds, the variants alternating."""
    for fn in variants.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for key, fn in variants.items():
            start = time.process_time()
            fn()
            times[key].append(time.process_time() - start)
    return {k: min(v) for k, v in times.items()}


def hook_groups(groups: dict[str, list[torch.nn.Module]]) -> dict[str, float]:
    """Forward hooks adding each group's CPU seconds into the returned dict."""
    spent: dict[str, float] = collections.defaultdict(float)
    for name, modules in groups.items():
        for module in modules:
            def pre(mod, _inp) -> None:
                mod._bench_start = time.process_time()

            def post(mod, _inp, _out, name=name) -> None:
                spent[name] += time.process_time() - mod._bench_start

            module.register_forward_pre_hook(pre)
            module.register_forward_hook(post)
            if hasattr(module, "forward_packed"):  # legokit's packed inference path bypasses the hooks
                def packed(*args, _fn=module.forward_packed, _name=name, **kwargs):
                    start = time.process_time()
                    try:
                        return _fn(*args, **kwargs)
                    finally:
                        spent[_name] += time.process_time() - start

                module.forward_packed = packed
    return spent


# --- legokit ------------------------------------------------------------------------------------------------
def legokit_encoder(args: argparse.Namespace) -> dict:
    from legokit.data.batching import BucketBatchSampler, SpeechCollator
    from legokit.data.featdump import FeatureReader
    from legokit.lego.loading import load_bricks
    from legokit.nn.attention import RelPositionMultiHeadAttention
    from legokit.workflows.decode import DecodeConfig, ready_model

    work = work_dir(args)
    cfg = DecodeConfig()
    model, _, _ = ready_model(load_bricks(work / "legokit" / "exp" / "model.pt"), cfg)
    brick = model.encoders[0]
    reader = FeatureReader(work / "legokit" / "dump" / "test" / "feats.scp")
    listed = {x.split()[0] for x in (work / "data" / "test" / "text").read_text().splitlines() if x.strip()}
    ids = [u for u in reader.index if u in listed]  # as `legokit decode --data-dir data/test` takes them
    feats = [torch.from_numpy(reader[u]) for u in ids]
    lengths = [f.size(0) for f in feats]
    sampler = BucketBatchSampler(lengths, max(cfg.max_tokens, max(lengths)), cfg.max_batch_size, shuffle=False)
    collate = SpeechCollator(None)
    batches = [collate([{"id": ids[i], "speech": feats[i], "target": torch.zeros(0, dtype=torch.long)}
                        for i in b]) for b in sampler]
    batched = [(b["speech"], b["speech_lengths"]) for b in batches]
    single = [(f[None], torch.tensor([f.size(0)])) for f in feats]
    attentions = [m for m in brick.modules() if isinstance(m, RelPositionMultiHeadAttention)]

    def run(data: list, reference: bool = False):
        def fn() -> list:
            if reference:  # the training-path computations (padded layout), without dropout
                brick.encoder.packed_inference = False
                brick.frontend.train()
                for m in attentions:
                    m.train()
                    m.dropout, m._bench_p = 0.0, m.dropout
            try:
                return [brick(x, n) for x, n in data]
            finally:
                if reference:
                    brick.encoder.packed_inference = True
                    brick.frontend.eval()
                    for m in attentions:
                        m.eval()
                        m.dropout = m._bench_p
        return fn

    variants = {"batched": run(batched), "batched_reference": run(batched, True),
                "per_utterance": run(single), "per_utterance_reference": run(single, True)}
    with torch.inference_mode():
        outs = {k: fn() for k, fn in variants.items() if k in ("batched", "batched_reference", "per_utterance")}
        diff_ref = max((a.states[i, :n] - b.states[i, :n]).abs().max().item()
                       for a, b in zip(outs["batched"], outs["batched_reference"], strict=True)
                       for i, n in enumerate(a.lengths.tolist()))
        flat = [(o.states[i, :n], n) for o in outs["batched"] for i, n in enumerate(o.lengths.tolist())]
        order = [u for b in batches for u in b["ids"]]
        alone = {ids[i]: o.states[0] for i, o in enumerate(outs["per_utterance"])}
        diff_single = max((s - alone[u]).abs().max().item() for (s, _), u in zip(flat, order, strict=True))
        cpu = min_cpu(variants, args.repeats)
        layers = brick.encoder.layers
        spent = hook_groups({
            "conv2d subsampling (+ Linear)": [brick.frontend],
            "macaron FFNs": [m for layer in layers for m in (layer.ffn1, layer.ffn2)],
            "self-attention (projections, rel. positions, softmax)": [layer.self_attn for layer in layers],
            "convolution module": [layer.conv for layer in layers],
            "whole brick": [brick]})
        breakdown = {}
        for key in ("batched", "batched_reference"):
            spent.clear()
            variants[key]()
            breakdown[key] = dict(spent)
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            variants["batched"]()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return {"variants_cpu_s": cpu, "breakdown_cpu_s": breakdown,
            "profiler_top_ops": {e.key: e.self_cpu_time_total / total for e in events[:10]},
            "max_abs_diff_vs_reference": diff_ref, "max_abs_diff_batched_vs_per_utterance": diff_single,
            "utterances": len(ids), "frames": sum(lengths),
            "padded_frames": sum(int(x.size(0) * x.size(1)) for x, _ in batched),
            "batches": [[int(x.size(0)), int(x.size(1))] for x, _ in batched]}


# --- ESPnet (runs in benchmarks/venvs/espnet) ---------------------------------------------------------------
def espnet_model(work: Path):
    from espnet2.tasks.asr import ASRTask

    exp = work / "espnet" / "exp"
    model_file = next(p for p in (exp / "valid.acc.ave.pth", exp / "valid.acc.best.pth", exp / "1epoch.pth")
                      if p.exists())
    model, _ = ASRTask.build_model_from_file(exp / "config.yaml", model_file, "cpu")
    return model.eval()


def espnet_encoder(args: argparse.Namespace) -> dict:
    import soundfile

    model = espnet_model(work_dir(args))
    wavs = [line.split(maxsplit=1)[1] for line in (work_dir(args) / "data" / "test" / "wav.scp").read_text()
            .splitlines() if line.strip()]
    speech = [torch.tensor(soundfile.read(w, dtype="float32")[0]) for w in wavs]

    def features(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats, lengths = model._extract_feats(s[None], torch.tensor([s.numel()]))
        return model.normalize(feats, lengths) if model.normalize is not None else (feats, lengths)

    with torch.no_grad():  # asr_inference's Speech2Text.__call__ runs under torch.no_grad
        feats = [features(s) for s in speech]
        variants = {"frontend_and_mvn": lambda: [features(s) for s in speech],
                    "encoder": lambda: [model.encoder(f, n) for f, n in feats],
                    "encode_as_asr_inference": lambda: [model.encode(s[None], torch.tensor([s.numel()]))
                                                        for s in speech]}
        cpu = min_cpu(variants, args.repeats)
        enc = model.encoder
        spent = hook_groups({
            "conv2d subsampling (+ Linear, positions)": [enc.embed],
            "macaron FFNs": [m for b in enc.encoders for m in (b.feed_forward, b.feed_forward_macaron)],
            "self-attention (projections, rel. positions, softmax)": [b.self_attn for b in enc.encoders],
            "convolution module": [b.conv_module for b in enc.encoders],
            "whole encoder": [enc]})
        variants["encoder"]()
    return {"variants_cpu_s": cpu, "breakdown_cpu_s": {"per_utterance": dict(spent)}, "utterances": len(speech),
            "frames": sum(int(n) for _, n in feats)}


# --- whole decode commands ----------------------------------------------------------------------------------
def loop_worker(args: argparse.Namespace) -> None:
    """Runs the decode command in this process and prints the CPU seconds of its decoding loop."""
    spent = [0.0]
    if args.worker == "legokit:decode":
        import legokit.workflows.decode as decode

        batches = decode.decode_batches

        def counted(*a, **k):
            gen = batches(*a, **k)
            while True:
                start = time.process_time()
                try:
                    item = next(gen)
                except StopIteration:
                    spent[0] += time.process_time() - start
                    return
                spent[0] += time.process_time() - start
                yield item

        decode.decode_batches = counted
        from legokit.cli import main

        try:
            main(args.command)
        except SystemExit as stop:
            if stop.code:
                raise
    else:
        import espnet2.bin.asr_inference as inference

        call = inference.Speech2Text.__call__

        def counted_call(self, *a, **k):
            start = time.process_time()
            try:
                return call(self, *a, **k)
            finally:
                spent[0] += time.process_time() - start

        inference.Speech2Text.__call__ = counted_call
        sys.argv = ["asr_inference", *args.command]
        try:
            inference.main()
        except SystemExit as stop:
            if stop.code:
                raise
    print("BENCH " + json.dumps({"loop_cpu_s": spent[0]}), flush=True)


def run_command(python: Path, worker: str, command: list[str], work: Path, log: Path, threads: int) -> dict:
    """The worker in a child process: its record + the child's wall and CPU seconds, load before/after."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONWARNINGS": "ignore", "LEGOKIT_NO_TQDM": "1"}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([str(python), __file__, "--threads", str(threads), "--work", str(work), "--worker",
                                 worker, "--", *command], stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    lines = [x[6:] for x in log.read_text(errors="replace").splitlines() if x.startswith("BENCH ")]
    if os.waitstatus_to_exitcode(status) != 0 or not lines:
        raise RuntimeError(f"{worker} failed; see {log}")
    return {**json.loads(lines[-1]), "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "load_before": load, "load_after": os.getloadavg()[0]}


def decode_rounds(args: argparse.Namespace, espnet: Path | None) -> dict:
    work = work_dir(args)
    out = work / "encoder_bench"
    out.mkdir(exist_ok=True)
    lk = ["decode", "--model", str(work / "legokit" / "exp" / "model.pt"), "--data-dir", str(work / "data" / "test"),
          "--feats", str(work / "legokit" / "dump" / "test" / "feats.scp"), "--out", str(out / "legokit" / "hyp"),
          "beam.beam_size=10", "beam.ctc_weight=0.3", "beam.length_penalty=0.0", f"num_threads={args.threads}"]
    exp = work / "espnet" / "exp"
    model = next(p for p in (exp / "valid.acc.ave.pth", exp / "valid.acc.best.pth", exp / "1epoch.pth") if p.exists())
    es = ["--ngpu", "0", "--batch_size", "1", "--nbest", "1", "--beam_size", "10", "--ctc_weight", "0.3",
          "--penalty", "0.0", "--maxlenratio", "0.0", "--minlenratio", "0.0", "--lm_weight", "0.0",
          "--data_path_and_name_and_type", f"{work / 'data' / 'test' / 'wav.scp'},speech,sound",
          "--asr_train_config", str(exp / "config.yaml"), "--asr_model_file", str(model),
          "--output_dir", str(out / "espnet")]
    rounds, hyps = [], set()
    for _ in range(args.decode_rounds):
        row = {"legokit": run_command(LEGOKIT_PYTHON, "legokit:decode", lk, work, out / "legokit.log", args.threads)}
        hyps.add((out / "legokit" / "hyp").read_text())
        if espnet:
            row["espnet"] = run_command(espnet, "espnet:decode", es, work, out / "espnet.log", args.threads)
        rounds.append(row)
    return {"rounds": rounds, "legokit_hypotheses_same_every_round": len(hyps) == 1}


# --- driver ---------------------------------------------------------------------------------------------------
def drive(args: argparse.Namespace) -> dict:
    work = work_dir(args)
    if not (work / "legokit" / "exp" / "model.pt").is_file():
        raise SystemExit(f"no trained model in {work}: run benchmarks/asr_epoch_espnet.py"
                         f"{' --quick' if args.quick else ''} first")
    espnet = peer_python("espnet")
    record: dict = {"benchmark": "asr_encoder_espnet", "machine": machine(), "args": vars(args),
                    "matmul_gflops_before": matmul_gflops(args.threads)}
    log = work / "encoder_bench"
    log.mkdir(exist_ok=True)
    record["legokit_encoder"] = run_command(LEGOKIT_PYTHON, "legokit:encoder", [], work,
                                            log / "legokit_encoder.log", args.threads)
    if espnet:
        record["espnet_encoder"] = run_command(espnet, "espnet:encoder", [], work,
                                               log / "espnet_encoder.log", args.threads)
    if args.decode_rounds:
        record["decode"] = decode_rounds(args, espnet)
    record["matmul_gflops_after"] = matmul_gflops(args.threads)
    record["machine"]["load_avg_end"] = os.getloadavg()
    return record


def report(record: dict) -> str:
    lk, es = record["legokit_encoder"], record.get("espnet_encoder")
    out = [f"encoder over the test set ({lk['utterances']} utterances, {lk['frames']} frames; legokit's batches "
           f"{lk['batches']}, {lk['padded_frames']} padded frames), CPU s, min of {record['args']['repeats']}:"]
    out += [f"  legokit {k}: {v:.3f}" for k, v in lk["variants_cpu_s"].items()]
    if es:
        out += [f"  ESPnet {k} (one utterance at a time): {v:.3f}" for k, v in es["variants_cpu_s"].items()]
        ratio = es["variants_cpu_s"]["encoder"] / lk["variants_cpu_s"]["batched"]
        out.append(f"  ESPnet encoder / legokit batched: {ratio:.2f}x")
    out.append(f"  max |difference| of the states over real frames: vs reference {lk['max_abs_diff_vs_reference']:.2g},"
               f" batched vs per utterance {lk['max_abs_diff_batched_vs_per_utterance']:.2g}")
    for side, data in [("legokit", lk), ("ESPnet", es)]:
        for key, groups in (data or {}).get("breakdown_cpu_s", {}).items():
            out.append(f"  {side} {key} by module (CPU s): " + ", ".join(f"{g} {s:.3f}" for g, s in groups.items()))
    out.append("  legokit batched, top operators (torch.profiler self CPU share): " + ", ".join(
        f"{k} {100 * v:.1f}%" for k, v in lk["profiler_top_ops"].items()))
    for i, row in enumerate(record.get("decode", {}).get("rounds", [])):
        text = f"decode round {i + 1}: " + "; ".join(
            f"{side} loop {r['loop_cpu_s']:.2f} CPU s, command {r['cpu_s']:.2f} CPU s / {r['wall_s']:.1f} wall s "
            f"(load {r['load_before']:.1f}-{r['load_after']:.1f})" for side, r in row.items())
        if "espnet" in row:
            text += (f"; ESPnet/legokit loop {row['espnet']['loop_cpu_s'] / row['legokit']['loop_cpu_s']:.2f}x, "
                     f"command {row['espnet']['cpu_s'] / row['legokit']['cpu_s']:.2f}x")
        out.append(text)
    if "decode" in record:
        same = record["decode"]["legokit_hypotheses_same_every_round"]
        out.append(f"legokit hypotheses the same every round: {same}")
    out.append(f"fp32 matmul ceiling {record['matmul_gflops_before']:.0f} / {record['matmul_gflops_after']:.0f} "
               f"GFLOP/s; load average {record['machine']['load_avg']} -> {record['machine']['load_avg_end']}")
    return "\n".join(out)


WORKERS = {"legokit:encoder": legokit_encoder, "espnet:encoder": espnet_encoder}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="read benchmarks/work/asr_epoch_quick (asr_epoch_espnet.py --quick) instead of asr_epoch")
    parser.add_argument("--work", help="the work directory of an asr_epoch_espnet.py run (overrides --quick)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per side (more spin-wait on a shared machine)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds of each encoder variant (min reported)")
    parser.add_argument("--decode-rounds", type=int, default=3,
                        help="whole decode commands per side, alternating legokit / ESPnet (0: encoder only)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    if args.worker in ("legokit:decode", "espnet:decode"):
        loop_worker(args)
        return 0
    if args.worker:
        emit(WORKERS[args.worker](args))
        return 0
    record = drive(args)
    path = write_record("asr_encoder_espnet", record, args.quick)
    print(report(record))
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
