"""Training and trained-model artifacts: prepare a catalog, train, warm up, save and load.

Owns: :mod:`.config` (TrainConfig), :mod:`.prepare` (features, attributes, graph and query sets from a
catalog), :mod:`.loop` (``tailor train``), :mod:`.sim_edits` (simulated interactions as graph edits,
shared by the A.3 warm-up and ``tailor simulate``) and :mod:`.artifacts` (TrainedModel: save, load and
the inference API the engine reads).

May import: :mod:`retrieval.model`, :mod:`retrieval.graph`, :mod:`retrieval.features`,
:mod:`retrieval.catalog` and the top-level modules.
"""
