"""Decode a whole data dir with a model file: batching, beam search, detokenisation, Kaldi-format output.

Used by ``legokit decode``. The model file carries its tokenizers (embedded in the bricks), so decoding
needs nothing but the model and the data.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from legokit.config import ranged
from legokit.data.batching import BucketBatchSampler, SpeechCollator, collate_text
from legokit.data.datadir import read_kaldi_map
from legokit.data.featdump import SKIPPED, FeatureReader, write_skipped
from legokit.data.tokenizer import Tokenizer
from legokit.decode.beam_search import BeamSearchConfig, Hypothesis
from legokit.decode.ctc_lm import CTCLMConfig, CTCLMDecoder
from legokit.errors import LegokitError
from legokit.fileio import atomic_output, check_outputs
from legokit.lego.bricks import Brick, compose
from legokit.lego.loading import load_bricks
from legokit.lego.model import LegoModel
from legokit.progress import progress_bar

log = logging.getLogger(__name__)


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
LONG_INPUT = ("truncate", "skip", "error")


@dataclass
class DecodeConfig:
    """Options of `legokit decode` (YAML: conf/decode.yaml)."""

    beam: BeamSearchConfig = field(default_factory=BeamSearchConfig)
    max_tokens: int = ranged(8000, "[1, inf)")  # batch budget: padded source tokens or frames
    max_batch_size: int | None = ranged(128, "[1, inf)")  # at most this many utterances per batch
    num_threads: int | None = ranged(None, "[1, inf)")  # torch.set_num_threads, capped by OMP_NUM_THREADS
    device: str = "cpu"
    """Where the model, the beam search and CTC prefix scoring run: a torch device ("cpu", "cuda", "cuda:1",
    "mps") or "auto" (cuda if available, else cpu). `legokit decode --device` overrides it."""
    dtype: str = "float32"
    """Weights and activations while decoding: "float32", "bfloat16" (fast on CPUs with AMX/AVX512-BF16 and
    on recent GPUs; fairseq-generate --bf16) or "float16" (GPU). Beam scores accumulate in float32 whatever
    the dtype."""
    max_source_tokens: int = ranged(1024, "[1, inf)")  # MT: longer sources are handled by on_long_input
    max_source_frames: int = ranged(100000, "[1, inf)")  # speech: feature frames (100000 = 1000 s at 10 ms), same
    on_long_input: str = "truncate"
    """What to do with a longer input, so that one huge line cannot run for hours: "truncate" (decode its first
    max_source_* tokens/frames, with a warning naming the id), "skip" (leave it out, listed in <out>.skipped)
    or "error" (refuse the whole run)."""
    ctc_lm: CTCLMConfig | None = None
    """CTC prefix beam search with a word n-gram LM, for models without a decoder (docs/decoding.md), e.g.
    ``ctc_lm: {arpa: lm.arpa, alpha: 0.5, beta: 1.0, beam: 32}``. Off by default: greedy CTC."""

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise LegokitError(f"DecodeConfig.dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}")
        if self.on_long_input not in LONG_INPUT:
            raise LegokitError(f"DecodeConfig.on_long_input must be one of {', '.join(LONG_INPUT)}; "
                               f"got {self.on_long_input!r}")


def resolve_device(device: str) -> torch.device:
    """"auto" -> cuda if available, else cpu; any other name must be a torch device on this machine."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    check_device(device)
    return torch.device(device)


def check_device(device: str) -> None:
    """Refuse, in one line, a torch device that is malformed or not on this machine."""
    try:
        kind = torch.device(device)
    except RuntimeError:
        raise LegokitError(f"--device {device!r}: not a torch device (expected e.g. cpu, cuda:0, mps)") from None
    count = {"cpu": 1, "cuda": torch.cuda.device_count(), "mps": int(torch.backends.mps.is_available())}
    if count.get(kind.type, 0) <= (kind.index or 0):
        available = ["cpu"] + [f"cuda:{i}" for i in range(count["cuda"])] + ["mps"] * count["mps"]
        raise LegokitError(f"--device {device}: no such device on this machine (available: {', '.join(available)})")


def thread_share(wanted: int) -> int:
    """``wanted`` threads, at most OMP_NUM_THREADS when the environment sets it (a share of the machine)."""
    share = os.environ.get("OMP_NUM_THREADS", "")
    return min(wanted, int(share)) if share.isdigit() and int(share) > 0 else wanted


def ready_model(bricks: list[Brick], cfg: DecodeConfig, device: torch.device | None = None
                ) -> tuple[LegoModel, torch.device, torch.dtype]:
    """Bricks -> (eval-mode LegoModel on ``device``, else ``cfg.device`` resolved, in ``cfg.dtype``, the device,
    the dtype); sets ``cfg.num_threads``, capped by OMP_NUM_THREADS (`legokit queue` gives each of N parallel
    local jobs CPUs / N: a config's 2 threads in each of 2 jobs on 2 cores made them spin-wait, 0.4 s -> 27 s)."""
    device, dtype = device or resolve_device(cfg.device), DTYPES[cfg.dtype]
    if cfg.num_threads:
        torch.set_num_threads(thread_share(cfg.num_threads))
    model = compose(bricks, length_rate=None, allow_states=True)
    return model.eval().to(device, dtype=dtype), device, dtype


