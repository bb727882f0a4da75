"""Load bricks from wherever they are: a brick file, a model file, a packaged folder or an ``hf://`` hub id.

One entry point above :mod:`legokit.lego.bricks` (the file format) and :mod:`legokit.lego.hub` (folders in the
Hugging Face layout), so that neither needs the other to dispatch.
"""

from __future__ import annotations

from pathlib import Path

from legokit.errors import LegokitError
from legokit.lego import hub
from legokit.lego.bricks import Brick, read_brick_file


def load_bricks(path: str | Path) -> list[Brick]:
    """The bricks at ``path`` in chain order: a brick file, a model file, a packaged folder or a hub id."""
    if hub.is_hub_id(path):
        return hub.load_bricks_from_folder(hub.resolve_hub_id(path))
    if Path(path).is_dir():
        return hub.load_bricks_from_folder(path)
    return read_brick_file(path)


def load_brick(path: str | Path) -> Brick:
    """The single brick at ``path``; a composed model is refused."""
    bricks = load_bricks(path)
    if len(bricks) != 1:
        raise LegokitError(f"{path}: is a composed model of {len(bricks)} bricks, not a single brick")
    return bricks[0]
