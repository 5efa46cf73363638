"""Measuring the engine: metrics, baselines, ``tailor evaluate``, ``tailor simulate``, ``tailor bench``, plots.

Owns: :mod:`.evaluate`, :mod:`.baselines`, :mod:`.simulate`, :mod:`.bench`, :mod:`.bench_interactions`
and :mod:`.plots`.

May import: :mod:`retrieval.engine` and everything below it.
"""
