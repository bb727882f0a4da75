"""Property-based: the parsers of user text raise nothing but LegokitError on arbitrary input, and what
they accept satisfies their contract."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from legokit.config import load_config, parse_overrides, read_yaml
from legokit.data.datadir import read_kaldi_map, read_speech_dir, read_text_dir
from legokit.data.featdump import FeatureReader
from legokit.errors import LegokitError
from legokit.score.io import read_kaldi, read_lines
from legokit.workflows.experiment import ExperimentConfig

FAST = settings(max_examples=150, deadline=None)
#: text that looks like Kaldi files: ids, spaces, tabs, newlines, \r, a few non-ASCII and odd characters
KALDI_TEXT = st.text(st.sampled_from(list("ab1 \t\n\r.:|-é\x00\u2028")) | st.characters(), max_size=80)
RAW = st.binary(max_size=80) | KALDI_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _fresh(scratch: Path) -> Path:
    """An empty directory for one example."""
    root = scratch / "example"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    return root


def _only_legokit_errors(call: Callable[[], Any]) -> Any:
    """call(), or None when it raised LegokitError; any other exception fails the test."""
    try:
        return call()
    except LegokitError:
        return None


@FAST
@given(RAW)
def test_kaldi_map_lines(scratch: Path, raw: bytes) -> None:
    path = _fresh(scratch) / "text"
    path.write_bytes(raw)
    result = _only_legokit_errors(lambda: read_kaldi_map(path))
    if result is not None:
        for key, value in result.items():
            assert key and not any(c.isspace() for c in key) and value == value.strip() and value


@FAST
@given(RAW, RAW, RAW, RAW | st.none())
def test_speech_dir(scratch: Path, wav_scp: bytes, text: bytes, utt2spk: bytes, segments: bytes | None) -> None:
    root = _fresh(scratch)
    for name, raw in (("wav.scp", wav_scp), ("text", text), ("utt2spk", utt2spk), ("segments", segments)):
        if raw is not None:
            (root / name).write_bytes(raw)
    _only_legokit_errors(lambda: read_speech_dir(root))


@FAST
@given(RAW, RAW)
def test_mt_text_dir(scratch: Path, src: bytes, tgt: bytes) -> None:
    root = _fresh(scratch)
    (root / "text.de").write_bytes(src)
    (root / "text.en").write_bytes(tgt)
    examples = _only_legokit_errors(lambda: read_text_dir(root, ["de", "en"]))
    for ex in examples or []:
        assert set(ex.sentences) == {"de", "en"} and all(ex.sentences.values())


OVERRIDE = st.tuples(st.sampled_from(["optim.lr", "train.max_epochs", "data", "model.encoder.input", "x.y",
                                      "optim.betas", "", "a..b", "train"]) | st.text(max_size=12),
                     st.sampled_from(["=", "", "=="]),
                     KALDI_TEXT | st.sampled_from(["[1", "{", "!!python/object/apply:os.system [ls]", "null",
                                                   "[0.9, 0.98]", "1e-3", "true", "&a x", "*a"]))


@FAST
@given(st.lists(OVERRIDE.map("".join), max_size=4))
def test_config_overrides(scratch: Path, items: list[str]) -> None:
    _only_legokit_errors(lambda: parse_overrides(items))
    _only_legokit_errors(lambda: load_config(ExperimentConfig, None, items))


YAML_VALUE = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.sampled_from(["data", "optim", "lr", "train", "max_epochs",
                                                             "model", "encoder", "x"]), inner, max_size=3),
                          max_leaves=10)


@FAST
@given(YAML_VALUE | RAW)
def test_yaml_configs(scratch: Path, value: object) -> None:
    path = _fresh(scratch) / "conf.yaml"
    path.write_bytes(value if isinstance(value, bytes) else yaml.safe_dump(value).encode())
    _only_legokit_errors(lambda: read_yaml(path))
    _only_legokit_errors(lambda: load_config(ExperimentConfig, path))


@FAST
@given(RAW, RAW)
def test_score_files(scratch: Path, raw: bytes, meta: bytes) -> None:
    root = _fresh(scratch)
    (root / "hyp").write_bytes(raw)
    _only_legokit_errors(lambda: read_lines(root / "hyp"))
    _only_legokit_errors(lambda: read_kaldi(root / "hyp"))
    (root / "feats.scp").write_bytes(raw)
    (root / "fbank.json").write_bytes(meta)
    _only_legokit_errors(lambda: FeatureReader(root / "feats.scp"))
