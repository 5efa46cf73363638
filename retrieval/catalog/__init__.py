"""The catalog and its vocabulary: records, the EI-tree taxonomy, dataset loaders, the demo generator.

Owns: :mod:`.records` (Catalog, ImageRecord, ModQuery, splits), :mod:`.taxonomy` (the EI tree),
:mod:`.text_attributes` (attribute labels read from text), :mod:`.negation` (words that drop a value),
:mod:`.wording` (known words vs keyboard noise), :mod:`.vocabulary` (the dialogue NLU vocabulary;
its sentences in :mod:`.vocabulary_templates`), :mod:`.datasets` (Fashion200K, FashionIQ, demo loaders
and ``tailor catalog check``) and :mod:`.demo` (the demo catalog generator).

May import: :mod:`retrieval.errors`, :mod:`retrieval.config` only (the bottom layer).
"""
