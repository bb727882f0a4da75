"""Interoperability with other toolkits (optional extras; never imported by the core).

- :mod:`legokit.interop.fairseq`: import a fairseq pre-norm Transformer's weights (no fairseq needed).
- ``legokit/interop/fairseq_plugin``: a fairseq ``--user-dir`` registering legokit's anti-focal criterion.
"""
