"""Bricks packaged in the Hugging Face hub layout, and hub ids resolved through ``huggingface_hub``.

A packaged folder (``legokit brick export --format hf OUT/``; docs/export.md) holds a chain of one or more
bricks::

    model.safetensors   every brick's tensors in one file, keys prefixed "bricks.<i>." (chain order)
    config.json         format, legokit version, vocabulary ids, and per brick: its manifest (kind, arch
                        config, interfaces and their signatures, length statistics, training record), CMVN
                        of a speech encoder, its tokenizer files and the sha256 of the brick
    <name>.model        the sentencepiece models (source.model, target.model, interface<i>.model)
    README.md           the model card (YAML front matter for the hub, then task, data, metrics, limits)

Loading reads JSON, safetensors and sentencepiece files only: nothing is unpickled and no code runs. Each
brick's checksum is the one of its brick file (:func:`legokit.lego.bricks.brick_payload`), so a folder
loads exactly the bricks that were exported, and an edited config.json, weight or tokenizer is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import yaml

from legokit import __version__
from legokit.data.tokenizer import Tokenizer
from legokit.errors import LegokitError
from legokit.fileio import write_atomic
from legokit.lego.bricks import BRICK_FORMAT, Brick, brick_from_payload, brick_payload, chain_task
from legokit.lego.interface import InterfaceVocab

FOLDER_FORMAT = "legokit-hf/1"
HUB_PREFIX = "hf://"
CONFIG, WEIGHTS, CARD = "config.json", "model.safetensors", "README.md"
_TASKS = {"mt": "translation", "asr": "automatic-speech-recognition", "sum": "summarization"}


# --- export -------------------------------------------------------------------------------------------
def _tokenizer_names(bricks: list[Brick]) -> dict[bytes, str]:
    """File stem per distinct sentencepiece model: the chain's target, its source, then the interfaces."""
    slots = [(len(bricks) - 1, "output", "target"), (0, "input", "source")]
    slots += [(i, "output", f"interface{i}") for i in range(len(bricks))]
    slots += [(i, "input", f"interface{i - 1}") for i in range(1, len(bricks))]
    names: dict[bytes, str] = {}
    for i, role, name in slots:
        tok = bricks[i].tokenizers.get(role)
        if tok is not None and tok.model_bytes not in names:
            names[tok.model_bytes] = name
    return names


