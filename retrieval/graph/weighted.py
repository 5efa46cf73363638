"""An explanation's edges weighted by the model, and its words ordered by those weights (issue 15).

:func:`weighted_explanation` takes an :class:`~retrieval.api.Explanation` built from the graph's facts
(:mod:`retrieval.graph.explain`) and a weight per edge (from the R-GCN: how much the result's score drops
when the edge is left out, :mod:`retrieval.model.attribution`), and returns it with every edge's
``weight`` filled, the edges that mattered most first, and a text that leads with what drove the score:

    "Mostly because it has black instead of red as you asked and shares a-line with your pick; also has
    long-sleeve as you asked, but lacks pockets; shares knee-length and belt with your pick; EI path
    clothing > full-body > dress."

A reason's weight is the sum of its edges' weights: an asked value, the result's edge to it, the query
words' edge to it and, when it replaces a value of the pick's exclusive group, the pick's edge to that
value; a shared value, both images' edges to it; another edge (a like, another photo, a statement), its
own. The text still names every asked value the result has (in the lead or the "also has" clause) and
every one it lacks, and its EI path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from retrieval.api import Explanation, GraphEdge
from retrieval.catalog.taxonomy import CATEGORY
from retrieval.graph import schema
from retrieval.graph.explain import _a, full_list, human_list

EdgeKey = tuple[str, int, str, str, int]  # (src ntype, src id, relation, dst ntype, dst id)
LEAD = 2  # reasons named after "Mostly because"
LEAD_SHARE = 0.25  # a reason joins the lead when its weight is at least this share of the top one's


def edge_key(e: GraphEdge) -> EdgeKey:
    """The key of an explanation edge in a weight table."""
    return (e.src.ntype, e.src.node_id, e.relation, e.dst.ntype, e.dst.node_id)


def weighted_explanation(
    facts,
    base: Explanation,
    weights: dict[EdgeKey, float],
    *,
    result: int,
    candidate: int | None,
    extra: Iterable[GraphEdge] = (),
    query_edges: Iterable[GraphEdge] = (),
) -> Explanation:
    """``base`` with weighted edges (strongest first) and a text led by its strongest reasons.

    Args:
        facts: the graph facts the base explanation was read from (GraphFacts or a shopper's view).
        base: the explanation from the graph's facts.
        weights: weight per edge key (edges not in it weigh 0).
        result: the explained image node.
        candidate: the pick (None on a first search).
        extra: further weighted graph edges that mattered (likes, other photos, statements...).
        query_edges: the words' own edges (a caption node with id -1), weighted.
    """
    index = {k: i for i, k in enumerate(facts.attr_keys)}
    q_edges = tuple(query_edges)
    asked_w = {e.dst.node_id: e.weight for e in q_edges if e.relation == schema.MENTIONS}

    def has(image: int | None, attr: int) -> float:
        if image is None:
            return 0.0
        return sum(weights.get((schema.IMAGE, image, rel, schema.ATTRIBUTE, attr), 0.0) for rel in _ATTR_RELS)

    matched = [index[k] for k in base.matched]
    shared = [index[k] for k in base.shared]
    stated = dict(base.stated)
    swap = {index[new]: index[old] for old, new in base.replaced}  # asked value -> the pick's it replaces
    reasons: list[tuple[float, str, str, int]] = []  # (weight, kind, phrase, attribute)
    for a in matched:
        w = has(result, a) + asked_w.get(a, 0.0) + (has(candidate, swap[a]) if a in swap else 0.0)
        reasons.append((w, "asked", _asked(facts, a, stated), a))
    for a in shared:
        reasons.append((has(result, a) + has(candidate, a), "shared", _shared(facts, a, stated), a))
    for e in extra:
        reasons.append((e.weight, "extra", _extra(facts, e, candidate), -1))
    reasons.sort(key=lambda r: -r[0])
    top = reasons[0][0] if reasons else 0.0
    lead = [r for r in reasons[:LEAD] if r[0] > 0 and r[0] >= LEAD_SHARE * top]
    said = {(r[1], r[3]) for r in lead}
    parts = []
    if lead:
        parts.append("mostly because it " + _lead(facts, lead, stated, swap))
    rest_asked = [r[3] for r in reasons if r[1] == "asked" and ("asked", r[3]) not in said]
    missing = [index[k] for k in base.missing]
    asked = _asked_clause(facts, rest_asked, missing, stated, also=bool(lead), swap=swap)
    if asked:
        parts.append(asked)
    rest_shared = [r[3] for r in reasons if r[1] == "shared" and ("shared", r[3]) not in said]
    words = [_value(facts, a, stated) for a in rest_shared if facts.group(a) != CATEGORY]
    if words:
        parts.append(f"shares {human_list(words)} with your pick")
    if base.path:
        parts.append("EI path " + " > ".join(base.path))
    elif base.concepts:
        parts.append(f"both are {base.concepts[0]} pieces")
    if not parts:
        parts.append("close to your pick in the learned graph embedding" if candidate is not None else "")
    sentence = "; ".join(p for p in parts if p) + "."
    edges = [dataclasses.replace(e, weight=float(weights.get(edge_key(e), 0.0))) for e in base.edges]
    seen = {edge_key(e) for e in edges}
    edges += [e for e in extra if edge_key(e) not in seen]
    edges.sort(key=lambda e: -abs(e.weight))
    return dataclasses.replace(
        base,
        edges=tuple(edges),
        query_edges=q_edges,
        text=sentence[0].upper() + sentence[1:] if len(sentence) > 1 else base.text,
    )


_ATTR_RELS = (schema.HAS_ATTRIBUTE, schema.HAS_USER_ATTRIBUTE)


def _value(facts, attr: int, stated: dict[str, str]) -> str:
    """The value for the shopper, with who stated it when a person did."""
    who = stated.get(facts.attr_keys[attr])
    if who is None:
        return str(facts.value(attr))
    return f"{facts.value(attr)} ({'as you told me' if who == facts.viewer else f'stated by {who}'})"


def _lead(facts, lead: list[tuple[float, str, str, int]], stated: dict[str, str], swap: dict[int, int]) -> str:
    """The strongest reasons, asked values together and shared values together, strongest kind first."""
    kinds = list(dict.fromkeys(r[1] for r in lead))
    out = []
    for kind in kinds:
        attrs = [r[3] for r in lead if r[1] == kind]
        if kind == "asked":
            out.append(_asked_clause(facts, attrs, [], stated, also=False, swap=swap))
        elif kind == "shared":
            cats = [a for a in attrs if facts.group(a) == CATEGORY]
            words = [_value(facts, a, stated) for a in attrs if facts.group(a) != CATEGORY]
            if cats:
                out.append(_shared(facts, cats[0], stated))
            if words:
                out.append(f"shares {full_list(words)} with your pick")
        else:
            phrases = [r[2] for r in lead if r[1] == kind]
            values = [ph.removeprefix("has ") for ph in phrases if ph.startswith("has ")]
            out += [ph for ph in phrases if not ph.startswith("has ")]
            if values:
                out.append(f"has {full_list(values)}")
    return " and ".join(out)


def _asked(facts, attr: int, stated: dict[str, str]) -> str:
    if facts.group(attr) == CATEGORY:
        return f"is {_a(facts.value(attr))} as you asked"
    return f"has {_value(facts, attr, stated)} as you asked"


def _shared(facts, attr: int, stated: dict[str, str]) -> str:
    if facts.group(attr) == CATEGORY:
        return f"is {_a(facts.value(attr))} like your pick"
    return f"shares {_value(facts, attr, stated)} with your pick"


def _asked_clause(
    facts, has: list[int], lacks: list[int], stated: dict[str, str], *, also: bool, swap: dict[int, int]
) -> str:
    """What (else) the result has of the asked values, each with the pick's value it replaces ("black instead of
    red"), and what it lacks ("" when nothing is left to say).
    """
    out = []
    cats = [a for a in has if facts.group(a) == CATEGORY]
    words = [
        _value(facts, a, stated) + (f" instead of {facts.value(swap[a])}" if a in swap else "")
        for a in has
        if facts.group(a) != CATEGORY
    ]
    if cats:
        out.append(
            f"is {_a(facts.value(cats[0]))}"
            + (f" instead of {_a(facts.value(swap[cats[0]]))}" if cats[0] in swap else "")
        )
    if words:
        out.append(f"{'also has' if also else 'has'} {full_list(words)}")
    missing = [facts.value(a) for a in lacks if facts.group(a) == CATEGORY]
    lack_words = [facts.value(a) for a in lacks if facts.group(a) != CATEGORY]
    neg = []
    if missing:
        neg.append(f"is not {_a(missing[0])}" if len(missing) == 1 else f"is none of {full_list(missing)}")
    if lack_words:
        neg.append(f"lacks {full_list(lack_words)}")
    if out and neg:
        return f"{' and '.join(out)} as you asked, but {' and '.join(neg)}"
    if out:
        return f"{' and '.join(out)} as you asked"
    if neg:
        return f"{'but it ' if also else ''}{' and '.join(neg)}, which you asked for"
    return ""


def _extra(facts, e: GraphEdge, candidate: int | None) -> str:
    """A reason for an edge beyond the attributes: likes, other photos, a group concept."""
    rel = e.relation
    if rel in (schema.LIKED_WITH, schema.LIKED_FROM):
        other = e.dst if e.src.ntype == schema.IMAGE and e.dst.ntype == schema.IMAGE else e.src
        if candidate is not None and other.node_id == candidate:
            return "was liked together with your pick"
        return "was liked together with another product"
    if rel == schema.LIKES:
        return "was liked by a shopper"
    if rel == schema.SAME_PRODUCT:
        return "has another photo close to it"
    if rel == schema.MODIFIES:
        return f'was asked for before ("{e.src.label[:40]}")'
    if rel == schema.IS_A:
        name = e.dst.label.removeprefix(schema.GROUP_CONCEPT_PREFIX)
        return f"sits under {name} in the EI tree"
    if rel in _ATTR_RELS:
        value = facts.value(e.dst.node_id)
        return f"is also tagged {value}" if facts.group(e.dst.node_id) == CATEGORY else f"has {value}"
    return f"is linked by {rel.replace('_', ' ')}"
