"""The engine the actions call: the :class:`~retrieval.engine.facade.Engine` facade and its parts.

Owns: :mod:`.facade` (Engine, composing the parts), :mod:`.config` (EngineConfig), :mod:`.answer`
(Answerer: words -> mentions, query vector, EI-tree step, explained results), :mod:`.ranking`
(Ranker: nearest neighbours, search tiers, per-user adjustments), :mod:`.query_text` (QueryText: the
shopper's words as features), :mod:`.request` (the EI-tree step) and :mod:`.fake` (a small
deterministic engine on the same contract over ``fake_catalog/``, for dialogue tests and demos
without a trained model).

May import: :mod:`retrieval.interactions` and below.
"""
