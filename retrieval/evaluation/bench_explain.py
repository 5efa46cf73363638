"""Explanation latency and faithfulness for ``tailor bench`` (issue 15).

* ``explain_p50_ms`` / ``explain_p99_ms``: one "why this one?" (:meth:`Engine.explain`: the facts
  explanation, the neighbourhood's leave-one-out weights, the words) for a product ``modify`` showed,
  the words' feature cached as it is after the query; ``explain_facts_p50_ms``: the facts explanation
  alone (what the result cards carry); ``explain_edges_mean``: edges an explanation names.
* ``explain_faithfulness``: on the first test queries' top products, each weighed fact is checked by a
  real removal: the edge (and its reverse) taken out of the DGL graph, a full forward pass, the score
  recomputed (:func:`removal_drop`). ``top_drop`` is the mean |score change| of removing the edge the
  explanation ranks first, ``random_drop`` that of random edges of the same neighbourhood, ``wins`` the
  share of (top, random) pairs the top one moves more, ``sign`` the share where the weight's sign is
  the real change's.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import dgl
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from retrieval.engine.facade import Engine
from retrieval.engine.why import neighbourhood
from retrieval.graph import schema
from retrieval.metrics import percentiles
from retrieval.model.attribution import Fact
from retrieval.training.loop import caption_in_edges

log = logging.getLogger(__name__)

FAITHFUL_CASES = 20  # (query, product) pairs checked by real removals (a full forward each, ~0.5 s on the demo)
RANDOM_DRAWS = 3  # random edges per pair


def explain_cases(engine: Engine, n: int, *, per_query: int = 2, k: int = 10) -> list[tuple[str, str, str]]:
    """``(candidate id, words, shown image id)`` for the top products of the first test queries."""
    out: list[tuple[str, str, str]] = []
    for q in (q for q in engine.model.catalog.queries if q.split == "test"):
        for r in engine.modify(q.source, q.text, k=k)[:per_query]:
            out.append((q.source, q.text, r.image_id))
        if len(out) >= n:
            break
    return out[:n]


def fact_of(edge: Any) -> Fact:
    """The :class:`Fact` of an explanation edge."""
    return Fact((edge.src.ntype, edge.relation, edge.dst.ntype), edge.src.node_id, edge.dst.node_id)


def without(g: Any, fact: Fact) -> Any:
    """A copy of DGL graph ``g`` without the fact's edges (every copy, both directions)."""
    out = g
    for etype, u, v in ((fact.etype, fact.src, fact.dst), (schema.reverse(fact.etype), fact.dst, fact.src)):
        if etype not in out.canonical_etypes:
            continue
        src, dst = out.edges(etype=etype)
        eids = torch.nonzero((src == u) & (dst == v)).flatten()
        if len(eids):
            out = dgl.remove_edges(out, eids, etype=etype)
    return out


@torch.no_grad()
def full_score(engine: Engine, g: Any, cand: int, text: str, result: int) -> float:
    """The model's score of ``result`` for (``cand``, ``text``) on graph ``g``, from a full forward pass."""
    m = engine.model
    states = m.rgcn(g, {nt: g.nodes[nt].data["feat"] for nt in g.ntypes}, all_layers=True)
    feat = torch.as_tensor(engine.text_feature(text))[None]
    cap = m.rgcn.sink_states(states, schema.CAPTION, feat, caption_in_edges([cand], [engine.mentions(text)]))
    q = F.normalize(m.head(m.rgcn.readout(states, schema.IMAGE, torch.tensor([cand])), cap), dim=-1)
    e = F.normalize(m.rgcn.readout(states, schema.IMAGE, torch.tensor([result])), dim=-1)
    return float((q * e).sum())


def removal_drop(engine: Engine, cand: int, text: str, result: int, fact: Fact, base: float | None = None) -> float:
    """How much the score falls when ``fact`` is removed from the graph (full forward; ``base``: the score with it)."""
    g = engine.model.graph
    base = full_score(engine, g, cand, text, result) if base is None else base
    return base - full_score(engine, without(g, fact), cand, text, result)


def faithfulness(
    engine: Engine, cases: list[tuple[str, str, str]], *, draws: int = RANDOM_DRAWS, seed: int = 0
) -> dict:
    """Real removals of the top-weighted and of random neighbourhood edges (see the module docstring)."""
    rng = random.Random(seed)
    top, rand, wins, pairs, sign = [], [], 0, 0, 0
    for cand_id, text, result_id in tqdm(cases, desc="explanations vs removals", unit="pair"):
        cand, result = engine.node(cand_id), engine.node(result_id)
        exp = engine.explain(cand_id, text, result_id)
        weighted = [e for e in exp.edges if e.weight != 0.0]
        if not weighted:
            continue
        best = max(weighted, key=lambda e: abs(e.weight))
        best_fact = fact_of(best)
        base = full_score(engine, engine.model.graph, cand, text, result)
        drop = removal_drop(engine, cand, text, result, best_fact, base)
        sign += int(np.sign(drop) == np.sign(best.weight))
        others = [f for f in neighbourhood(engine.graph, exp, result, cand, engine.mentions(text)) if f != best_fact]
        for f in rng.sample(others, min(draws, len(others))):
            other = abs(removal_drop(engine, cand, text, result, f, base))
            rand.append(other)
            wins += int(abs(drop) > other)
            pairs += 1
        top.append(abs(drop))
    return {
        "pairs": len(top),
        "top_drop": float(np.mean(top)) if top else 0.0,
        "random_drop": float(np.mean(rand)) if rand else 0.0,
        "wins": wins / max(pairs, 1),
        "sign": sign / max(len(top), 1),
    }


def measure_explanations(engine: Engine, cfg: Any) -> dict:
    """``tailor bench``'s explanation figures on the demo-size engine (see the module docstring)."""
    cases = explain_cases(engine, cfg.queries, k=cfg.k)
    times, facts_times, weighed = [], [], []
    for i in tqdm(range(len(cases) + cfg.warmup), desc="explain", unit="call"):
        cand_id, text, result_id = cases[i % len(cases)]
        t = time.perf_counter()
        exp = engine.explain(cand_id, text, result_id)
        dt = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        engine.explainer.explain(
            engine.node(cand_id), engine.asked(text, engine.mentions(text)), engine.node(result_id)
        )
        dt_facts = (time.perf_counter() - t) * 1000
        if i >= cfg.warmup:
            times.append(dt)
            facts_times.append(dt_facts)
            weighed.append(len(exp.edges))
    out: dict[str, Any] = {**percentiles(times, "explain"), **percentiles(facts_times, "explain_facts")}
    out["explain_edges_mean"] = round(float(np.mean(weighed)), 1)
    out["explain_faithfulness"] = faithfulness(engine, cases[:FAITHFUL_CASES], seed=cfg.seed)
    log.info("bench: explanations %s", out)
    return out
