"""Data preparation from sources reachable here (Debian packages, espeak-ng); see docs/data_sources.md."""

from legokit.prepare.debian import fetch_apt_lists, fetch_deb
from legokit.prepare.espeak import EspeakConfig, make_espeak_speech
from legokit.prepare.mt import MTPrepConfig, prepare_debian_mt
from legokit.prepare.summ import SumPrepConfig, prepare_debian_sum

__all__ = ["EspeakConfig", "MTPrepConfig", "SumPrepConfig", "fetch_apt_lists", "fetch_deb",
           "make_espeak_speech", "prepare_debian_mt", "prepare_debian_sum"]
