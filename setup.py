"""Thin shim so `python setup.py develop` and old pips work; metadata lives in pyproject.toml."""
from setuptools import setup

setup()
