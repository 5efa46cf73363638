"""How the engine answers: :class:`EngineConfig` (``MODEL/engine_config.json``), validated on creation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from retrieval.errors import ConfigError
from retrieval.features.onnx_runtime import RUNTIMES as TEXT_RUNTIMES
from retrieval.index.vectors import IndexConfig
from retrieval.interactions.settings import LIKE_SCOPES

ENGINE_CONFIG_FILE = "engine_config.json"


@dataclass(frozen=True)
class EngineConfig:
    """How the engine answers (``MODEL/engine_config.json`` when present).

    Attributes:
        index: the FAISS index (``kind`` "flat" exact, or "hnsw" for large catalogs).
        hnsw_above: catalogs with more images use HNSW even when ``index.kind`` is "flat" (an exact
            scan of 200,000 vectors costs tens of ms on this 2-core box); 0 disables the switch.
        max_k: most results one query may ask for.
        max_text_chars: longest query text (the channels read at most 2,000 characters, `bot/limits.py`).
        text_cache_size: query texts whose features are kept (LRU).
        soft_attributes: attributes picked by text-feature similarity when the words name none.
        prototype_images: most images averaged into a search tier's centroid.
        category_weight: weight of a mentioned category against one of another attribute in search tiers
            ("red dresses": a dress of another colour before a red skirt).
        dislike_penalty: how much a user's disliked images lower similar results (issue 4).
        like_scope: "global" (the paper's form: like edges in the shared graph) or "user" (a USER node;
            only that shopper's results change).
        like_boost: most a like lifts its liked images for a later query with similar words and candidate.
        like_text_min: least text-feature similarity of a query's words to a liked query's words.
        like_candidate_min: least embedding similarity of a query's candidate to a liked query's (unless equal).
        user_like_boost: how much a per-user like lifts that shopper's results similar to the liked images.
        user_fact_boost: lift (or drop) in a shopper's modify results of images their pending metadata
            says have (or no longer have) an asked-for attribute.
        reembed_tol: relative tolerance of the incremental re-embedding after an edit (None: the model's
            default; 0: exactly a full forward pass).
        tagger_dir: Flair metadata tagger folder (None: ``MODEL/tagger`` or ``MODEL/../tagger`` if present,
            else the taxonomy's phrases alone).
        tagger_min_score: least tagger confidence of a span the taxonomy does not confirm.
        log_url: the interaction log (None: ``sqlite:///MODEL/interactions.db``, created on first interaction).
        trusted: senders (staff) whose metadata applies to everyone at once; others' is pending.
        overfetch: results fetched per requested one when per-user adjustments re-rank them.
        tier_index_min: search tiers larger than this are ranked through the index first.
        one_photo_per_product: show a product once (its best photo); excluding or picking a photo
            excludes its product's other photos too.
        explain: attach explanations to results.
        require_known_word: refuse (InvalidQueryError) words with no known word at all ("asdkjh qwe",
            :mod:`retrieval.catalog.wording`) instead of answering noise with arbitrary products.
        text_runtime: "onnx" (the query words through an ONNX export of the text encoder, the same vector
            ~3x faster; exported once into ``MODEL/query_encoder``) or "torch".
    """

    index: IndexConfig = field(default_factory=IndexConfig)
    hnsw_above: int = 50_000
    max_k: int = 1000
    max_text_chars: int = 2000
    text_cache_size: int = 4096
    soft_attributes: int = 3
    prototype_images: int = 512
    category_weight: float = 1.5
    dislike_penalty: float = 0.3
    like_scope: str = "global"
    like_boost: float = 0.25
    like_text_min: float = 0.75
    like_candidate_min: float = 0.9
    user_like_boost: float = 0.1
    user_fact_boost: float = 0.2
    reembed_tol: float | None = None
    tagger_dir: str | None = None
    tagger_min_score: float = 0.4
    log_url: str | None = None
    trusted: tuple[str, ...] = ()
    overfetch: int = 3
    tier_index_min: int = 5000
    one_photo_per_product: bool = True
    explain: bool = True
    text_runtime: str = "onnx"
    require_known_word: bool = True

    def __post_init__(self) -> None:
        if self.like_scope not in LIKE_SCOPES:
            raise ConfigError(
                f"EngineConfig.like_scope {self.like_scope!r} is unknown.", fix=f"use one of {', '.join(LIKE_SCOPES)}"
            )
        if self.text_runtime not in TEXT_RUNTIMES:
            raise ConfigError(
                f"EngineConfig.text_runtime {self.text_runtime!r} is unknown.",
                fix=f"use one of {', '.join(TEXT_RUNTIMES)}",
            )
        if isinstance(self.trusted, str):
            raise ConfigError("EngineConfig.trusted must be a list of sender ids.", fix='write ["staff-anna"]')
        object.__setattr__(self, "trusted", tuple(self.trusted))

    def index_for(self, n_images: int) -> IndexConfig:
        """The index configuration for a catalog of ``n_images`` (HNSW above ``hnsw_above``)."""
        if self.index.kind == "flat" and self.hnsw_above and n_images > self.hnsw_above:
            return dataclasses.replace(self.index, kind="hnsw")
        return self.index
