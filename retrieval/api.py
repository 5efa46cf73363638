"""What the engine façade returns: results with their graph explanations.

These dataclasses are the contract between :mod:`retrieval.engine.facade` and the Rasa actions (and any
fake engine the action tests use). Everything is plain data, JSON-ready via :meth:`to_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class GraphNode:
    """A node of the information graph named in an explanation."""

    ntype: str  # "image" | "caption" | "attribute" | "concept" | "user"
    node_id: int  # id within its node type in the DGL graph
    label: str  # "color:black", an image id, a caption text...


@dataclass(frozen=True)
class GraphEdge:
    """An edge of the information graph named in an explanation.

    ``weight``: how much the result's model score drops when the edge (and its reverse) is left out
    (:mod:`retrieval.model.attribution`; positive: it raised the score); 0.0 where it was not weighed.
    """

    src: GraphNode
    relation: str  # canonical relation name, e.g. "has_attribute"
    dst: GraphNode
    weight: float = 0.0


@dataclass(frozen=True)
class Explanation:
    """Why a result was returned, from graph nodes and edges.

    Attributes:
        shared: attribute keys the result shares with the candidate ("fit:a-line").
        matched: attribute keys the result has that the text asked for ("color:black").
        replaced: (old, new) attribute keys where an exclusive group's value was replaced.
        missing: attribute keys the text asked for that the result lacks.
        concepts: EI-tree concepts on the result's path that the candidate shares.
        path: the result's EI-tree concept path, root first, ending with its category
            (``("clothing", "full-body", "dress")``), from its ``is_a`` edges; () without a category.
        edges: the graph edges behind the statements above (all exist in the graph); weighted by the
            model (``Engine.explain``) they come strongest first, with the other edges that mattered.
        text: one or two sentences for a shopper.
        stated: (attribute key, who) for each attribute above the result is credited with through a
            ``has_user_attribute`` edge, i.e. a person's statement rather than the catalog (who: the
            staff member, "a shopper, accepted by <staff>", or the viewing shopper for their own
            pending statement).
        query_edges: the words' own edges, weighted: the query caption (a node not in the graph, id -1,
            labelled with the words) ``modifies`` the candidate and ``mentions`` each attribute they name.
    """

    shared: tuple[str, ...] = ()
    matched: tuple[str, ...] = ()
    replaced: tuple[tuple[str, str], ...] = ()
    missing: tuple[str, ...] = ()
    concepts: tuple[str, ...] = ()
    edges: tuple[GraphEdge, ...] = ()
    text: str = ""
    stated: tuple[tuple[str, str], ...] = ()
    path: tuple[str, ...] = ()
    query_edges: tuple[GraphEdge, ...] = ()


@dataclass(frozen=True)
class Result:
    """One returned product photo."""

    image_id: str
    product_id: str
    score: float
    caption: str
    category: str
    image_path: str  # relative to the catalog root; the bot serves it over HTTP
    explanation: Explanation = field(default_factory=Explanation)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class Ranked(list[T]):
    """Results in order, plus what the request could not get (what ``modify`` returns).

    Attributes:
        unmet: asked values (``color:red``, ``-details:hood`` for a drop) that the shown results lack
            because fewer than the engine's ``min_satisfied`` products satisfy the whole request ("no
            linen skirts with a zip; here are the closest"); empty when the request was met.
        satisfied: how many returned products satisfy every requirement.
    """

    unmet: tuple[str, ...] = ()
    satisfied: int = 0


@dataclass(frozen=True)
class InteractionReceipt:
    """What an interaction recorded (returned by add_metadata / like / dislike; by undo: what it cancelled)."""

    interaction_id: int
    kind: str  # "metadata" | "like" | "dislike"
    user: str
    scope: str  # "global" | "user" | "pending" (untrusted metadata awaiting staff)
    image_ids: tuple[str, ...]
    attributes: tuple[str, ...] = ()
    new_attributes: tuple[str, ...] = ()
    message: str = ""


class EngineAPI(Protocol):
    """The façade the actions use; :class:`retrieval.engine.facade.Engine` implements it.

    Errors are :class:`retrieval.errors.TailorError` subclasses (UnknownItemError for an unknown
    id, InvalidQueryError for empty text / bad k, InteractionError for a statement with nothing
    to record).
    """

    def search(
        self,
        text: str,
        k: int = 10,
        filters: dict[str, Any] | None = None,
        *,
        user: str | None = None,
        exclude: tuple[str, ...] = (),
    ) -> list[Result]:
        """First turn: products matching words ("red summer dresses")."""
        ...

    def modify(
        self, candidate_id: str, text: str, k: int = 10, exclude: tuple[str, ...] = (), *, user: str | None = None
    ) -> Ranked[Result]:
        """Refinement: products like ``candidate_id`` with the modification ``text`` (and what it could not meet)."""
        ...

    def explain(self, candidate_id: str | None, text: str, result_id: str, *, user: str | None = None) -> Explanation:
        """Graph explanation of one result for the given query."""
        ...

    def add_metadata(self, image_id: str, statement: str, user: str) -> InteractionReceipt:
        """Record a statement ("that shirt is linen"): extract attributes, add nodes / edges, re-embed, update index."""
        ...

    def like(self, candidate_id: str | None, text: str, liked_ids: list[str], user: str) -> InteractionReceipt:
        """Record a like ("I like that"): link liked images to each other, the caption and the candidate."""
        ...

    def dislike(self, image_id: str, user: str) -> InteractionReceipt:
        """Record a dislike ("not this one"): hide it and lower similar ones for this user."""
        ...

    def undo(self, interaction_id: int, user: str) -> InteractionReceipt:
        """Undo ("undo that"): cancel one of ``user``'s interactions; the receipt describes it.

        Raises PermissionDeniedError for someone else's interaction unless ``user`` is trusted, and
        InteractionError for an unknown or already undone id.
        """
        ...

    def describe(self, image_id: str, *, user: str | None = None) -> Result:
        """The product behind an image id (caption, path, attributes as explanation.shared)."""
        ...
