"""Typed configs: dataclasses filled from YAML files and dotted command-line overrides.

Every configurable part of legokit defines its own ``@dataclass`` (``EncoderConfig``, ``OptimConfig``,
...). This module turns YAML + overrides into those dataclasses and back:

    cfg = load_config(ExperimentConfig, "conf/train.yaml", ["optim.lr=1e-3", "model.encoder.num_layers=6"])

An unknown key is an error naming the key, where it came from (file or command line) and the closest
valid key; a value of the wrong type is an error naming the key and the expected type.

Numbers are checked where they enter, for every dataclass alike: a NaN or infinite value is refused for any
key; a field declared with :func:`ranged` (``dropout: float = ranged(0.1, "[0, 1)")``) must lie in its
interval; a config's ``validate()`` checks what involves several fields and raises :class:`InvalidValue`
naming its own field. Every such error names the dotted key (``model.encoder.dropout``) and the source.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from legokit.errors import LegokitError

T = TypeVar("T")
_INTERVAL = re.compile(r"^([\[(])\s*(\S+?)\s*,\s*(\S+?)\s*([\])])$")


class InvalidValue(LegokitError):
    """A config value outside what its field allows; :func:`from_dict` adds the source and the dotted key."""

    def __init__(self, key: str, expected: str, value: Any) -> None:
        super().__init__(f"key '{key}' must be {expected}, got {value!r}")
        self.key, self.expected, self.value = key, expected, value


@dataclasses.dataclass(frozen=True)
class Interval:
    """A range written as in mathematics: "[0, 1)", "(0, inf)", "[1, inf)"."""

    text: str

    def __post_init__(self) -> None:
        if not _INTERVAL.match(self.text):
            raise ValueError(f"not an interval: {self.text!r}")

    def __contains__(self, value: float) -> bool:
        opening, low, high, closing = _INTERVAL.match(self.text).groups()
        low_ok = value >= float(low) if opening == "[" else value > float(low)
        high_ok = value <= float(high) if closing == "]" else value < float(high)
        return low_ok and high_ok


def ranged(default: Any, interval: str) -> Any:
    """A dataclass field whose value (each item of a list; None passes) must lie in ``interval``."""
    return dataclasses.field(default=default, metadata={"range": Interval(interval)})


def check_ranges(cfg: Any) -> None:
    """Raise InvalidValue for the first field of dataclass ``cfg`` outside its :func:`ranged` interval."""
    for field in dataclasses.fields(cfg):
        interval, value = field.metadata.get("range"), getattr(cfg, field.name)
        for item in value if isinstance(value, list) else [value]:
            if interval is not None and item is not None and item not in interval:
                raise InvalidValue(field.name, f"in {interval.text}", value)


def _closest(key: str, valid: list[str], prefix: str = "") -> str:
    match = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
    if match:
        return f"; did you mean '{prefix}{match[0]}'?"
    return f"; valid keys under '{prefix or '<top>'}': {', '.join(sorted(valid))}"


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check/convert ``value`` to type ``tp`` (dataclass, Optional, list, Literal, scalars)."""
    origin = typing.get_origin(tp)
    if isinstance(value, float) and not math.isfinite(value):
        raise LegokitError(f"{source}: key '{key}' must be a finite number, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if value is None:
            return tp()
        if not isinstance(value, dict):
            raise LegokitError(f"{source}: key '{key}' must be a mapping (a section), got {value!r}")
        return from_dict(tp, value, source=source, prefix=f"{key}.")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        if len(options := [arg for arg in args if arg is not type(None)]) == 1:  # Optional[X]: X's own error
            return _convert(value, options[0], key, source)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, source)
            except LegokitError:
                continue
        raise LegokitError(f"{source}: key '{key}' expects {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise LegokitError(f"{source}: key '{key}' must be one of {list(choices)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise LegokitError(f"{source}: key '{key}' expects a list, got {value!r}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        return [_convert(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise LegokitError(f"{source}: key '{key}' expects a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None:
            return _convert(number, tp, key, source)
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if tp in (int, str, bool) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise LegokitError(f"{source}: key '{key}' expects {_type_name(tp)}, got {value!r}")


def from_dict(cls: type[T], data: dict[str, Any], source: str = "<dict>", prefix: str = "") -> T:
    """Build dataclass ``cls`` from a nested dict; unknown keys are errors naming the closest valid key."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    try:
        for key, value in data.items():
            if key not in fields:
                names = list(fields)
                raise LegokitError(f"{source}: unknown config key '{prefix}{key}'" + _closest(key, names, prefix))
            kwargs[key] = _convert(value, hints[key], f"{prefix}{key}", source)
        try:
            obj = cls(**kwargs)
        except TypeError as err:  # a required field is missing
            raise LegokitError(f"{source}: {err}") from None
        check_ranges(obj)
        validate = getattr(obj, "validate", None)
        if callable(validate):
            validate()
    except InvalidValue as err:
        raise LegokitError(f"{source}: key '{prefix}{err.key}' must be {err.expected}, got {err.value!r}") from None
    return obj


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict of a dataclass config (for YAML dumps, manifests and fingerprints)."""
    return dataclasses.asdict(cfg)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[1,2]"]`` -> nested dict; values parsed as YAML scalars/lists."""
    tree: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise LegokitError(f"command line: override '{item}' is not of the form key.subkey=value")
        key, raw = item.split("=", 1)
        if not key or any(not part for part in key.split(".")):
            raise LegokitError(f"command line: override '{item}' has an empty key")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as err:
            raise LegokitError(f"command line: override '{item}': value is not valid YAML "
                               f"({_yaml_problem(err)}); quote it or fix the brackets") from None
        _set_dotted(tree, key, value)
    return tree


def _yaml_problem(err: yaml.YAMLError) -> str:
    """One line for a YAML error: 'line L, column C: problem'."""
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return where + problem


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated within one mapping (plain PyYAML keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        keys = [self.construct_object(key_node, deep=deep) for key_node, _ in node.value]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice",
                                                        node.value[i][0].start_mark)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise LegokitError(f"config file {path} does not exist")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # a SafeLoader
    except UnicodeDecodeError as err:
        raise LegokitError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None
    except yaml.YAMLError as err:
        raise LegokitError(f"{path}: not valid YAML: {_yaml_problem(err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise LegokitError(f"{path}: the top level must be a mapping of config sections, got {kind}")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Load ``cls`` from an optional YAML file, then apply dotted overrides on top.

    Errors name the file for keys from the file, and "command line" for keys from overrides.
    """
    data = read_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "<defaults>"
    from_dict(cls, data, source=source)  # errors in the file name the file
    tree = parse_overrides(overrides or [])
    _check_keys(cls, tree, "command line")  # errors in overrides name the command line
    return from_dict(cls, _merge(data, tree), source=f"{source} + command line" if tree else source)


def _check_keys(cls: type, tree: dict[str, Any], source: str, prefix: str = "") -> None:
    """Validate only the key names of an override tree against ``cls``."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    for key, value in tree.items():
        if key not in names:
            raise LegokitError(f"{source}: unknown config key '{prefix}{key}'" + _closest(key, names, prefix))
        tp = hints[key]
        inner = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)] or [tp]
        if isinstance(value, dict) and dataclasses.is_dataclass(inner[0]):
            _check_keys(inner[0], value, source, prefix=f"{prefix}{key}.")


def dump_yaml(cfg: Any) -> str:
    """The full resolved config as YAML (``--print-config``)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None)
