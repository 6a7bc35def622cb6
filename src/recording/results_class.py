"""The results class of a run: which version of the code's *behaviour* produced its numbers.

``src.run`` writes ``results_class`` into every ``result.json``; the reproduction harness
leaves a record out of its tables (and runs it again) when the class differs from the one the
current code writes. Config changes are caught separately (``src.reproduce.freshness`` composes
the record's overrides with the current configs); bump a version here for a change of *code*
that changes a method's numbers for the same config (docs/reproduction.md, "Results ledger"):

- ``common``: data loading and preprocessing, the metrics (ACC matching, NMI, ARI), seeding,
  anything every method goes through;
- ``kmeans``: k-means (``src.methods.kmeans``);
- ``sae``: the stacked autoencoder's pretraining and the DEC family on top of it
  (``ae_kmeans``, ``dec_nobp``, ``dec``): its layers, losses, optimisers, KL step, stop rule;
- ``dac``: DAC's network, pair selection, loss, schedule, tactics (``dac``, ``dac_star``,
  ``dac_online``).

A pure speed-up that keeps the numbers (bit for bit, or within the run-to-run spread the tests
accept) bumps nothing.
"""

from __future__ import annotations

from src.core.config_groups import declared

RESULTS_VERSION: dict[str, int] = {"common": 1, "kmeans": 1, "sae": 1, "dac": 1}


def family(method: str) -> str:
    """The family whose version covers ``method``: the ``family`` its ``conf/method/`` YAML
    declares (``sae``, ``dac``), else a family of its own."""
    return str(declared("method", method, "family", method))


def results_class(method: str) -> str:
    """``common<N>/<family><M>``, e.g. ``common1/sae1``: what ``result.json`` records."""
    fam = family(method)
    return f"common{RESULTS_VERSION['common']}/{fam}{RESULTS_VERSION.get(fam, 1)}"
