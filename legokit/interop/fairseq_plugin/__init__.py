"""fairseq ``--user-dir`` plugin: legokit's Anti-Focal loss as ``--criterion anti_focal``.

    fairseq-train data-bin --user-dir $(python -c 'import legokit.interop, os; print(os.path.dirname(
        legokit.interop.__file__))')/fairseq_plugin --criterion anti_focal --af-gamma 1 --af-alpha 0.5 ...

fairseq imports this directory as the top-level module ``fairseq_plugin``; it needs ``legokit`` importable
(``pip install -e <legokit checkout>`` in the fairseq venv, or the source checkout, which is put on the path if
needed; fairseq itself lives in a venv of its own: docs/peers.md).
"""

import sys
from pathlib import Path

try:
    import legokit  # noqa: F401
except ImportError:  # running from a source checkout: legokit/interop/fairseq_plugin -> checkout root
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from .criterion import AntiFocalCriterion, AntiFocalCriterionConfig  # noqa: E402

__all__ = ["AntiFocalCriterion", "AntiFocalCriterionConfig"]
