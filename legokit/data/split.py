"""Split a data dir into N parts for N jobs, and merge what the jobs wrote back into one result.

``split_data_dir(DIR, N)`` writes ``DIR/splitN/1 .. DIR/splitN/N`` (Kaldi's utils/split_data.sh layout):
contiguous runs of utterances in the data dir's order, sizes differing by at most one, every Kaldi file
filtered consistently — files keyed by utterance (``text``, ``text.<lang>``, ``utt2*``, ``segments``,
``feats.scp``, and ``wav.scp`` without segments), by speaker (``spk2utt`` rebuilt, ``spk2*``, ``cmvn.scp``)
and by recording when there are segments (``wav.scp``, ``reco2*``). Other files are not copied (logged).

``merge_hyps`` joins the hypotheses of the N decode jobs in the data dir's order (each id exactly once;
an id a job skipped is listed in ``OUT.skipped``); ``merge_features`` joins N feature dumps into one
index whose global CMVN statistics are the sum of the parts'.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from legokit.data.datadir import read_kaldi_map
from legokit.data.featdump import CMVN_FILE, FEATS_SCP, META_FILE, SKIPPED, write_skipped
from legokit.data.features import CMVNStats
from legokit.errors import LegokitError
from legokit.fileio import read_text_lines, write_atomic

log = logging.getLogger(__name__)
UTT_FILES = {"text", "utt2spk", "segments", "feats.scp", "utt2num_frames", "utt2dur", "utt2lang", "utt2category"}
SPK_FILES = {"spk2gender", "cmvn.scp"}


def utterance_ids(data_dir: str | Path) -> list[str]:
    """The utterance ids of a data dir in its order: those of ``text``, else of the first ``text.<lang>``."""
    root = Path(data_dir)
    if not root.is_dir():
        raise LegokitError(f"{root}: data directory not found")
    candidates = [root / "text"] if (root / "text").is_file() else sorted(root.glob("text.*"))
    if not candidates:
        raise LegokitError(f"{root}: no 'text' or 'text.<lang>' file to take the utterance ids from")
    return list(read_kaldi_map(candidates[0], allow_empty_value=True))


def _key_kind(name: str, has_segments: bool) -> str | None:
    """What the first column of file ``name`` holds: 'utt', 'spk', 'reco' or None (a file not split)."""
    if name in UTT_FILES or name.startswith(("text.", "utt2")):
        return "utt"
    if name in SPK_FILES or name.startswith("spk2"):
        return "spk"
    if name == "wav.scp":
        return "reco" if has_segments else "utt"
    if name.startswith("reco2") and has_segments:
        return "reco"
    return None


def split_data_dir(data_dir: str | Path, num: int) -> list[Path]:
    """Write ``data_dir/split<num>/{1..num}`` (replacing an older split of the same size); returns the parts."""
    root = Path(data_dir)
    ids = utterance_ids(root)
    if not 1 <= num <= len(ids):
        raise LegokitError(f"{root}: cannot split {len(ids)} utterances into {num} parts; use 1..{len(ids)} jobs")
    has_segments = (root / "segments").is_file()
    files = {p.name: p for p in sorted(root.iterdir()) if p.is_file() and not p.name.startswith(".")}
    kinds = {name: _key_kind(name, has_segments) for name in files if name != "spk2utt"}
    left_out = sorted(name for name, kind in kinds.items() if kind is None)
    if left_out:
        log.info("%s: not copied into the split (not keyed by utterance, speaker or recording): %s", root,
                 " ".join(left_out))
    maps = {name: read_kaldi_map(files[name], allow_empty_value=True) for name, kind in kinds.items() if kind}
    utt2spk, segments = maps.get("utt2spk", {}), maps.get("segments", {})
    for name, table in maps.items():
        missing = next((utt for utt in ids if kinds[name] == "utt" and utt not in table), None)
        if missing is not None:
            raise LegokitError(f"{files[name]}: utterance '{missing}' of {root} is missing; every utterance "
                               "file of a data dir must list every utterance")
    out = root / f"split{num}"
    tmp = root / f".split{num}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    size, extra = divmod(len(ids), num)
    start = 0
    for k in range(num):
        part = ids[start:start + size + (k < extra)]
        start += len(part)
        keys = {"utt": part, "spk": [], "reco": []}
        keys["spk"] = list(dict.fromkeys(utt2spk[u] for u in part if u in utt2spk))
        keys["reco"] = list(dict.fromkeys(segments[u].split()[0] for u in part if u in segments))
        part_dir = tmp / str(k + 1)
        part_dir.mkdir(parents=True)
        for name, table in maps.items():
            wanted = keys[kinds[name]]
            (part_dir / name).write_text("".join(f"{key} {table[key]}\n" for key in wanted if key in table),
                                         encoding="utf-8")
        if utt2spk:
            spk2utt: dict[str, list[str]] = {}
            for utt in part:
                spk2utt.setdefault(utt2spk[utt], []).append(utt)
            (part_dir / "spk2utt").write_text("".join(f"{s} {' '.join(u)}\n" for s, u in spk2utt.items()),
                                              encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return [out / str(k + 1) for k in range(num)]


def merge_hyps(data_dir: str | Path, parts: list[Path], out: Path) -> int:
    """Join hypothesis files ``parts`` (``<id> <text>``, and each ``<part>.skipped``) into ``out`` in the data
    dir's order; every id must come exactly once. Returns the number of hypotheses."""
    ids = utterance_ids(data_dir)
    hyps: dict[str, str] = {}
    skipped: dict[str, str] = {}
    source: dict[str, Path] = {}
    for part in parts:
        if not part.is_file():
            raise LegokitError(f"{part}: hypotheses of this split not found (its decode job did not finish); "
                               "re-run that job")
        listed = read_kaldi_map(part, allow_empty_value=True)
        part_skipped = part.with_name(part.name + ".skipped")
        dropped = read_kaldi_map(part_skipped, allow_empty_value=True) if part_skipped.is_file() else {}
        for utt in [*listed, *dropped]:
            if utt in source:
                raise LegokitError(f"{part}: id '{utt}' is also in {source[utt]}; the splits overlap")
            source[utt] = part
        hyps.update(listed)
        skipped.update(dropped)
    known = set(ids)
    stray = next((utt for utt in source if utt not in known), None)
    if stray is not None:
        raise LegokitError(f"{source[stray]}: id '{stray}' is not in {data_dir}; the splits are of another data dir")
    missing = [utt for utt in ids if utt not in source]
    if missing:
        raise LegokitError(f"{data_dir}: {len(missing)} id(s) are in no split's hypotheses, first '{missing[0]}'; "
                           "re-run the decode jobs")
    write_atomic("".join(f"{utt} {hyps[utt]}\n" for utt in ids if utt in hyps), out)
    write_skipped({utt: skipped[utt] for utt in ids if utt in skipped}, out.with_name(out.name + ".skipped"))
    return len(hyps)


