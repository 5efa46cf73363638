"""Interactions without retraining: statements, the metadata tagger, the durable log, apply and undo.

Owns: :mod:`.records` / :mod:`.log` (the interaction log), :mod:`.statements` and :mod:`.tagger`
(what a metadata statement says; trained by :mod:`.tagger_train` on sentences from
:mod:`.tagger_sentences`, built of :mod:`.tagger_bio`, :mod:`.tagger_values`, :mod:`.tagger_noise`,
:mod:`.tagger_templates`), :mod:`.overlay` (per-shopper state), :mod:`.apply`, :mod:`.undo` and
:mod:`.service` (validate -> log -> apply; with :mod:`.settings`, :mod:`.validation` and
:mod:`.query_effects`: what a query reads of the interactions).

May import: :mod:`retrieval.index` and below; never :mod:`retrieval.engine` or above.
"""
