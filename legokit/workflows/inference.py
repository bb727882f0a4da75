"""A trained model on raw input: ``legokit.load(path)`` and the translate/transcribe/summarize commands.

:func:`load` takes a ``model.pt``, brick files (a list, or a folder of ``*.brick``), a packaged folder or an
``hf://owner/name`` hub id (:mod:`legokit.lego.hub`), or the ``model.pt`` of `legokit tts train`, and returns
a :class:`Model` (or :class:`Speaker` for TTS) whose methods follow the model's task. Decoding reuses the decode
runner (:mod:`legokit.workflows.decode`: bucketed batches, beam search, dtype, device). Speech input is any
libsndfile file or a (samples, sample_rate) pair: it is resampled, and its fbank features are computed with the
feature settings the first brick's manifest carries (``input_interface.fbank``) and normalised by the CMVN the
brick holds (``cmvn_mean``/``cmvn_std`` buffers), exactly as in training.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from legokit.data.audio import SAMPLE_RATES, load_audio
from legokit.data.features import FbankConfig, compute_fbank
from legokit.decode.beam_search import BeamSearchConfig, Hypothesis
from legokit.errors import LegokitError
from legokit.lego.bricks import Brick, chain_task, read_brick_file, read_file_payload
from legokit.lego.loading import load_bricks
from legokit.workflows.decode import (
    DecodeConfig,
    DecodeItems,
    bound_lengths,
    ctc_lm_search,
    decode_batches,
    output_tokenizer,
    ready_model,
)

log = logging.getLogger(__name__)

#: task -> the method that runs it
METHODS = {"mt": "translate", "asr": "transcribe", "sum": "summarize", "tts": "synthesize"}
#: without a config, speech inputs up to 6 hours (fbank frames of 10 ms) are decoded whole
LONG_SPEECH_FRAMES = 6 * 3600 * 100
#: a full-attention encoder is refused beyond this much memory for one layer's attention scores
FULL_ATTENTION_BUDGET = 8 * 2**30

Audio = str | Path | tuple[np.ndarray, int]


@dataclass
class Result:
    """One output: its text, its sentencepiece pieces, the search's score (natural log; the length-normalised
    beam score, or the best CTC path's log-probability for encoder-only models; -inf when nothing was decoded)
    and timings in seconds (``decode``: this input's share of its batches; speech also ``audio``: the
    recording's duration and ``features``: reading and fbank)."""

    text: str
    tokens: list[str]
    score: float
    timings: dict[str, float] = field(default_factory=dict)


def full_attention_bytes(encoder_cfg, frames: int) -> int:
    """Bytes of one layer's float32 attention scores (heads x T' x T') of a full-attention speech encoder over
    ``frames`` feature frames (T' = frames / subsampling); 0 for a restricted-attention encoder."""
    if encoder_cfg.encoder.window is not None:
        return 0
    steps = math.ceil(frames / encoder_cfg.subsampling)
    return 4 * encoder_cfg.encoder.num_heads * steps * steps


def stitch(chunks: list[list[str]], starts: list[float], durations: list[float], overlap: float) -> list[int]:
    """Indices (into the concatenation of ``chunks``' pieces) of the pieces kept when chunks overlapping by
    ``overlap`` seconds are joined: the words of a chunk are taken as evenly spread over its duration, and each
    overlap is split in the middle: a chunk keeps the words whose centre lies after the middle of the overlap
    with the previous chunk and before the middle of the overlap with the next one."""
    kept, offset = [], 0
    for c, (pieces, start, duration) in enumerate(zip(chunks, starts, durations, strict=True)):
        words: list[list[int]] = []
        for i, piece in enumerate(pieces):
            if piece.startswith("▁") or not words:
                words.append([])
            words[-1].append(offset + i)
        low = start + overlap / 2 if c > 0 else -math.inf
        high = start + duration - overlap / 2 if c + 1 < len(chunks) else math.inf
        for j, word in enumerate(words):
            if low <= start + duration * (j + 0.5) / len(words) < high:
                kept.extend(word)
        offset += len(pieces)
    return kept


class Model:
    """A LegoNN chain ready to decode raw input; use the method of its :attr:`task`."""

    def __init__(self, bricks: list[Brick], origin: str, cfg: DecodeConfig, task: str | None = None) -> None:
        self.bricks, self.origin, self.cfg = bricks, origin, cfg
        self.task = task or chain_task(bricks)
        if self.task not in METHODS or self.task == "tts":
            raise LegokitError(f"{origin}: unknown task {self.task!r} (expected one of mt, asr, sum)")
        self.model, self.device, self.dtype = ready_model(bricks, cfg)
        self.tokenizer = output_tokenizer(bricks, origin)
        self.lm_search = ctc_lm_search(self.model, self.tokenizer, cfg, origin)  # None unless cfg.ctc_lm
        first = bricks[0]
        self.fbank: FbankConfig | None = None
        if first.module.cfg.input == "speech":
            spec = first.manifest["input_interface"].get("fbank")
            if spec is None:
                log.warning("%s: the first brick records no fbank settings; using the defaults with %d bins", origin,
                            first.module.cfg.feat_dim)
            self.fbank = FbankConfig(**(spec or {"num_mel_bins": first.module.cfg.feat_dim}))
            if self.fbank.num_mel_bins != first.module.cfg.feat_dim:
                raise LegokitError(f"{origin}: manifest input_interface.fbank has {self.fbank.num_mel_bins} bins but "
                                   f"the brick reads {first.module.cfg.feat_dim}-dimensional features; re-export it")

    def __repr__(self) -> str:
        return f"legokit.Model({self.origin!r}, task={self.task!r}, device={self.device}, dtype={self.cfg.dtype})"

    def _require(self, task: str) -> None:
        if self.task != task:
            raise LegokitError(f"{self.origin}: is a {self.task} model, it cannot {METHODS[task]}; use "
                               f"{METHODS[self.task]} (`legokit {METHODS[self.task]}`) instead")

    # --- text -----------------------------------------------------------------------------------------
    def translate(self, sentences: Sequence[str], beam: BeamSearchConfig | None = None) -> list[Result]:
        """Translate each sentence (one output per input, in order; an empty sentence gives an empty text)."""
        self._require("mt")
        if isinstance(sentences, str):
            raise LegokitError("translate() takes a list of sentences, not one string")
        encoded = self.bricks[0].tokenizers["input"].encode_batch([str(s) for s in sentences])
        ids = [str(i) for i in range(len(encoded))]
        lengths = [len(t) for t in encoded]
        kept = bound_lengths(ids, lengths, self.cfg.max_source_tokens, "max_source_tokens", Path("<sentences>"),
                             self.cfg, {})
        limit = self.cfg.max_source_tokens
        items = DecodeItems(kept, lambda i: torch.tensor(encoded[int(kept[i])][:limit], dtype=torch.long),
                            [max(1, min(lengths[int(u)], limit)) for u in kept], "source")
        return self._run(items, len(ids), beam)

    # --- speech ---------------------------------------------------------------------------------------
    def transcribe(self, audio: Sequence[Audio], beam: BeamSearchConfig | None = None,
                   chunk_seconds: float | None = None, chunk_overlap: float = 5.0) -> list[Result]:
        """Transcribe recordings (file paths or (samples, sample_rate) pairs), each in one pass, or, with
        ``chunk_seconds``, in windows of that length overlapping by ``chunk_overlap`` seconds whose texts are
        joined by :func:`stitch` (the fallback for full-attention encoders on long recordings)."""
        self._require("asr")
        return self._speech(audio, beam, chunk_seconds, chunk_overlap)

    def summarize(self, audio: Sequence[Audio], beam: BeamSearchConfig | None = None,
                  chunk_seconds: float | None = None, chunk_overlap: float = 5.0) -> list[Result]:
        """Summarise recordings (as :meth:`transcribe`; chunking joins the summaries of the windows)."""
        self._require("sum")
        return self._speech(audio, beam, chunk_seconds, chunk_overlap)

    def synthesize(self, texts: Sequence[str]) -> list[tuple[np.ndarray, int]]:
        """Only TTS models synthesise; this one raises."""
        self._require("tts")
        return []

    def _waveform(self, source: Audio, index: int) -> tuple[np.ndarray, str]:
        """Mono float32 samples at the model's sample rate, and a name for messages."""
        rate = self.fbank.sample_rate
        if isinstance(source, str | Path):
            return load_audio(str(source), rate), str(source)
        name = f"input {index}"
        if not (isinstance(source, tuple) and len(source) == 2 and isinstance(source[1], int | np.integer)):
            raise LegokitError(f"{name}: expected a file path or a (samples, sample_rate) pair, got "
                               f"{type(source).__name__}")
        samples, sr = np.asarray(source[0], dtype=np.float32), int(source[1])
        if samples.ndim == 2:
            samples = samples.mean(axis=1)
        if samples.ndim != 1 or samples.size == 0 or not np.isfinite(samples).all():
            raise LegokitError(f"{name}: samples must be a non-empty finite 1-D (or (N, channels)) array")
        if not SAMPLE_RATES[0] <= sr <= SAMPLE_RATES[1]:
            raise LegokitError(f"{name}: sample rate {sr} Hz outside {SAMPLE_RATES[0]}..{SAMPLE_RATES[1]} Hz")
        if sr != rate:
            import soxr

            samples = soxr.resample(samples, sr, rate, quality="HQ")
        return np.ascontiguousarray(samples, dtype=np.float32), name

    def _speech(self, audio: Sequence[Audio], beam: BeamSearchConfig | None, chunk_seconds: float | None,
                chunk_overlap: float) -> list[Result]:
        if isinstance(audio, str | Path) or (isinstance(audio, tuple) and len(audio) == 2
                                            and isinstance(audio[1], int)):
            raise LegokitError("transcribe()/summarize() take a list of recordings, not one recording")
        if chunk_seconds is not None and not 0 <= chunk_overlap < chunk_seconds:
            raise LegokitError(f"chunk overlap {chunk_overlap} s must be >= 0 and below the chunk length "
                               f"{chunk_seconds} s")
        rate = self.fbank.sample_rate
        feats, timings, plan = [], [], []  # plan: per input, (first chunk index, starts, durations)
        for index, source in enumerate(audio):
            start = time.perf_counter()
            samples, name = self._waveform(source, index)
            seconds = samples.size / rate
            if chunk_seconds is None:
                windows = [(0, samples.size)]
            else:
                step = int((chunk_seconds - chunk_overlap) * rate)
                windows = [(s, min(s + int(chunk_seconds * rate), samples.size))
                           for s in range(0, max(samples.size - int(chunk_overlap * rate), 1), step)]
            plan.append((len(feats), [s / rate for s, _ in windows], [(e - s) / rate for s, e in windows]))
            for s, e in windows:
                chunk = compute_fbank(samples[s:e], self.fbank, name)
                if chunk.shape[0] == 0:
                    raise LegokitError(f"{name}: too short for one feature frame ({(e - s) / rate:.3f} s)")
                feats.append(torch.from_numpy(chunk))
            timings.append({"audio": seconds, "features": time.perf_counter() - start})
            need = full_attention_bytes(self.bricks[0].module.cfg, max(f.shape[0] for f in feats[plan[-1][0]:]))
            if need > FULL_ATTENTION_BUDGET:
                raise LegokitError(f"{name}: {seconds:.0f} s in one pass needs {need / 2**30:.1f} GB for one layer's "
                                   f"attention scores (the model has full attention, T² memory); transcribe in "
                                   f"windows (chunk_seconds / --chunk-seconds 30) or use a restricted-attention model")
        ids = [str(i) for i in range(len(feats))]
        lengths = [f.shape[0] for f in feats]
        limit = self.cfg.max_source_frames
        kept = bound_lengths(ids, lengths, limit, "max_source_frames", Path("<audio>"), self.cfg, {})
        items = DecodeItems(kept, lambda i: feats[int(kept[i])][:limit], [min(lengths[int(u)], limit) for u in kept],
                            "speech")
        parts = self._run(items, len(feats), beam)
        results = []
        for (first, starts, durations), spent in zip(plan, timings, strict=True):
            mine = parts[first:first + len(starts)]
            pieces = [p for r in mine for p in r.tokens]
            keep = stitch([r.tokens for r in mine], starts, durations, chunk_overlap) if len(mine) > 1 else None
            tokens = pieces if keep is None else [pieces[k] for k in keep]
            text = mine[0].text if keep is None else self.tokenizer.sp.DecodePieces(tokens).strip()
            results.append(Result(text, tokens, sum(r.score for r in mine) / len(mine),
                                  spent | {"decode": sum(r.timings["decode"] for r in mine)}))
        return results

    def _run(self, items: DecodeItems, total: int, beam: BeamSearchConfig | None) -> list[Result]:
        """Decode ``items`` (ids "0".."total-1"; absent ones were skipped as too long: empty results)."""
        cfg = self.cfg if beam is None else replace(self.cfg, beam=beam)
        results = [Result("", [], -math.inf, {"decode": 0.0}) for _ in range(total)]
        for ids, best, seconds in decode_batches(self.model, items, cfg, f"{self.task} {self.origin}", self.device,
                                                  self.lm_search):
            hyp: Hypothesis
            for utt, hyp in zip(ids, best, strict=True):
                # stripped as a hyp file's "utt text" line is: the API and `legokit decode` give the same text
                results[int(utt)] = Result(self.tokenizer.decode(hyp.tokens).strip(),
                                           [self.tokenizer.pieces[t] for t in hyp.tokens], float(hyp.score),
                                           {"decode": seconds / len(ids)})
        return results


class Speaker:
    """A TTS model (`legokit tts train`): :meth:`synthesize` only."""

    task = "tts"

    def __init__(self, path: str | Path, length_scale: float = 1.0, payload: dict | None = None) -> None:
        from legokit.tts.experiment import load_tts_model

        self.origin, self.length_scale = str(path), length_scale
        self.tts = load_tts_model(path, payload)  # payload: the file's content, if `load` has read it

    def __repr__(self) -> str:
        return f"legokit.Speaker({self.origin!r}, lang={self.tts.lang!r})"

    def synthesize(self, texts: Sequence[str]) -> list[tuple[np.ndarray, int]]:
        """(waveform float32 in [-1, 1], sample rate) of each text (Griffin-Lim vocoder)."""
        from legokit.tts.experiment import speak

        if isinstance(texts, str):
            raise LegokitError("synthesize() takes a list of texts, not one string")
        return [(wave.astype(np.float32), self.tts.mel.sample_rate)
                for wave, *_ in speak(self.tts, list(texts), self.origin, self.length_scale)]

    def _refuse(self, *_args, **_kwargs) -> list[Result]:
        raise LegokitError(f"{self.origin}: is a tts model, it can only synthesize (`legokit tts synthesize`)")

    translate = transcribe = summarize = _refuse


def _is_tts_payload(payload: object) -> bool:
    """The content of a model.pt of `legokit tts train` (a dict with a phone inventory) rather than of a
    brick/model file."""
    return isinstance(payload, dict) and "inventory" in payload and "state_dict" in payload


def _bricks(path: str | Path | Sequence[str | Path]) -> tuple[list[Brick], str]:
    """The chain of ``path`` (file, folder, hub id, or a list of brick files in chain order) and its name."""
    if not isinstance(path, str | Path):
        paths = list(path)
        if not paths:
            raise LegokitError("legokit.load: the list of brick files is empty")
        return [b for p in paths for b in load_bricks(p)], " + ".join(map(str, paths))
    folder = Path(path)
    if folder.is_dir() and not (folder / "config.json").exists():
        found = sorted(folder.glob("encoder*.brick")) + sorted(folder.glob("decoder.brick"))
        if not found:
            raise LegokitError(f"{folder}: no *.brick files and no config.json (expected bricks/ of a run or a "
                               "folder written by `legokit brick export --format hf`)")
        return [b for p in found for b in load_bricks(p)], str(folder)
    return load_bricks(path), str(path)


def load(path: str | Path | Sequence[str | Path], device: str | None = None, dtype: str | None = None,
         config: DecodeConfig | None = None, task: str | None = None) -> Model | Speaker:
    """Load a trained model for use on raw input.

    ``path``: a model.pt (of `legokit train` or `legokit tts train`), a brick file, a list of brick files in
    chain order, a folder holding ``encoder*.brick``/``decoder.brick``, a folder exported with
    `legokit brick export --format hf`, or ``hf://owner/name``. ``config``: batching, beam and limits (the
    defaults of `legokit decode`, but speech up to 6 hours is decoded whole); ``device``/``dtype`` override
    it when given (else the config's own device, ``cpu`` by default). ``task`` overrides the task read from
    the bricks (mt, asr, sum)."""
    if isinstance(path, str | Path) and Path(path).is_file():  # read once, whatever kind of file it is
        payload = read_file_payload(Path(path))
        if _is_tts_payload(payload):
            return Speaker(path, payload=payload)
        bricks, origin = read_brick_file(path, payload), str(path)
    else:
        bricks, origin = _bricks(path)
    cfg = config or DecodeConfig(max_source_frames=LONG_SPEECH_FRAMES)
    cfg = replace(cfg, device=device or cfg.device, dtype=dtype or cfg.dtype)
    return Model(bricks, origin, cfg, task)