def merge_features(data_dir: str | Path, parts: list[Path], out_dir: Path) -> Path:
    """Join the feature dumps ``parts`` (of the splits of ``data_dir``) into one index in ``out_dir``: the shards
    stay where they are (the index refers to them by relative path), the CMVN stats are summed, the fbank
    settings must agree. Returns the merged ``feats.scp``."""
    ids = set(utterance_ids(data_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / FEATS_SCP).unlink(missing_ok=True)
    lines: dict[str, str] = {}
    skipped: dict[str, str] = {}
    stats: CMVNStats | None = None
    meta: str | None = None
    for part in parts:
        scp = part / FEATS_SCP
        if not scp.is_file() or not (part / META_FILE).is_file():
            raise LegokitError(f"{part}: feature dump of this split not found or unfinished (no {FEATS_SCP}); "
                               "re-run its features job")
        part_meta = (part / META_FILE).read_text(encoding="utf-8")
        if meta is not None and json.loads(part_meta) != json.loads(meta):
            raise LegokitError(f"{part / META_FILE}: other fbank settings than {parts[0] / META_FILE}; dump every "
                               "split with the same options")
        meta = part_meta
        part_stats = CMVNStats.load(part / CMVN_FILE)
        if stats is None:
            stats = CMVNStats(len(part_stats.sum))
        stats.merge(part_stats)
        rel = Path(os.path.relpath(part.resolve(), out_dir.resolve()))
        if any(c.isspace() for c in str(rel)):
            raise LegokitError(f"{part}: the path from {out_dir} to this split holds white space, which a "
                               f"{FEATS_SCP} line cannot; use other directory names")
        for lineno, line in enumerate(read_text_lines(scp), start=1):
            fields = line.split()
            if len(fields) != 2:
                raise LegokitError(f"{scp}:{lineno}: malformed line; expected '<utt_id> <shard>:<first>:<num>'")
            utt, loc = fields
            if utt in lines or utt in skipped:
                raise LegokitError(f"{scp}:{lineno}: utterance '{utt}' is in another split too; the splits overlap")
            if utt not in ids:
                raise LegokitError(f"{scp}:{lineno}: utterance '{utt}' is not in {data_dir}")
            lines[utt] = f"{utt} {rel / loc}"
        if (part / SKIPPED).is_file():
            skipped.update(read_kaldi_map(part / SKIPPED, allow_empty_value=True))
    missing = sorted(ids - set(lines) - set(skipped))
    if missing:
        raise LegokitError(f"{data_dir}: {len(missing)} utterance(s) are in no split's feature dump, first "
                           f"'{missing[0]}'; re-run the features jobs")
    write_skipped(dict(sorted(skipped.items())), out_dir / SKIPPED)
    write_atomic(meta, out_dir / META_FILE)
    stats.save(out_dir / (CMVN_FILE + ".tmp"))
    os.replace(out_dir / (CMVN_FILE + ".tmp"), out_dir / CMVN_FILE)
    write_atomic("".join(lines[utt] + "\n" for utt in sorted(lines)), out_dir / FEATS_SCP)
    return out_dir / FEATS_SCP


def combine_data_dirs(sources: list[Path], out: Path, normalise_text: bool = False) -> int:
    """Write ``out``, the union of the data dirs ``sources`` (Kaldi's utils/combine_data.sh); return its size.

    Every Kaldi file all sources have is joined, sorted by key (utterance, speaker or recording); ``spk2utt`` is
    rebuilt; files only some sources have are left out (logged). An utterance id in two sources is an error, as
    is a speaker or recording listed with different values. ``normalise_text``: ``text`` holds the ASR scoring
    form (lower-case, punctuation removed: :func:`legokit.corpora.text.asr_normalise`) and ``text.cased`` the
    text as it was (a source's own ``text.cased`` is kept)."""
    from legokit.corpora.text import asr_normalise
    from legokit.fileio import check_outputs

    if not sources:
        raise LegokitError("no data dir to combine")
    roots = [Path(s) for s in sources]
    for root in roots:
        utterance_ids(root)  # exists and has a text file
    has_segments = all((r / "segments").is_file() for r in roots)
    names = [{p.name for p in r.iterdir() if p.is_file() and not p.name.startswith(".")} for r in roots]
    shared = set.intersection(*names) - {"spk2utt"}
    if normalise_text:
        shared.discard("text.cased")
    dropped = sorted(set.union(*names) - shared - {"spk2utt", "text.cased"})
    if dropped:
        log.info("not combined (not in every source, or not keyed by utterance, speaker or recording): %s",
                 " ".join(dropped))
    tables: dict[str, dict[str, str]] = {}
    owner: dict[str, Path] = {}
    for name in sorted(n for n in shared if _key_kind(n, has_segments)):
        joined = tables.setdefault(name, {})
        for root in roots:
            for key, value in read_kaldi_map(root / name, allow_empty_value=True).items():
                if name == "text" and key in owner and owner[key] != root:
                    raise LegokitError(f"{root / name}: utterance '{key}' is also in {owner[key]}; utterance ids "
                                       "of combined data dirs must differ")
                if key in joined and joined[key] != value:
                    raise LegokitError(f"{root / name}: '{key}' is '{value}' here but '{joined[key]}' in an "
                                       "earlier source")
                joined[key] = value
                if name == "text":
                    owner[key] = root
    if "text" not in tables:
        raise LegokitError(f"{' '.join(map(str, roots))}: not every source has a 'text' file")
    if normalise_text:
        cased: dict[str, str] = {}
        for root in roots:
            own = root / "text.cased"
            cased.update(read_kaldi_map(own if own.is_file() else root / "text", allow_empty_value=True))
        tables["text.cased"] = cased
        tables["text"] = {utt: asr_normalise(text) for utt, text in cased.items()}
        empty = next((u for u, t in tables["text"].items() if not t), None)
        if empty:
            raise LegokitError(f"utterance '{empty}' has no words left after normalisation ('{cased[empty]}')")
    if "utt2spk" in tables:
        spk2utt: dict[str, list[str]] = {}
        for utt in sorted(tables["utt2spk"]):
            spk2utt.setdefault(tables["utt2spk"][utt], []).append(utt)
        tables["spk2utt"] = {spk: " ".join(utts) for spk, utts in spk2utt.items()}
    if any(out.resolve() == root.resolve() for root in roots):
        raise LegokitError(f"{out}: the output dir is one of the data dirs to combine; write somewhere else")
    check_outputs(roots, [out / name for name in tables])
    out.mkdir(parents=True, exist_ok=True)
    for name, table in sorted(tables.items()):
        write_atomic("".join(f"{k} {v}\n" if v else f"{k}\n" for k, v in sorted(table.items())), out / name)
    return len(tables["text"])
