"""`legokit tts ACTION`: low-resource TTS by transfer learning (see docs/tts.md).

    legokit tts dump --data-dir data/kk/train --lang kk --out-dir dump/kk/train
    legokit tts rank-sources --target kk --sources en,fi,ru --counts dump/{lang}/train/phone_counts.tsv
    legokit tts map-phones --target dump/kk/train/phone_counts.tsv --source dump/ru/train/phone_counts.tsv \
        --out exp/map_kk_ru.tsv
    legokit tts train --config conf/tts.yaml --out-dir exp/tts_ru data.train=dump/ru/train
    legokit tts synthesize --model exp/tts_ru/model.pt --text data/ru/test/text --out-dir exp/tts_ru/syn
    legokit tts evaluate --syn-dir exp/tts_ru/syn --hyp exp/tts_ru/syn/hyp --exp-dir exp/tts_ru
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

from legokit.commands._types import nonnegative_float, nonnegative_int, positive_float, positive_int

HELP = "low-resource TTS: phones, phone mapping, ASPF source ranking, acoustic model, synthesis, evaluation"
log = logging.getLogger(__name__)


def _parser(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _parser(sub, "prepare", "offline data: festvox-ru, or catalog sentences of a language spoken by espeak-ng")
    p.add_argument("--lang", required=True, help="espeak-ng language (bg, ka, kk, sw, ur, uz, fi, en, ru)")
    p.add_argument("--festvox", action="store_true", help="--lang ru: the festvox-ru recording, not espeak-ng")
    p.add_argument("--out-dir", required=True, help="writes <lang>_tts/{train,valid,test} and <lang>_asr/")
    p.add_argument("--download-dir", default="downloads", help="cache of Debian packages (fetch_deb)")
    p.add_argument("--config", help="YAML with CorpusConfig keys (train_utts, test_utts, asr_utts, ...)")
    p.add_argument("--nj", type=positive_int, default=2, help="parallel espeak-ng processes")
    p.add_argument("--text-only", action="store_true", help="write only the sentences (<lang>_text), no speech")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides, e.g. train_utts=200")
    p = _parser(sub, "dump", "phonemise transcripts and compute log mels of a Kaldi speech dir")
    p.add_argument("--data-dir", required=True, help="Kaldi dir with wav.scp and text")
    p.add_argument("--lang", required=True, help="espeak-ng language of the transcripts (kk, ru, en-us, ...)")
    p.add_argument("--out-dir", required=True, help="writes dump.pt, phones.txt, phone_counts.tsv")
    p.add_argument("--backend", default="espeak", choices=["espeak", "epitran"], help="grapheme-to-phone tool")
    p.add_argument("--max-utts", type=nonnegative_int, default=0, help="use at most this many utterances (0: all)")
    p.add_argument("--nj", type=positive_int, default=2, help="parallel espeak-ng processes")
    p.add_argument("--trim-db", type=nonnegative_float, default=0.0,
                   help="cut leading/trailing silence quieter than this many dB below the loudest frame (0: keep; "
                        "40 is usual): otherwise the first and last phones learn to be silence")

    p = _parser(sub, "rank-sources", "rank source languages for a target by ASPF of phone frequencies")
    p.add_argument("--target", required=True, help="target language")
    p.add_argument("--sources", required=True, help="comma-separated candidate source languages")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--text", help="text file per language, one sentence a line; '{lang}' is replaced "
                                      "(e.g. data/{lang}/sentences.txt)")
    group.add_argument("--counts", help="phone_counts.tsv per language; '{lang}' is replaced")
    p.add_argument("--kaldi-text", action="store_true", help="--text files start with an utterance id")
    p.add_argument("--max-lines", type=positive_int, default=2000,
                   help="phonemise at most this many lines per language")
    p.add_argument("--out", help="also write 'lang<TAB>aspf' lines here")

    p = _parser(sub, "map-phones", "map target phones missing from the source inventory to the closest source phone")
    p.add_argument("--target", required=True, help="target phone_counts.tsv")
    p.add_argument("--source", required=True, help="source phone_counts.tsv (or the source model's dump)")
    p.add_argument("--target-lang", default="?", help="target language (named in messages)")
    p.add_argument("--source-lang", default="?", help="source language (named in messages)")
    p.add_argument("--distance", default="weighted", choices=["weighted", "hamming"],
                   help="PanPhon feature distance (docs/tts.md)")
    p.add_argument("--out", required=True, help="mapping table TSV (target, source, distance)")

    p = _parser(sub, "train", "train or fine-tune the acoustic model (YAML config + key=value overrides)")
    p.add_argument("--config", help="YAML config (sections data, model, init, phone_map, optim, train)")
    p.add_argument("--out-dir", required=True, type=Path, help="experiment dir: checkpoints, train.log, model.pt")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. init=exp/src/model.pt")

    p = _parser(sub, "synthesize", "speak the sentences of a text file into wavs (Griffin-Lim vocoder)")
    p.add_argument("--model", required=True, help="model.pt from `legokit tts train`")
    p.add_argument("--text", required=True, help="Kaldi text file: <utt> <sentence>")
    p.add_argument("--out-dir", required=True, help="writes wav/<utt>.wav and a Kaldi dir (wav.scp, text, utt2spk)")
    p.add_argument("--length-scale", type=positive_float, default=1.0, help="multiply predicted durations (slower > 1)")
    p.add_argument("--max-utts", type=nonnegative_int, default=0, help="speak at most this many sentences (0: all)")
    p.add_argument("--plots", type=nonnegative_int, default=0,
                   help="also draw the first N utterances' mels with their predicted phone durations (plots/<utt>.png)")

    p = _parser(sub, "evaluate", "predicted MOS (DNSMOS) and ASR CER of synthesised speech into RESULTS.md")
    p.add_argument("--syn-dir", required=True, help="dir written by `legokit tts synthesize`")
    p.add_argument("--hyp", help="ASR transcripts of the synthesised wavs (`legokit decode` output) for CER")
    p.add_argument("--exp-dir", required=True, help="experiment dir whose RESULTS.md gets the scores")
    p.add_argument("--test-set", default="test", help="row name in RESULTS.md")

    p = _parser(sub, "compare-mos", "paired bootstrap of per-utterance predicted MOS: is system A's MOS "
                "different from system B's on the same test sentences?")
    p.add_argument("--a", required=True, help="synthesis dir scored by `tts evaluate` (its dnsmos.tsv), or the file")
    p.add_argument("--b", required=True, help="the system to compare with (same utterance ids)")
    p.add_argument("--keys", default="ovrl_mos,sig_mos,bak_mos,p808_mos", help="comma-separated DNSMOS columns")
    p.add_argument("--bootstrap-samples", type=positive_int, default=1000, help="resamples of the test sentences")
    p.add_argument("--seed", type=nonnegative_int, default=12345, help="seed of the resampling")
    p.add_argument("--output", help="also write the results as JSON here")

    p = _parser(sub, "table", "markdown table of CER and predicted MOS per target and condition, with ASPF")
    p.add_argument("--exp-dir", required=True, help="the recipe's exp dir (tts_<target>_<condition>/, ref_<target>/)")
    p.add_argument("--targets", required=True, help="comma-separated target languages")
    p.add_argument("--conditions", default="scratch,phonemap,features", help="comma-separated conditions")
    p.add_argument("--source", default="ru", help="the pre-training language (shown in the header)")
    p.add_argument("--out", required=True, help="markdown file to write")


def _language_counts(args: argparse.Namespace, lang: str) -> Counter:
    from legokit.score.io import read_lines
    from legokit.tts.phones import phone_counts, phonemize, read_counts

    if args.counts:
        return read_counts(args.counts.replace("{lang}", lang))
    lines = read_lines(args.text.replace("{lang}", lang))[: args.max_lines]
    if args.kaldi_text:
        lines = [line.partition(" ")[2] for line in lines]
    return phone_counts(phonemize(lines, lang))


def _rank(args: argparse.Namespace) -> int:
    from legokit.fileio import write_atomic
    from legokit.tts.aspf import rank_sources

    target = _language_counts(args, args.target)
    ranking = rank_sources(target, {s: _language_counts(args, s) for s in args.sources.split(",") if s})
    lines = [f"{lang}\t{score:.4f}" for lang, score in ranking]
    print(f"# ASPF to {args.target}\n" + "\n".join(lines))
    if args.out:
        write_atomic("".join(line + "\n" for line in lines), args.out)
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from legokit.config import load_config
    from legokit.corpora.tts import CorpusConfig, prepare_espeak_language, prepare_festvox_ru

    cfg = load_config(CorpusConfig, args.config, args.overrides)
    if args.festvox:
        counts = prepare_festvox_ru(args.download_dir, args.out_dir, cfg)
    else:
        counts = prepare_espeak_language(args.lang, args.out_dir, cfg, args.download_dir, args.nj,
                                         args.text_only)
    log.info("%s: %s", args.lang, counts)
    return 0


def _compare_mos(args: argparse.Namespace) -> int:
    from legokit.score.io import write_json
    from legokit.score.significance import format_results
    from legokit.tts.evaluate import compare_mos, read_mos

    results = compare_mos(args.a, args.b, args.keys.split(","), args.bootstrap_samples, args.seed)
    count = len(read_mos(args.a))
    print(f"A = {args.a}, B = {args.b}: {count} utterances, {args.bootstrap_samples} paired resamples\n")
    print(format_results(results), end="")
    if args.output:
        write_json([r.as_dict() for r in results], args.output)
    return 0


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before anything is written, an output of the action that would overwrite one of its inputs."""
    from legokit.fileio import check_outputs

    def under(out_dir: str, *names: str) -> list[str]:
        return [f"{out_dir}/{name}" for name in names]

    if args.action == "rank-sources":
        pattern = args.text or args.counts
        check_outputs([pattern.replace("{lang}", lang) for lang in [args.target, *args.sources.split(",")]],
                      [args.out])
    elif args.action == "map-phones":
        check_outputs([args.target, args.source], [args.out])
    elif args.action == "compare-mos":
        check_outputs([args.a, args.b], [args.output])
    elif args.action == "table":
        check_outputs([args.exp_dir], [args.out])
    elif args.action == "synthesize":
        check_outputs([args.model, args.text], under(args.out_dir, "wav.scp", "text", "utt2spk", "spk2utt"))
    elif args.action == "dump":
        check_outputs([args.data_dir], under(args.out_dir, "dump.pt", "phones.txt", "phone_counts.tsv"))


