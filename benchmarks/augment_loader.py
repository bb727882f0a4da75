"""The data loader's share of an augmented speech update: batches of `legokit train`'s loader per second.

Three ways to make the same training batches of egs/espeak_en/asr1 (its data dir, dump and the augmentation of
its training config, speed perturbation 0.9/1.0/1.1), timed in one process, round-robin:

- dump: no augmentation, the dumped features (the floor: reading the dump, batching, SpecAugment);
- augmented: legokit.data.augment.AugmentedSpeech as training uses it: an utterance whose draw left it
  unchanged (speed factor 1.0) keeps its dumped features, the others are fbank'd by TorchFbank;
- augmented_knf: the same draws, every utterance re-read and fbank'd by kaldi-native-fbank (what
  AugmentedSpeech did before; the same computation as the feature dump).

Also the per-utterance cost of each part (read, resample, fbank by either implementation). Main process, no
DataLoader workers (the recipe's `data.num_workers` is 0), so each second here is a second of every update.
The three makers run with `data.augment.speed_cache_mb=0` (each utterance's work every time). `--cache-epochs N`
also times N whole epochs of the config's loader with and without the cache (`speed_cache_mb`: later epochs
reuse the speed-perturbed features the earlier ones computed), epoch by epoch.

    .venv/bin/python benchmarks/augment_loader.py [--threads 2] [--batches 60] [--repeats 3] [--cache-epochs 7]

Needs the recipe's stages 1-2 (`cd egs/espeak_en/asr1 && ./run.sh --stop_stage 2`). Writes
results/augment_loader.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
import zlib
from pathlib import Path

import torch
from common import ROOT, machine, set_threads

from legokit.config import load_config
from legokit.data.audio import load_audio
from legokit.data.augment import AugmentedSpeech, speed_perturb
from legokit.data.features import TorchFbank, compute_fbank
from legokit.train.seeding import generator
from legokit.workflows.experiment import ExperimentConfig, augmented, load_data, make_loader


class KnfEverywhere(AugmentedSpeech):
    """AugmentedSpeech as it was: every utterance re-read, augmented and fbank'd by kaldi-native-fbank."""

    def __getitem__(self, i: int) -> dict:
        utt = self.utts[self.base.ids[i]]
        wave = load_audio(utt.path, self.fbank.sample_rate, utt.start, utt.end)
        wave = self.augment(wave, generator(self.seed, self.epoch, zlib.crc32(utt.utt_id.encode())))
        speech = torch.from_numpy(compute_fbank(wave, self.fbank))
        if self.base.cmvn is not None:
            speech = self.base.cmvn(speech)
        return {"id": utt.utt_id, "speech": speech, "target": torch.tensor(self.base.targets[i], dtype=torch.long)}


