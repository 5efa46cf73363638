"""Interactions without retraining: statements, the metadata tagger, the durable log, apply and undo.

Owns: :mod:`.records` / :mod:`.log` (the interaction log), :mod:`.statements` and :mod:`.tagger`
(``tagger_data``, ``tagger_train``: what a metadata statement says), :mod:`.overlay` (per-shopper
state), :mod:`.apply`, :mod:`.undo` and :mod:`.service` (validate -> log -> apply).

May import: :mod:`retrieval.index` and below; never :mod:`retrieval.engine` or above.
"""
