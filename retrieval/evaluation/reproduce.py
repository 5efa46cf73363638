"""``tailor reproduce``: Tables 1, 3, 4 and 5 on a generated catalog, for tailor's model and the paper's.

Steps, each skipped when its output is already there for the same settings: generate the catalog
(``WORK/catalog``, :func:`~retrieval.catalog.demo.generate.generate_demo_catalog` with the profile),
train the named configurations (``WORK/engine-default``, ``WORK/engine-paper``,
:data:`~retrieval.training.config.NAMED_CONFIGS`) and Table 5's threshold variants of the default
(``WORK/engine-t<threshold>``), then:

* Table 1: every ``tailor evaluate`` method on the default engine plus ``graph-predicted-paper``;
* Table 3: ``tailor simulate`` more-metadata (AA1-AA5) per configuration, plus ``filter``: the best
  learned baseline with an exact filter on the attributes AA2 states (a result must carry the
  candidate's stated attributes, a mentioned one replacing its group's);
* Table 4: i-like-that (BB1, BB2: graph only, no ranking bonus) and its held-out variant (likes on half
  the test queries, measured on the other half's queries close to a liked one);
* Table 5: graph-predicted R@k per attribute-confidence threshold.

Writes ``OUT/results.json`` (keys in :func:`reproduce`), ``OUT/report.md`` and plots.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.catalog.records import TEST
from retrieval.catalog.taxonomy import split_key
from retrieval.config import write_json
from retrieval.evaluation.baselines import BaselineConfig, Queries
from retrieval.evaluation.evaluate import Scorer, _queries, _ranks, build_scorers, graph_scorer, hit_images
from retrieval.evaluation.evaluate import plot_recalls as plot_recall_curves
from retrieval.evaluation.plots import new_figure, save_figure
from retrieval.evaluation.simulate import SimulateConfig, simulate
from retrieval.features.base import torch_threads
from retrieval.metrics import recall_at_k
from retrieval.training.artifacts import load_model
from retrieval.training.config import NAMED_CONFIGS, TrainConfig
from retrieval.training.sim_edits import METADATA_TOP, attribute_ranking, true_attributes

log = logging.getLogger(__name__)

TABLE1_METHODS = ("image-only", "text-only", "concat", "tirg", "composeae", "attribute-intersection", "graph-predicted")
#: Table 5's confidence thresholds: the paper's A1-A3 (20 %, 10 %, 2 %) and tailor's (0.3 default, 0.5).
THRESHOLDS = (0.2, 0.1, 0.02, 0.3, 0.5)
KS = (1, 10, 50)


@dataclass(frozen=True)
class ReproduceConfig:
    """What ``tailor reproduce`` builds and measures (saved as ``OUT/reproduce_config.json``).

    Attributes:
        profile: demo catalog profile ("hard" or "default").
        size: products in the catalog.
        seed: catalog seed.
        likes: i-like-that interactions of BB2 (fewer when there are fewer test queries).
        thresholds: Table 5's attribute-confidence thresholds (the default config's own is not retrained).
        max_seconds: fitting budget of each training (``TrainConfig.max_seconds``).
        threads: torch threads of training.
    """

    profile: str = "hard"
    size: int = 3000
    seed: int = 0
    likes: int = 1000
    thresholds: tuple[float, ...] = THRESHOLDS
    max_seconds: float = 420.0
    threads: int = 1


def _catalog(work: Path, cfg: ReproduceConfig) -> Path:
    # lazy: the generator loads Pillow and the renderer, only when the catalog is (re)built
    from retrieval.catalog.demo.generate import generate_demo_catalog

    out = work / "catalog"
    gen = out / "meta" / "generator.json"
    if gen.is_file():
        have = json.loads(gen.read_text())
        if (have.get("size"), have.get("seed"), have.get("profile", "default")) == (cfg.size, cfg.seed, cfg.profile):
            log.info("catalog %s is up to date", out)
            return out
    generate_demo_catalog(out, cfg.size, cfg.seed, profile=cfg.profile)
    return out


def _train(catalog: Path, out: Path, tcfg: TrainConfig, cache: Path, threads: int) -> tuple[Path, float]:
    """Train ``tcfg`` into ``out`` unless a finished model with the same config is there; (dir, seconds)."""
    # lazy: training loads torch / DGL and the encoders
    from retrieval.training.run import train

    saved = out / "config.json"
    same = saved.is_file() and json.loads(saved.read_text()) == json.loads(json.dumps(dataclasses.asdict(tcfg)))
    if same and (out / "manifest.json").is_file():
        log.info("model %s is up to date", out)
        return out, 0.0
    t0 = time.perf_counter()
    with torch_threads(threads):
        train(catalog, out, tcfg, cache_dir=cache)
    return out, round(time.perf_counter() - t0, 1)


def filter_scorer(base: Scorer, tm, keys: list[str]) -> Scorer:
    """``base`` with an exact filter on the stated ``keys``: a result must carry the candidate's stated keys,
    a key the words mention replacing the candidate's of its group; others rank below every match.
    """
    truth = true_attributes(tm.catalog)
    wanted_keys = set(keys)
    stated = [frozenset(k for k in t if k in wanted_keys) for t in truth]
    names = tm.ids.attributes

    def score(q: Queries, pool: np.ndarray) -> np.ndarray:
        s = np.asarray(base(q, pool), dtype=np.float64).copy()
        for row, (cand, text) in enumerate(zip(q.candidates, q.texts, strict=True)):
            want = {split_key(k)[0]: k for k in stated[int(cand)]}
            for k in (names[a] for a in tm.mentions(text)):
                if k in wanted_keys:
                    want[split_key(k)[0]] = k
            need = set(want.values())
            groups = set(want)
            ok = np.array([{k for k in stated[int(i)] if split_key(k)[0] in groups} == need for i in pool])
            s[row, ~ok] -= 1e3
        return s

    return score


def table1(default_dir: Path, paper_dir: Path, plot: Path) -> tuple[dict, Scorer, str]:
    """Table 1 rows, the best learned baseline's scorer and its name."""
    tm = load_model(default_dir)
    cat = tm.catalog
    idx = [i for i in tm.splits[TEST] if cat.queries[i].target in cat]
    pool = np.array([i for i, im in enumerate(cat.images) if im.split == TEST], dtype=np.int64)
    val_pool = np.array([i for i, im in enumerate(cat.images) if im.split != TEST], dtype=np.int64)
    train_q, val_q, q = _queries(tm, tm.splits["train"]), _queries(tm, tm.splits["val"]), _queries(tm, idx)
    scorers, _ = build_scorers(tm, TABLE1_METHODS, train_q, val_q, val_pool, BaselineConfig())
    paper = load_model(paper_dir)
    scorers["graph-predicted-paper"] = build_scorers(
        paper, ["graph-predicted"], train_q, val_q, val_pool, BaselineConfig()
    )[0]["graph-predicted"]
    hits = hit_images(tm, q, "product")
    ranks = {m: _ranks(s, q, pool, hits) for m, s in scorers.items()}
    plot_recall_curves(ranks, plot, title=f"recall@k, {len(idx)} test queries ({cat.root})")
    rows = {m: recall_at_k(r, KS) for m, r in ranks.items()}
    best = max(("concat", "tirg", "composeae"), key=lambda m: rows[m]["R@10"])
    return rows, scorers[best], best