def _to(value: object, device: torch.device, dtype: torch.dtype) -> object:
    """Tensors to the device (asynchronously from pinned memory); floating tensors (speech features) also to the
    model's dtype."""
    if not isinstance(value, torch.Tensor):
        return value
    return value.to(device, dtype=dtype if value.is_floating_point() else None, non_blocking=True)


class DecodeItems(torch.utils.data.Dataset):
    """Decoding inputs: (id, source tokens) for MT or (id, features) for speech; targets are empty."""

    def __init__(self, ids: list[str], get, lengths: list[int], key: str) -> None:
        self.ids, self.get, self.lengths, self.key = ids, get, lengths, key

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return {"id": self.ids[i], self.key: self.get(i), "target": torch.zeros(0, dtype=torch.long)}


def bound_lengths(ids: list[str], lengths: list[int], limit: int, option: str, source: Path, cfg: DecodeConfig,
                  skipped: dict[str, str]) -> list[str]:
    """The ids to decode: inputs longer than ``limit`` are truncated, skipped (into ``skipped``: id -> reason)
    or refused, as ``cfg.on_long_input`` says; each one is logged with its id."""
    kept = []
    for utt, length in zip(ids, lengths, strict=True):
        if length > limit:
            reason = f"{length} {option.rsplit('_', 1)[1]} > {option}={limit}"
            if cfg.on_long_input == "error":
                raise LegokitError(f"{source}: id '{utt}': {reason}; raise {option} or give --on-long-input "
                                   "truncate or skip")
            if cfg.on_long_input == "skip":
                log.warning("%s: skipped: %s", utt, reason)
                skipped[utt] = f"too long: {reason}"
                continue
            log.warning("%s: %s: only its first %d are decoded", utt, reason, limit)
        kept.append(utt)
    return kept


def _missing_features(data_dir: Path, feats: Path, reader: FeatureReader) -> dict[str, str]:
    """id -> reason for the utterances of ``data_dir/text`` that have no features (skipped by `legokit features`)."""
    if not (data_dir / "text").is_file():
        return {}
    listed = feats.parent / SKIPPED
    reasons = read_kaldi_map(listed, allow_empty_value=True) if listed.is_file() else {}
    return {utt: reasons.get(utt) or f"no features in {feats}"
            for utt in read_kaldi_map(data_dir / "text") if utt not in reader}


def _dataset(bricks: list[Brick], data_dir: Path, feats: Path | None, src_lang: str, cfg: DecodeConfig,
             skipped: dict[str, str]) -> DecodeItems:
    first = bricks[0]
    if first.module.cfg.input == "speech":
        if feats is None:
            raise LegokitError(f"{first.path} reads speech: give --feats with the feats.scp of {data_dir}")
        reader, limit = FeatureReader(feats), cfg.max_source_frames
        reader.check_dim(first.module.cfg.feat_dim, f"the model's first brick {first.path}")
        skipped.update(_missing_features(data_dir, Path(feats), reader))
        # only the data dir's utterances: a split part (data/test/split4/2) shares the whole set's feats.scp
        listed = set(read_kaldi_map(data_dir / "text")) if (data_dir / "text").is_file() else None
        index = [u for u in reader.index if listed is None or u in listed]
        ids = bound_lengths(index, [reader.num_frames(u) for u in index], limit,
                            "max_source_frames", Path(feats), cfg, skipped)
        return DecodeItems(ids, lambda i: torch.from_numpy(reader[ids[i]][:limit]),
                           [min(reader.num_frames(u), limit) for u in ids], "speech")
    if "input" not in first.tokenizers:
        raise LegokitError(f"{first.path}: the brick carries no input tokenizer; re-export it")
    source = data_dir / f"text.{src_lang}"
    sentences = read_kaldi_map(source)
    tokens = dict(zip(sentences, first.tokenizers["input"].encode_batch(list(sentences.values())), strict=True))
    limit = cfg.max_source_tokens
    ids = bound_lengths(list(tokens), [len(t) for t in tokens.values()], limit, "max_source_tokens", source, cfg,
                        skipped)
    return DecodeItems(ids, lambda i: torch.tensor(tokens[ids[i]][:limit], dtype=torch.long),
                       [min(len(tokens[u]), limit) for u in ids], "source")


def output_tokenizer(bricks: list[Brick], origin: str | Path) -> Tokenizer:
    """The tokenizer that turns the chain's output tokens into text."""
    tokenizer = bricks[-1].tokenizers.get("output")
    if tokenizer is None:
        raise LegokitError(f"{origin}: the last brick carries no output tokenizer; re-export it")
    return tokenizer


