"""The engine the actions call: the :class:`~retrieval.engine.facade.Engine` facade and its parts.

Owns: :mod:`.facade` (Engine, EngineConfig), :mod:`.ranking` (nearest neighbours, search tiers,
per-user adjustments), :mod:`.query_text` (the shopper's words as features) and :mod:`.fake` (a small
deterministic engine on the same contract over ``fake_catalog/``, for dialogue tests and demos
without a trained model).

May import: :mod:`retrieval.interactions` and below.
"""
