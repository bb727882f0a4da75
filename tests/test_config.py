"""Config loading: YAML + dotted overrides into dataclasses; unknown keys and bad types are named."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from legokit.config import dump_yaml, load_config, parse_overrides
from legokit.errors import LegokitError


@dataclass
class Enc:
    num_layers: int = 2
    window: int | list[int] | None = None
    kind: Literal["transformer", "conformer"] = "transformer"


@dataclass
class Optim:
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])


@dataclass
class Exp:
    encoder: Enc = field(default_factory=Enc)
    optim: Optim = field(default_factory=Optim)
    name: str = "x"


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("encoder:\n  num_layers: 4\n  window: [20, 40]\noptim:\n  lr: 1\n")
    cfg = load_config(Exp, path, ["optim.lr=5e-4", "encoder.kind=conformer", "name=run1"])
    assert cfg.encoder.num_layers == 4 and cfg.encoder.window == [20, 40]
    assert cfg.optim.lr == 5e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.encoder.kind == "conformer" and cfg.name == "run1"
    assert load_config(Exp, None, ["encoder.window=40"]).encoder.window == 40
    assert "num_layers: 4" in dump_yaml(cfg)


def test_unknown_key_in_file_names_file_and_closest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("encoder:\n  num_layer: 4\n")
    with pytest.raises(LegokitError, match=r"c.yaml.*'encoder.num_layer'.*did you mean 'encoder.num_layers'"):
        load_config(Exp, path)


def test_unknown_override_names_command_line():
    with pytest.raises(LegokitError, match=r"command line.*'optim.lrr'.*'optim.lr'"):
        load_config(Exp, None, ["optim.lrr=1"])
    with pytest.raises(LegokitError, match="key.subkey=value"):
        parse_overrides(["optim.lr"])


def test_wrong_type_and_literal(tmp_path):
    with pytest.raises(LegokitError, match=r"'encoder.num_layers' expects int"):
        load_config(Exp, None, ["encoder.num_layers=abc"])
    with pytest.raises(LegokitError, match=r"must be one of \['transformer', 'conformer'\]"):
        load_config(Exp, None, ["encoder.kind=rnn"])
    path = tmp_path / "bad.yaml"
    path.write_text("encoder: [1, 2\n")
    with pytest.raises(LegokitError, match="bad.yaml: not valid YAML"):
        load_config(Exp, path)
    with pytest.raises(LegokitError, match="does not exist"):
        load_config(Exp, tmp_path / "missing.yaml")
