"""Every YAML config a recipe ships loads into the dataclass its stage reads (no unknown key, no bad value),
so a typo fails here rather than hours into a run."""

from pathlib import Path

import pytest

from legokit.config import load_config
from legokit.decode.runner import DecodeConfig
from legokit.experiment import ExperimentConfig
from legokit.tts.corpus import CorpusConfig
from legokit.tts.experiment import TTSConfig

EGS = Path(__file__).resolve().parents[2] / "egs"
# TEMPLATE/example is the stage machinery's dummy recipe: its config is read by no legokit command
CONFIGS = sorted(p for p in EGS.glob("*/*/conf/**/*.yaml") if "exp" not in p.parts and "example" not in p.parts)


def config_class(path: Path) -> type:
    """The dataclass a recipe feeds this file to, from its name (decode*, corpus*, tts*/finetune* in a TTS
    recipe; everything else is a `legokit train` experiment)."""
    name = path.stem
    if name.startswith("decode"):
        return DecodeConfig
    if name.startswith("corpus"):
        return CorpusConfig
    if name.startswith(("tts", "finetune")) and "tts1" in path.parts:
        return TTSConfig
    return ExperimentConfig


def test_configs_found():
    assert len(CONFIGS) > 60


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(EGS)))
def test_recipe_config_loads(path):
    load_config(config_class(path), str(path), [])