def ctc_lm_search(model: LegoModel, tokenizer: Tokenizer, cfg: DecodeConfig, origin: str | Path
                  ) -> CTCLMDecoder | None:
    """The CTC + n-gram LM search of ``cfg.ctc_lm`` over ``tokenizer``'s pieces (its LM loaded), or None when
    ``cfg.ctc_lm`` is not set. Refuses a model with a decoder in one line."""
    if cfg.ctc_lm is None:
        return None
    if model.decoder is not None:
        raise LegokitError(f"ctc_lm: {origin} has a decoder; the n-gram LM search is only for CTC-only models "
                           "(decoder: null): drop ctc_lm, or use beam.ctc_weight for joint CTC/attention decoding")
    from legokit.lm.ngram import ArpaLM

    start = time.perf_counter()
    lm = ArpaLM(cfg.ctc_lm.arpa)
    log.info("ctc_lm: loaded %s (order %d, %d words) in %.1f s", cfg.ctc_lm.arpa, lm.order, len(lm.vocab),
             time.perf_counter() - start)
    vocab = tokenizer.vocab
    return CTCLMDecoder(tokenizer.pieces, vocab.blank, cfg.ctc_lm, lm, skip=(vocab.unk, vocab.bos, vocab.eos))


@torch.no_grad()
def _ctc_lm_hypotheses(model: LegoModel, batch: dict, search: CTCLMDecoder) -> list[Hypothesis]:
    last = model.encode(batch)[-1]
    log_probs = torch.nn.functional.log_softmax(last.logits.float(), -1)
    return [Hypothesis(tokens, score, 0.0, ctc) for tokens, score, ctc in search.decode_batch(log_probs, last.lengths)]


def decode_batches(model: LegoModel, items: DecodeItems, cfg: DecodeConfig, desc: str, device: torch.device,
                   lm_search: CTCLMDecoder | None = None) -> Iterator[tuple[list[str], list[Hypothesis], float]]:
    """Decode ``items`` in length-bucketed batches (``cfg.max_tokens``, ``cfg.max_batch_size``) with
    ``cfg.beam`` on the model made by :func:`ready_model` with ``cfg``, on the ``device`` it returned (or, given
    ``lm_search`` from :func:`ctc_lm_search`, with CTC prefix beam search and the n-gram LM): yields (ids, best
    hypothesis of each, seconds the batch took)."""
    dtype = DTYPES[cfg.dtype]
    sampler = BucketBatchSampler(items.lengths, max(cfg.max_tokens, max(items.lengths, default=1)),
                                 cfg.max_batch_size, shuffle=False)
    collate = collate_text if items.key == "source" else SpeechCollator(None)
    # inputs are read and collated on the CPU; each batch moves to the device once
    loader = DataLoader(items, batch_sampler=sampler, collate_fn=collate, pin_memory=device.type == "cuda")
    for batch in progress_bar(loader, desc=desc, unit="batch"):
        start = time.perf_counter()
        batch = {k: _to(v, device, dtype) for k, v in batch.items()}
        best = model.hypotheses(batch, cfg.beam) if lm_search is None else _ctc_lm_hypotheses(model, batch, lm_search)
        yield batch["ids"], best, time.perf_counter() - start


def decode_dir(model_path: Path, data_dir: Path, out: Path, cfg: DecodeConfig, feats: Path | None = None,
               src_lang: str = "de") -> dict[str, float]:
    """Decode every input of ``data_dir`` into ``out`` (``<id> <text>`` lines, input order), on ``cfg.device``.

    ``out`` may not be any file of ``data_dir``, the feature dump or the model (refused before anything is
    touched); it is written atomically at the end, and a failed run leaves no hypothesis file at all."""
    check_outputs([model_path, data_dir, feats, feats and Path(feats).parent], [out])
    device = resolve_device(cfg.device)  # once, before anything is touched
    out.unlink(missing_ok=True)  # a failed run must not leave an older run's hypotheses behind
    bricks = load_bricks(model_path)
    model, device, _ = ready_model(bricks, cfg, device)
    tokenizer = output_tokenizer(bricks, model_path)
    lm_search = ctc_lm_search(model, tokenizer, cfg, model_path)
    skipped: dict[str, str] = {}
    items = _dataset(bricks, data_dir, feats, src_lang, cfg, skipped)
    hyps: dict[str, str] = {}
    start, n_tokens = time.perf_counter(), 0
    for ids, best, _ in decode_batches(model, items, cfg, f"decode {data_dir}", device, lm_search):
        for utt, hyp in zip(ids, best, strict=True):
            hyps[utt] = tokenizer.decode(hyp.tokens)
            n_tokens += len(hyp.tokens)
    elapsed = time.perf_counter() - start
    with atomic_output(out) as tmp:
        tmp.write_text("".join(f"{utt} {hyps[utt]}\n" for utt in items.ids), encoding="utf-8")
    stats = {"utterances": len(items), "seconds": elapsed, "utterances_per_s": len(items) / max(elapsed, 1e-9),
             "ms_per_token": 1000 * elapsed / max(n_tokens, 1)}
    log.info("decoded %d utterances on %s (%s) in %.1f s (%.1f utt/s, %.2f ms per output token) -> %s", len(items),
             device, cfg.dtype, elapsed, stats["utterances_per_s"], stats["ms_per_token"], out)
    write_skipped(skipped, out.with_name(out.name + ".skipped"))
    return stats
