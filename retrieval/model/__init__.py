"""The learned parts: R-GCN, composition heads, losses, the attribute classifier, incremental re-embedding.

Owns: :mod:`.rgcn` (R-GCN with basis decomposition, TIRG / ComposeAE heads), :mod:`.losses`,
:mod:`.fast_head` (one query through a head in numpy), :mod:`.attributes` (AttributePredictor and the
attribute sources) and :mod:`.reembed` (k-hop re-embedding of cached node states after edits).

May import: :mod:`retrieval.graph`, :mod:`retrieval.features`, :mod:`retrieval.catalog` and the top-level modules.
"""
