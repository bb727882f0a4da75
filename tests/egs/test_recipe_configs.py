"""Every YAML config a recipe ships loads into the dataclass its stage reads (no unknown key, no bad value),
so a typo fails here rather than hours into a run."""

import re
from pathlib import Path

import pytest

from legokit.config import load_config
from legokit.corpora.tts import CorpusConfig
from legokit.tts.experiment import TTSConfig
from legokit.workflows.decode import DecodeConfig
from legokit.workflows.experiment import ExperimentConfig

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


#: recipes on the real corpus releases: every training config there is paper scale, for GPUs
PAPER_RECIPES = {"europarl_st", "wmt16_de_en", "wmt16_ro_en", "how2", "lego_reuse_paper", "lego_three_brick"}
#: config sets of those recipes sized for this machine's data on CPU (lego_three_brick/asr1/run_espeak.sh)
CPU_SETS = {"espeak", "reuse"}


def test_amp_is_auto_at_paper_scale_and_off_in_the_cpu_measured_presets():
    """Paper-scale training picks bf16 or fp16 for its GPU (train.amp=auto); demo/medium/long presets keep fp32,
    so that their CPU results stay as measured in docs/results.md."""
    checked = {}
    for path in CONFIGS:
        cls = config_class(path)
        if cls is DecodeConfig or cls is CorpusConfig:
            continue
        parts = path.relative_to(EGS).parts
        paper = "paper" in parts or (parts[0] in PAPER_RECIPES and not CPU_SETS & set(parts))
        checked[str(path.relative_to(EGS))] = (load_config(cls, str(path), []).train.amp, paper)
    wrong = {name: amp for name, (amp, paper) in checked.items() if amp != ("auto" if paper else "none")}
    assert not wrong, wrong
    assert sum(paper for _, paper in checked.values()) >= 17


def stated_updates(path: Path) -> int | None:
    """The number of updates a config says it makes: the first integer of its `# updates: N ...` comment."""
    match = re.search(r"^# updates: ([0-9,]+)", path.read_text(), re.MULTILINE)
    return int(match.group(1).replace(",", "")) if match else None


def test_warmup_is_a_fraction_of_the_updates_each_paper_config_states():
    """Every paper-scale config that warms up states its updates (`# updates: N = arithmetic`), and its warm-up
    ends within the first quarter of them: a warm-up longer than training never reaches the peak lr."""
    checked, missing, wrong = 0, [], {}
    for path in CONFIGS:
        if config_class(path) is not ExperimentConfig:
            continue
        rel = path.relative_to(EGS)
        paper = "paper" in rel.parts or rel.parts[0] in PAPER_RECIPES
        warmup = load_config(ExperimentConfig, str(path), []).optim.warmup_steps
        updates = stated_updates(path)
        if updates is None:
            if paper and warmup > 0:
                missing.append(str(rel))
            continue
        checked += 1
        if not warmup < updates or warmup > 0.25 * updates:
            wrong[str(rel)] = (warmup, updates)
    assert not missing, f"paper configs with a warm-up but no '# updates:' comment: {missing}"
    assert not wrong, f"warmup_steps not < 25% of the stated updates: {wrong}"
    assert checked >= 14
