"""Synthetic English speech with Festival's Debian voices: Kaldi speech dirs from MT-style text dirs.

The same layout as :mod:`legokit.corpora.espeak` (``wav/``, ``wav.scp``, ``text``, ``utt2spk`` = voice,
``spk2utt``, ``transcript`` when the spoken side differs): each utterance gets a voice and a duration
stretch drawn deterministically from its id; the test split is spoken by the held-out voices only, which
never appear in train or valid. Voices are Festival voice names (``(voice_<name>)``); Debian bookworm has
three English ones: ``kal_diphone`` (festvox-kallpc16k), ``ked_diphone`` (festvox-kdlpc16k) and
``cmu_us_slt_arctic_hts`` (festvox-us-slt-hts, the default held-out voice: another synthesis method,
HTS, and a female speaker).

Usage::

    legokit prepare festival-speech --text-dir data/de-en --out data/en-festival --nj 2
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from legokit.corpora.debian import require_tool
from legokit.corpora.espeak import choose, save_wav, speak_splits
from legokit.errors import LegokitError

FESTIVAL_HINT = ("Install it with `apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts` "
                 "(Debian/Ubuntu; tools/install_system_deps.sh does it)")


@dataclass
class FestivalConfig:
    """Voices and prosody of :func:`make_festival_speech`; recorded in each split's `.completed` marker."""

    voices: list[str] = field(default_factory=lambda: ["kal_diphone", "ked_diphone"])  # train/valid voices
    test_voices: list[str] = field(default_factory=lambda: ["cmu_us_slt_arctic_hts"])  # held out: test only
    stretches: list[float] = field(default_factory=lambda: [0.85, 1.0, 1.15])  # Duration_Stretch (>1 slower)
    # mean F0 targets in Hz, one drawn per utterance (empty: each voice's own, ~105 Hz for kal and ked): Festival's
    # int_lr_params, which the diphone voices' intonation follows (HTS voices such as slt keep their own F0)
    f0_means: list[float] = field(default_factory=list)
    sample_rate: int = 16000  # output sample rate (HTS slt speaks at 32 kHz, the diphone voices at 16 kHz)
    speak: str = "en"  # spoken file: text.<speak>
    target: str = "en"  # file copied to `text`: text.<target>
    max_utts: int = 0  # at most this many utterances per split, chosen by id hash (0: all)
    skip_utts: int = 0  # pass over this many utterances of the hash order first (other sentences than a 0 run)
    splits: list[str] = field(default_factory=lambda: ["train", "valid", "test"])  # splits to speak


F0_STD_RATIO = 0.14  # target_f0_std / target_f0_mean of kal_diphone (14/105) and ked_diphone (15/105)


def prosody_args(stretch: float, f0_mean: float) -> list[str]:
    """text2wave -eval arguments: a Duration_Stretch and, if `f0_mean` > 0, an F0 target mean (Hz) whose spread
    keeps the diphone voices' std/mean ratio; the model side of int_lr_params is the voices' own (170, 34)."""
    args = ["-eval", f"(Parameter.set 'Duration_Stretch {stretch:g})"]
    if f0_mean > 0:
        args += ["-eval", f"(set! int_lr_params '((target_f0_mean {f0_mean:g}) "
                          f"(target_f0_std {f0_mean * F0_STD_RATIO:.3g}) (model_f0_mean 170) (model_f0_std 34)))"]
    return args