def table3_filter(default_dir: Path, base: Scorer) -> dict:
    """The ``filter`` row: ``base`` plus the exact filter on AA2's attributes."""
    tm = load_model(default_dir)
    cat = tm.catalog
    keys = attribute_ranking(true_attributes(cat))[: METADATA_TOP[0]]
    idx = [i for i in tm.splits[TEST] if cat.queries[i].target in cat]
    pool = np.array([i for i, im in enumerate(cat.images) if im.split == TEST], dtype=np.int64)
    q = _queries(tm, idx)
    return {
        **recall_at_k(_ranks(filter_scorer(base, tm, keys), q, pool, hit_images(tm, q, "product")), KS),
        "keys": keys,
    }


def lift_plot(results: dict, path: Path) -> Path:
    """R@10 lift of each interaction row over its as-trained row (AA* over AA1, BB2 over BB1), per model."""
    fig, ax = new_figure((8, 4.2))
    names, values, colours = [], [], []
    for j, (tag, t3, t4) in enumerate(
        (("default", results["table3"], results["table4"]), ("paper", results["table3_paper"], results["table4_paper"]))
    ):
        for row in ("AA2", "AA3", "AA4", "AA5"):
            names.append(f"{row}\n{tag}")
            values.append(t3[row]["R@10"] - t3["AA1"]["R@10"])
            colours.append(f"C{j}")
        for row, base in (("BB2", "BB1"), ("held-out-after", "held-out-before")):
            if row in t4 and base in t4:
                names.append(f"{row.replace('held-out-after', 'held-out')}\n{tag}")
                values.append(t4[row]["R@10"] - t4[base]["R@10"])
                colours.append(f"C{j}")
    bars = ax.bar(np.arange(len(names)), values, color=colours)
    ax.bar_label(bars, fmt="%+.1f", fontsize=7)
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names, fontsize=7)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("R@10 lift (points)")
    ax.set_title("what each interaction adds (no retraining, no ranking bonus)")
    return save_figure(fig, path)


