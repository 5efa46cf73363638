"""The demo catalog generator: Pillow-rendered products in the Fashion200K layout plus ``meta/``.

Entry point: :func:`retrieval.catalog.demo.generate.generate_demo_catalog` (``tailor catalog demo``).
Modules: ``products`` (families, captions, split), ``queries`` (single / multi modification
queries and their texts), ``render`` (taxonomy values -> drawing features -> photos), with
``silhouettes``, ``trims``, ``textures`` and ``photo`` as its drawing parts.
"""
