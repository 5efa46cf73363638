"""The searchable state: the FAISS vector index and the edits that keep graph and index in step.

Owns: :mod:`.vectors` (VectorIndex: exact or HNSW inner product over image embeddings),
:mod:`.state` (GraphState: graph, facts, embeddings and index, edited together) and :mod:`.heap`
(keeping the garbage collector off long-lived engine objects).

May import: :mod:`retrieval.training`, :mod:`retrieval.model`, :mod:`retrieval.graph` and below.
"""