def run(args: argparse.Namespace) -> int:
    from legokit.lock import lock_dir_rank0

    _check_outputs(args)
    if args.action == "train":  # a bad config is refused before --out-dir is created or locked
        from legokit.config import load_config
        from legokit.tts.experiment import TTSConfig

        load_config(TTSConfig, args.config, args.overrides)
    if args.action not in ("prepare", "dump", "train", "synthesize"):  # the actions that write --out-dir
        return _run(args)
    with lock_dir_rank0(args.out_dir):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.action == "prepare":
        return _prepare(args)
    if args.action == "dump":
        from legokit.tts.data import dump_tts
        from legokit.tts.phones import PhonemizerConfig

        stats = dump_tts(args.data_dir, args.out_dir, args.lang, phon_cfg=PhonemizerConfig(args.backend, nj=args.nj),
                         max_utts=args.max_utts, trim_db=args.trim_db)
        log.info("%s: %s", args.out_dir, stats)
    elif args.action == "rank-sources":
        return _rank(args)
    elif args.action == "map-phones":
        from legokit.tts.mapping import map_phones, write_mapping
        from legokit.tts.phones import read_counts

        rows = map_phones(list(read_counts(args.target)), read_counts(args.source), args.target_lang,
                          args.source_lang, args.distance)
        write_mapping(rows, args.out)
        log.info("%s: %d phones, %d mapped to another phone", args.out, len(rows),
                 sum(r.source != r.target for r in rows))
    elif args.action == "train":
        from legokit.train.trainer import TrainingInterrupted
        from legokit.tts.experiment import train_tts

        try:
            train_tts(args.config, args.overrides, args.out_dir)
        except TrainingInterrupted as stop:
            log.warning("%s", stop)
            return 128 + int(stop.signal)  # not finished: a recipe must not go on to synthesise
    elif args.action == "synthesize":
        from legokit.data.datadir import read_kaldi_map
        from legokit.tts.experiment import synthesize

        texts = dict(list(read_kaldi_map(args.text).items())[: args.max_utts or None])
        synthesize(args.model, texts, args.out_dir, args.length_scale, plots=args.plots)
    elif args.action == "evaluate":
        from legokit.tts.evaluate import evaluate_tts

        print(evaluate_tts(args.syn_dir, args.exp_dir, args.test_set, args.hyp))
    elif args.action == "compare-mos":
        return _compare_mos(args)
    else:
        from legokit.fileio import write_atomic
        from legokit.tts.evaluate import results_table

        write_atomic(results_table(args.exp_dir, args.targets.split(","), args.conditions.split(","), args.source),
                     args.out)
    return 0


if __name__ == "__main__":  # `python -m legokit.commands.tts ACTION ...` works before `tts` is in legokit/cli.py
    import sys

    from legokit import cli

    cli.COMMANDS.setdefault("tts", "legokit.commands.tts")
    sys.exit(cli.main(["tts", *sys.argv[1:]]))