def _brick_config(brick: Brick, payload: dict[str, Any], names: dict[bytes, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": brick.kind, "manifest": json.loads(payload["manifest"]),
                             "tokenizers": {role: f"{names[tok.model_bytes]}.model"
                                            for role, tok in sorted(brick.tokenizers.items())},
                             "sha256": payload["sha256"]}
    if brick.kind == "encoder" and brick.module.cfg.input == "speech":
        entry["cmvn"] = {"mean": brick.module.cmvn_mean.tolist(), "std": brick.module.cmvn_std.tolist()}
    return entry


def _front_matter(card: dict[str, Any]) -> str:
    return "---\n" + yaml.safe_dump(card, sort_keys=False, allow_unicode=True) + "---\n"


def model_card(bricks: list[Brick], license: str = "unknown", languages: list[str] | None = None,
               data_license: str | None = None) -> str:
    """README.md for the hub: YAML front matter, then task, languages, data, metrics, intended use, limits."""
    training = next((b.manifest.get("training") or {} for b in reversed(bricks) if b.manifest.get("training")), {})
    data_cfg = training.get("config", {}).get("data", {})
    task = _TASKS.get(chain_task(bricks), "translation")
    languages = languages or [lang for lang in (data_cfg.get("src_lang"), data_cfg.get("tgt_lang")) if lang]
    data = training.get("data", {})
    datasets = [Path(str(d)).name for d in (data.get("train"), data.get("valid")) if d]
    data_license = data_license or data.get("license") or "not recorded"
    metrics = [m for b in bricks for m in b.manifest.get("metrics", [])]
    front = {"library_name": "legokit", "license": license, "tags": ["legokit", "legonn", task, "ctc"],
             "pipeline_tag": task, "language": languages or None, "datasets": datasets or None,
             "metrics": sorted({str(m.get("name")) for m in metrics}) or None}
    chain = " → ".join(f"{b.kind} ({b.manifest['input_interface'].get('type')} → "
                       f"{b.manifest['output_interface'].get('type')})" for b in bricks)
    lines = [_front_matter({k: v for k, v in front.items() if v is not None}),
             f"# legokit {task} bricks", "", f"A chain of {len(bricks)} LegoNN brick(s): {chain}.", "",
             "## Task", "", f"{task}; load with `legokit.load(\"hf://<owner>/<name>\")` or pass the folder "
             "wherever legokit takes a brick file (`legokit compose`, `legokit decode --model`).", "",
             "## Languages", "", ", ".join(languages) if languages else "not recorded", "",
             "## Training data", "",
             f"- train: {data.get('train', 'not recorded')} ({data.get('samples', '?')} samples); "
             f"valid: {data.get('valid', 'not recorded')}",
             f"- licence of the training data: {data_license}",
             f"- steps: {training.get('steps', 'not recorded')}, epochs: {training.get('epochs', 'not recorded')}",
             "", "## Metrics", ""]
    lines += ([f"- {m.get('name')}: {m.get('value')} on {m.get('set', '?')} (measured with `{m.get('command', '?')}`)"
               for m in metrics] or ["not recorded"])
    lines += ["", "## Intended use", "",
              "Research and evaluation of modular (LegoNN) speech and translation models; the bricks can be "
              "re-composed with other bricks that share their interface signatures (config.json).", "",
              "## Limits", "",
              "Trained only on the data above: expect errors on other domains, languages and recording "
              "conditions. No safety filtering of outputs. The metrics above are the only measured quality.", ""]
    return "\n".join(lines)


def export_folder(bricks: list[Brick], out: str | Path, license: str = "unknown",
                  languages: list[str] | None = None, data_license: str | None = None) -> Path:
    """Write ``bricks`` (chain order) as a hub-layout folder ``out``; returns it."""
    from safetensors.torch import save

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = _tokenizer_names(bricks)
    payloads = [brick_payload(b) for b in bricks]
    # one tensor per key (tied weights are stored twice: safetensors refuses shared storage)
    tensors = {f"bricks.{i}.{k}": v.contiguous().clone() for i, p in enumerate(payloads)
               for k, v in p["state_dict"].items()}
    config = {"format": FOLDER_FORMAT, "library_name": "legokit", "legokit_version": __version__,
              "vocabulary_ids": bricks[-1].vocabulary.describe(), "weights": WEIGHTS,
              "bricks": [_brick_config(b, p, names) for b, p in zip(bricks, payloads)]}
    for model_bytes, name in names.items():
        write_atomic(model_bytes, out / f"{name}.model")
    write_atomic(save(tensors, metadata={"format": FOLDER_FORMAT}), out / WEIGHTS)
    write_atomic(json.dumps(config, indent=2, sort_keys=True), out / CONFIG)
    write_atomic(model_card(bricks, license, languages, data_license), out / CARD)
    return out


# --- loading ------------------------------------------------------------------------------------------
def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LegokitError(f"{folder}: not a legokit brick folder (no {CONFIG}); export one with "
                           "`legokit brick export --format hf`") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise LegokitError(f"{path}: unreadable JSON ({err})") from None
    if not isinstance(config, dict) or config.get("format") != FOLDER_FORMAT:
        raise LegokitError(f"{path}: not a legokit brick folder config (expected \"format\": \"{FOLDER_FORMAT}\")")
    if not isinstance(config.get("bricks"), list) or not config["bricks"]:
        raise LegokitError(f"{path}: key 'bricks' must be a non-empty list of brick entries")
    return config


def _check_signatures(entry: dict[str, Any], tokenizers: dict[str, Tokenizer], origin: str) -> None:
    """Each vocabulary interface's signature must be the one of the tokenizer shipped for it."""
    manifest = entry["manifest"]
    for role in ("input", "output"):
        interface, tok = manifest.get(f"{role}_interface") or {}, tokenizers.get(role)
        if tok is None or interface.get("type") not in ("vocabulary", "tokens"):
            continue
        actual = InterfaceVocab.from_tokenizer(tok).signature
        if interface.get("signature") != actual:
            raise LegokitError(f"{origin}: manifest.{role}_interface.signature is {interface.get('signature')!r} "
                               f"but {entry['tokenizers'][role]} has signature {actual!r}; the folder was edited "
                               "or mixed — re-export it")


def load_bricks_from_folder(folder: str | Path) -> list[Brick]:
    """Load a hub-layout folder's bricks in chain order (verified like brick files)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    config = _read_config(folder)
    try:
        tensors = load_file(folder / WEIGHTS)
    except (OSError, SafetensorError) as err:
        raise LegokitError(f"{folder / WEIGHTS}: unreadable safetensors file ({err}); re-export the folder") from None
    bricks = []
    for i, entry in enumerate(config["bricks"]):
        origin = f"{folder / CONFIG}[bricks.{i}]"
        if not (isinstance(entry, dict) and isinstance(entry.get("manifest"), dict)
                and isinstance(entry.get("tokenizers"), dict)):
            raise LegokitError(f"{origin}: a brick entry needs 'manifest' and 'tokenizers' objects")
        tokenizers = {}
        for role, name in entry["tokenizers"].items():
            path = folder / Path(str(name)).name  # a bare file name inside the folder
            if not path.is_file():
                raise LegokitError(f"{origin}: tokenizer {role!r} names {name!r}, which is not in {folder}")
            tokenizers[role] = Tokenizer(path.read_bytes(), origin=str(path))
        _check_signatures(entry, tokenizers, origin)
        prefix = f"bricks.{i}."
        payload = {"format": BRICK_FORMAT, "manifest": json.dumps(entry["manifest"], sort_keys=True),
                   "state_dict": {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                   "tokenizers": {role: torch.frombuffer(bytearray(t.model_bytes), dtype=torch.uint8)
                                  for role, t in tokenizers.items()},
                   "sha256": entry.get("sha256")}
        bricks.append(brick_from_payload(payload, origin))
    return bricks


def is_hub_id(source: str | Path) -> bool:
    """True for ``hf://owner/name[@revision]`` (a plain ``owner/name`` is always a path)."""
    return isinstance(source, str) and source.startswith(HUB_PREFIX)


def resolve_hub_id(source: str) -> Path:
    """``hf://owner/name[@revision]`` -> the snapshot folder in the Hugging Face cache (downloaded unless
    ``HF_HUB_OFFLINE=1``, which reads the cache only)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    repo_id, _, revision = source.removeprefix(HUB_PREFIX).partition("@")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        return Path(snapshot_download(repo_id, revision=revision or None, local_files_only=offline,
                                      cache_dir=os.environ.get("HF_HUB_CACHE")))  # read now, not at import
    except LocalEntryNotFoundError:
        raise LegokitError(f"{source}: not in the Hugging Face cache ({os.environ.get('HF_HUB_CACHE', 'default')}) "
                           "and HF_HUB_OFFLINE=1 forbids downloading it; download it once with network access"
                           ) from None
    except (HFValidationError, HfHubHTTPError, RepositoryNotFoundError, OSError) as err:
        raise LegokitError(f"{source}: cannot fetch the hub repository ({type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else ''})") from None
