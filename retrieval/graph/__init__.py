"""The information graph: node and relation names, the DGL heterograph, its flat adjacency, explanations.

Owns: :mod:`.schema` (node types and relations, defined once), :mod:`.build` (InfoGraph: the DGL
heterograph and its id maps), :mod:`.facts` (GraphFacts / Csr: adjacency as flat arrays),
:mod:`.adjacency` (per-relation numpy CSR for incremental re-embedding), :mod:`.buffer` (edits not yet
written into DGL) and :mod:`.explain` (explanations read from graph facts).

May import: :mod:`retrieval.catalog`, :mod:`retrieval.api`, :mod:`retrieval.errors`, :mod:`retrieval.config`.
"""