# text2wave's synthesis (Debian's /usr/bin/text2wave, `main` and `save_record_wave_fp`) as a Scheme function, so
# that one Festival process speaks many utterances: each one's utterance chunks are appended to a RIFF file whose
# header is rewritten with the total length at the end, as text2wave does. Festival's ~0.16 s start-up is paid
# once per block of BLOCK utterances instead of once per utterance: 300 utterances, 2 jobs, 50.5 -> 11.5 s
# (docs/results.md, "Session 18"). A fresh process's first utterance is text2wave's, sample for sample, and so
# are nearly all later ones; but Festival keeps some state of its diphone synthesis from one utterance to the next
# (neither `srand` nor a new `(voice_...)` resets it), and in about 1 of 300-1,500 ked_diphone utterances the
# last ~0.2 s of silence then differ: one measured case holds a 25 ms click (RMS 2,100 of 32,768) followed by
# digital zeros where text2wave writes the voice's faint background (RMS 7-8). Blocks are fixed runs of
# consecutive utterances, each spoken by a fresh process in order, so the data are the same whatever --nj or a
# resumed run.
BLOCK = 64
_PRELUDE = """
(gc-status nil)
(defvar legokit_fp nil)
(defvar legokit_samples 0)
(defvar legokit_utt nil)
(define (legokit_record utt)
  (if (eq? legokit_samples 0)
      (wave.save.header legokit_fp (utt.wave utt) 'riff nil (list (list "numsamples" 0))))
  (set! legokit_samples (+ legokit_samples (get_param 'num_samples (wave.info (utt.wave utt)) 0)))
  (wave.save.data.fp (utt.wave utt) legokit_fp 'riff nil)
  (set! legokit_utt utt))
(set! tts_hooks (list utt.synth legokit_record))
(define (legokit_speak infile outfile)
  (set! legokit_samples 0)
  (set! legokit_utt nil)
  (set! legokit_fp (fopen outfile "wb"))
  (tts_file infile (tts_find_text_mode infile auto-text-mode-alist))
  (if legokit_utt
      (begin (fseek legokit_fp 0 0)
             (wave.save.header legokit_fp (utt.wave legokit_utt) 'riff nil
                               (list (list "numsamples" legokit_samples)))))
  (fclose legokit_fp))
"""
_DONE = "@@legokit-festival-done@@"


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class FestivalSession:
    """One `festival --pipe` process that speaks utterance after utterance as text2wave would (same samples),
    without starting Festival for each. Commands go to its stdin; each is followed by a marker Festival prints to
    stderr (unbuffered, unlike its stdout), whose arrival means the command finished."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="legokit-festival-")
        self.scratch = Path(self._tmp.name)  # this session's own files (its input text, a caller's output wav)
        self._proc = subprocess.Popen(["festival", "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True, bufsize=1)
        self._run(_PRELUDE)

    def _run(self, code: str, what: str = "starting") -> str:
        """Evaluate `code`; return what Festival wrote to stderr meanwhile. `what` names the work in errors."""
        assert self._proc.stdin is not None and self._proc.stderr is not None
        try:
            self._proc.stdin.write(f'{code}\n(format stderr "{_DONE}\\n")\n')
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise LegokitError(f"festival exited (code {self._proc.poll()}) before {what}; {FESTIVAL_HINT}") from None
        lines = []
        for line in self._proc.stderr:
            if line.strip() == _DONE:
                return "".join(lines)
            lines.append(line)
        code, tail = self._proc.wait(), " ".join("".join(lines).split())[-300:]
        how = f"crashed (signal {-code})" if code < 0 else f"exited (code {code})"
        raise LegokitError(f"festival {how} {what}{': ' + tail if tail else ''}; {FESTIVAL_HINT}")

    def speak(self, text: str, out: Path, voice: str, stretch: float, f0_mean: float) -> None:
        """`text` in `voice` with text2wave's -eval prosody (:func:`prosody_args`) into the RIFF file `out`."""
        infile = self.scratch / "in.txt"
        infile.write_text(text + "\n", encoding="utf-8")
        evals = [a for a in prosody_args(stretch, f0_mean) if a != "-eval"]
        if out.exists():
            out.unlink()
        what = f"speaking {text[:60]!r} with voice {voice}"
        err = self._run("\n".join([f"(voice_{voice})", *evals,
                                   f"(legokit_speak {_scheme_string(str(infile))} {_scheme_string(str(out))})"]),
                        what)
        if "SIOD ERROR" in err:
            raise LegokitError(f"festival failed for voice {voice} speaking {text[:60]!r}: "
                               f"{' '.join(err.split())[-300:]} (is the voice installed? {FESTIVAL_HINT})")
        if not out.is_file() or out.stat().st_size <= 44:
            raise LegokitError(f"festival wrote no audio {what}: the text is empty or has nothing to speak")

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait()
        self._tmp.cleanup()


def synthesize(text: str, wav: Path, voice: str, stretch: float, f0_mean: float, sample_rate: int,
               session: FestivalSession | None = None) -> float:
    """Speak `text` with Festival voice `voice` into `wav` (mono, `sample_rate`); return seconds. `f0_mean` (Hz)
    moves a diphone voice's pitch; 0 keeps the voice's own. Without `session`, a fresh Festival process speaks
    it: the samples of `text2wave -eval (voice_<voice>) <prosody_args> -o out in.txt`."""
    own = session is None
    session = session or FestivalSession()
    try:
        out = session.scratch / "out.wav"
        session.speak(text, out, voice, stretch, f0_mean)
        audio, rate = sf.read(out, dtype="float32")
    finally:
        if own:
            session.close()
    return save_wav(audio, rate, wav, sample_rate, f"festival voice {voice} for text {text[:60]!r}")


def installed_voices() -> list[str]:
    """Festival's installed voices, as named by ``(voice.list)``."""
    proc = subprocess.run(["festival", "--pipe"], input="(print (voice.list))\n", capture_output=True, text=True)
    return proc.stdout.strip().strip("()").split()


def _block_job(jobs: list[tuple[str, Path, str, float, float, int]]) -> list[float]:
    """One block of utterances spoken in order by one fresh Festival process (see BLOCK)."""
    session = FestivalSession()
    try:
        return [synthesize(*job, session=session) for job in jobs]
    finally:
        session.close()


def make_festival_speech(text_dir: Path | str, out_dir: Path | str, cfg: FestivalConfig | None = None,
                         nj: int = 1, force: bool = False) -> dict[str, dict]:
    """Speak the splits of an MT-style dir with Festival into Kaldi speech dirs; return {split: counts}.

    Each split is skipped when its ``.completed`` marker records the same options and text, unless `force`.
    """
    cfg = cfg or FestivalConfig()
    require_tool("festival", "synthesise speech with Festival", FESTIVAL_HINT)
    have = installed_voices()
    bad = [f for f in cfg.f0_means if not 40 <= f <= 400]
    if bad:
        raise LegokitError(f"festival f0_means must be mean pitches in Hz within 40-400, got {bad}")
    missing = [v for v in cfg.voices + cfg.test_voices if v not in have]
    if missing:
        raise LegokitError(f"festival voices {missing} are not installed (installed: {have}); {FESTIVAL_HINT}")
    return speak_splits(text_dir, out_dir, cfg, nj, force, _block_job,
                        lambda uid: (choose(cfg.stretches, uid + "stretch"),
                                     choose(cfg.f0_means, uid + "f0") if cfg.f0_means else 0.0), "festival", BLOCK)
