"""legokit: modular speech and translation toolkit built from LegoNN bricks."""

__version__ = "0.1.0"
