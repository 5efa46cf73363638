"""The engine the actions call: the :class:`~retrieval.engine.facade.Engine` facade and its parts.

Owns: :mod:`.facade` (Engine, EngineConfig), :mod:`.ranking` (nearest neighbours, search tiers,
per-user adjustments) and :mod:`.query_text` (the shopper's words as features).

May import: :mod:`retrieval.interactions` and below.
"""