def _like_rows(model: Path, cfg: ReproduceConfig, out: Path, tag: str) -> dict:
    """Table 4 rows of one model: BB1, BB2 (``cfg.likes`` likes) and the held-out variant (likes on half)."""
    full = simulate(model, "i-like-that", SimulateConfig(likes=cfg.likes), out_json=out / f"table4-{tag}.json")
    n_test = full["queries"]
    half = simulate(
        model, "i-like-that", SimulateConfig(likes=max(1, n_test // 2)), out_json=out / f"table4-half-{tag}.json"
    )
    d = full["details"]["BB2"]
    rows = {
        "BB1": full["rows"]["BB1"],
        "BB2": {**full["rows"]["BB2"], "connection_accuracy_before": d["connection_accuracy_before"]},
    }
    close = half.get("held_out_close")
    if close:
        rows["held-out-before"] = {**close["BB1"], "queries": close["queries"]}
        rows["held-out-after"] = {**close["BB2"], "queries": close["queries"]}
    return rows


def reproduce(out: Path, work: Path | None = None, cfg: ReproduceConfig | None = None) -> dict:
    """Build, train and measure everything; write ``out/results.json`` and ``out/report.md``.

    ``results.json`` keys: ``table1[method]["R@1"|"R@10"|"R@50"]`` (``tailor evaluate``'s method names plus
    ``graph-predicted-paper``), ``table3["AA1".."AA5"|"filter"]["R@10"]`` (``table3_paper`` for the paper
    config), ``table4["BB1"|"BB2"|"held-out-before"|"held-out-after"]["R@10"]`` with
    ``table4["BB2"]["connection_accuracy"]`` and ``["connection_accuracy_before"]`` (``table4_paper``),
    ``table5[row]["R@10"]``, ``like_boost`` / ``user_like_boost`` (0: graph-only scoring), ``seconds``.
    """
    cfg = cfg or ReproduceConfig()
    out = Path(out)
    work = Path(work) if work else out.parent
    out.mkdir(parents=True, exist_ok=True)
    write_json(dataclasses.asdict(cfg), out / "reproduce_config.json")
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    catalog = _catalog(work, cfg)
    seconds["catalog"] = round(time.perf_counter() - t0, 1)
    cache = work / "feature-cache"
    engines: dict[str, Path] = {}
    for name, tcfg in NAMED_CONFIGS.items():
        tcfg = dataclasses.replace(tcfg, max_seconds=cfg.max_seconds)
        engines[name], seconds[f"train-{name}"] = _train(catalog, work / f"engine-{name}", tcfg, cache, cfg.threads)
    t1 = time.perf_counter()
    rows1, best, best_name = table1(engines["default"], engines["paper"], out / "recall_at_k.png")
    seconds["table1"] = round(time.perf_counter() - t1, 1)
    t1 = time.perf_counter()
    table3 = simulate(engines["default"], "more-metadata", out_json=out / "table3-default.json")["rows"]
    table3["filter"] = {**table3_filter(engines["default"], best), "baseline": best_name}
    table3_paper = simulate(engines["paper"], "more-metadata", out_json=out / "table3-paper.json")["rows"]
    seconds["table3"] = round(time.perf_counter() - t1, 1)
    t1 = time.perf_counter()
    table4 = _like_rows(engines["default"], cfg, out, "default")
    table4_paper = _like_rows(engines["paper"], cfg, out, "paper")
    seconds["table4"] = round(time.perf_counter() - t1, 1)
    table5: dict[str, dict] = {}
    default_cfg = NAMED_CONFIGS["default"]
    for th in cfg.thresholds:
        if th == default_cfg.threshold:
            table5[f"threshold {th}"] = {**rows1["graph-predicted"], "model": str(engines["default"])}
            continue
        tcfg = dataclasses.replace(default_cfg, threshold=th, max_seconds=cfg.max_seconds, interaction_warmup=False)
        model, seconds[f"train-t{th}"] = _train(catalog, work / f"engine-t{th}", tcfg, cache, cfg.threads)
        table5[f"threshold {th}"] = {**_graph_recall(model), "model": str(model)}
    seconds["total"] = round(time.perf_counter() - t0, 1)
    results = {
        "catalog": str(catalog),
        "config": dataclasses.asdict(cfg),
        "table1": rows1,
        "best_learned_baseline": best_name,
        "table3": table3,
        "table3_paper": table3_paper,
        "table4": table4,
        "table4_paper": table4_paper,
        "table5": table5,
        "like_boost": 0.0,
        "user_like_boost": 0.0,
        "seconds": seconds,
    }
    write_json(results, out / "results.json")
    lift_plot(results, out / "lift.png")
    (out / "report.md").write_text(report_markdown(results) + "\n")
    return results


def _graph_recall(model: Path) -> dict:
    tm = load_model(model)
    cat = tm.catalog
    idx = [i for i in tm.splits[TEST] if cat.queries[i].target in cat]
    pool = np.array([i for i, im in enumerate(cat.images) if im.split == TEST], dtype=np.int64)
    q = _queries(tm, idx)
    return recall_at_k(_ranks(graph_scorer(tm), q, pool, hit_images(tm, q, "product")), KS)


def _table(title: str, rows: dict, cols: tuple[str, ...], extra: tuple[str, ...] = ()) -> str:
    head = f"| {title} | " + " | ".join(cols + extra) + " |"
    lines = [head, "|---" * (1 + len(cols) + len(extra)) + "|"]
    for name, r in rows.items():
        cells = [f"{r[c]:.2f}" if c in r else "-" for c in cols]
        cells += [str(r.get(c, "-")) for c in extra]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_markdown(results: dict) -> str:
    """``report.md``: the four tables, both configurations, and the plots."""
    cols = tuple(f"R@{k}" for k in KS)
    parts = [
        f"# tailor reproduce ({results['catalog']})",
        "## Table 1: retrieval",
        _table("method", results["table1"], cols),
        f"Best learned baseline: {results['best_learned_baseline']}. ![recall@k](recall_at_k.png)",
        "## Table 3: more metadata (default config)",
        _table("row", results["table3"], cols),
        "## Table 3: more metadata (paper config)",
        _table("row", results["table3_paper"], cols),
        "## Table 4: I like that (graph only; like_boost = user_like_boost = 0)",
        _table("row (default config)", results["table4"], cols, ("connection_accuracy", "connection_accuracy_before")),
        _table(
            "row (paper config)", results["table4_paper"], cols, ("connection_accuracy", "connection_accuracy_before")
        ),
        "![lift](lift.png)",
        "## Table 5: attribute-confidence threshold (default config, no interaction warm-up)",
        _table("threshold", results["table5"], cols),
        "Seconds: " + ", ".join(f"{k} {v}" for k, v in results["seconds"].items()),
    ]
    return "\n\n".join(parts)