def per_batch(loader_factory, batches: int) -> float:
    """Seconds per batch over ``batches`` batches after one untimed batch."""
    it = iter(loader_factory())
    next(it)
    start = time.perf_counter()
    for _ in itertools.islice(it, batches):
        pass
    return (time.perf_counter() - start) / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "egs" / "espeak_en" / "asr1")
    parser.add_argument("--config", default="conf/train_ctc_char.yaml", help="training config, recipe-relative")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (the recipe trains with 2)")
    parser.add_argument("--batches", type=int, default=60, help="timed batches per round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--utterances", type=int, default=200, help="utterances for the per-part timing")
    parser.add_argument("--cache-epochs", type=int, default=0,
                        help="also time this many whole epochs with and without data.augment.speed_cache_mb (0: not)")
    args = parser.parse_args()
    set_threads(args.threads)
    args.recipe = args.recipe.resolve()
    os.chdir(args.recipe)
    data_keys = ["data.task=asr", "data.train_dir=data/train", "data.train_feats=dump/train/feats.scp",
                 "data.tgt_tokenizer=data/tokenizers/text.model"]
    cfg = load_config(ExperimentConfig, args.config, [*data_keys, "data.augment.speed_cache_mb=0"])
    data = load_data(cfg.data)
    new = augmented(data.train, cfg.data, cfg.train.seed)
    old = KnfEverywhere(data.train, cfg.data.train_dir, cfg.data.train_feats, cfg.data.augment, cfg.train.seed, 0)
    dump_cfg = load_config(ExperimentConfig, args.config, [*data_keys, "data.augment=null"])
    makers = {"dump": lambda: make_loader(data.train, dump_cfg.data, True, cfg.train.seed, 0),
              "augmented": lambda: make_loader(new, cfg.data, True, cfg.train.seed, 0),
              "augmented_knf": lambda: make_loader(old, cfg.data, True, cfg.train.seed, 0)}
    rounds: dict[str, list[float]] = {k: [] for k in makers}
    for _ in range(args.repeats):
        for key, make in makers.items():
            rounds[key].append(per_batch(make, args.batches))
    seconds = {k: sorted(v)[len(v) // 2] for k, v in rounds.items()}

    parts = {"read": 0.0, "speed_0.9": 0.0, "fbank_knf": 0.0, "fbank_torch": 0.0}
    torch_fbank = TorchFbank(new.fbank).eval()
    for utt_id in data.train.ids[:args.utterances]:
        utt = new.utts[utt_id]
        t = time.perf_counter()
        wave = load_audio(utt.path, new.fbank.sample_rate, utt.start, utt.end)
        parts["read"] += time.perf_counter() - t
        t = time.perf_counter()
        wave = speed_perturb(wave, 0.9, new.fbank.sample_rate)
        parts["speed_0.9"] += time.perf_counter() - t
        t = time.perf_counter()
        compute_fbank(wave, new.fbank)
        parts["fbank_knf"] += time.perf_counter() - t
        t = time.perf_counter()
        with torch.no_grad():
            torch_fbank(torch.from_numpy(wave))
        parts["fbank_torch"] += time.perf_counter() - t
    per_utt_ms = {k: 1000 * v / args.utterances for k, v in parts.items()}

    epochs: dict[str, list[float]] = {}
    if args.cache_epochs > 0:
        cached_cfg = load_config(ExperimentConfig, args.config, data_keys)
        for key, data_cfg in (("uncached", cfg.data), ("cached", cached_cfg.data)):
            train_set = augmented(data.train, data_cfg, cfg.train.seed)  # one per run, as training makes it
            epochs[key] = []
            for epoch in range(args.cache_epochs):
                start, n = time.perf_counter(), 0
                for _ in make_loader(train_set, data_cfg, True, cfg.train.seed, epoch):
                    n += 1
                epochs[key].append((time.perf_counter() - start) / n)

    print(f"{args.recipe.name} ({args.config}, augment {cfg.data.augment}), {args.threads} threads, "
          f"median of {args.repeats} rounds of {args.batches} batches:")
    for key, value in seconds.items():
        print(f"  {key:14s} {value:.4f} s/batch")
    print(f"  augmented_knf / augmented: x{seconds['augmented_knf'] / seconds['augmented']:.2f}; "
          f"saved {seconds['augmented_knf'] - seconds['augmented']:.3f} s per batch (= per update)")
    print("  per utterance (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in per_utt_ms.items()))
    for key, values in epochs.items():
        print(f"  whole epochs, {key:8s} s/batch: " + " ".join(f"{v:.4f}" for v in values)
              + f" (mean {sum(values) / len(values):.4f})")
    out = ROOT / "benchmarks" / "results" / "augment_loader.json"
    recorded = {**vars(args), "recipe": os.path.relpath(args.recipe, ROOT)}  # no path outside the repo
    out.write_text(json.dumps({"machine": machine(), "args": {k: str(v) for k, v in recorded.items()},
                               "seconds_per_batch": seconds, "rounds": rounds, "per_utterance_ms": per_utt_ms,
                               "epoch_seconds_per_batch": epochs},
                              indent=1) + "\n")
    print(f"record: {out}")


if __name__ == "__main__":
    main()
