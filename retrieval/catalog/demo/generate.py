r"""Generate the demo catalog in the Fashion200K layout plus ``meta/``.

Layout under ``out``::

    labels/<folder>_{train,test}_detect_all.txt   path \t score \t caption
    test_queries.txt                              source_path target_path (single test queries)
    women/<folder>/<subcategory>/<id>/<id>_<k>.jpeg
    meta/taxonomy.yml, attributes.jsonl, queries.jsonl, generator.json

Deterministic for a seed: sampling runs in this process, rendering uses per-product seeds, so the
files do not depend on the number of workers. Workers are spawned (not forked), so a script calling
:func:`generate_demo_catalog` with ``workers > 1`` needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import yaml
from tqdm import tqdm

from retrieval.catalog.demo.hard import PROFILES, HardProfile, fuzzy_color
from retrieval.catalog.demo.products import Product, detection_scores, image_paths, sample_products
from retrieval.catalog.demo.queries import SINGLE, DemoQuery, build_queries, diff
from retrieval.catalog.demo.render import IMAGE_SIZE, RenderJob, feature_group, features_for, render_job
from retrieval.catalog.demo.silhouettes import Features
from retrieval.catalog.demo.textures import stable_int
from retrieval.catalog.records import TEST, TRAIN
from retrieval.catalog.taxonomy import Taxonomy
from retrieval.config import save_config
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1"
META = "meta"
GENERATOR_FILE = "generator.json"
OUTPUTS = ("labels", "women", META, "test_queries.txt")


@dataclass(frozen=True)
class DemoConfig:
    """How a demo catalog was generated (``meta/generator.json``)."""

    size: int
    seed: int
    taxonomy: str
    version: str = GENERATOR_VERSION
    image_size: int = IMAGE_SIZE
    test_fraction: float = 0.2
    multi_fraction: float = 0.3
    profile: str = "default"
    hard: HardProfile | None = None


def _prepare(out: Path) -> None:
    """Create ``out``; clear a previous demo catalog there, refuse to write into other data."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a directory.", fix="pass --out with a directory path")
    out.mkdir(parents=True, exist_ok=True)
    ours = (out / META / GENERATOR_FILE).is_file()
    present = [name for name in OUTPUTS if (out / name).exists()]
    if present and not ours:
        raise ConfigError(
            f"{out} already holds {', '.join(present)} but no {META}/{GENERATOR_FILE}.",
            fix="choose an empty --out directory (the generator only overwrites its own catalogs)",
        )
    for name in present:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _check_tokens(taxonomy: Taxonomy) -> None:
    """Captions need every value and category name to be one token."""
    names = [("category", c) for c in taxonomy.categories] + [
        (g.name, v) for g in taxonomy.groups.values() for v in g.values
    ]
    for group, name in names:
        if not name or any(ch.isspace() for ch in name):
            raise ConfigError(
                f"{taxonomy.source}: {group} value {name!r} is not one word; demo captions need one token per value.",
                fix=f"write it with hyphens ({'-'.join(name.split())!r}) and keep the spaced form as a synonym",
            )


def _render(jobs: list[RenderJob], out: Path, workers: int) -> int:
    work = partial(render_job, root=out)
    bar = tqdm(total=sum(len(j.paths) for j in jobs), desc="rendering demo images", unit="img", leave=False)
    written = 0
    if workers <= 1 or len(jobs) < 32:
        for job in jobs:
            n = work(job)
            written += n
            bar.update(n)
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for n in pool.imap_unordered(work, jobs, chunksize=8):
                written += n
                bar.update(n)
    bar.close()
    return written


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _write_labels(out: Path, taxonomy: Taxonomy, products: list[Product], paths: dict[str, list[str]]) -> None:
    files: dict[str, list[str]] = {}
    for folder in sorted({c.folder for c in taxonomy.categories.values()}):
        for split in (TRAIN, TEST):
            files[f"{folder}_{split}_detect_all.txt"] = []
    for p in products:
        name = f"{taxonomy.categories[p.category].folder}_{p.split}_detect_all.txt"
        for path, score in zip(paths[p.product_id], detection_scores(p), strict=True):
            files[name].append(f"{path}\t{score}\t{p.description or p.caption}")
    for name, lines in files.items():
        _write_lines(out / "labels" / name, lines)


def _write_meta(
    out: Path,
    taxonomy: Taxonomy,
    products: list[Product],
    paths: dict[str, list[str]],
    queries: list[DemoQuery],
    cfg: DemoConfig,
) -> None:
    meta = out / META
    meta.mkdir(parents=True, exist_ok=True)
    if Path(taxonomy.source).resolve() != (meta / "taxonomy.yml").resolve():
        shutil.copyfile(taxonomy.source, meta / "taxonomy.yml")
    _write_lines(
        meta / "attributes.jsonl",
        [
            json.dumps(
                {
                    "image_id": path,
                    "product_id": p.product_id,
                    "category": p.category,
                    "split": p.split,
                    "attributes": p.attributes,
                }
            )
            for p in products
            for path in paths[p.product_id]
        ],
    )
    _write_lines(meta / "queries.jsonl", [json.dumps(q.to_json()) for q in queries])
    save_config(cfg, meta / GENERATOR_FILE)


def _profile_taxonomy(taxonomy: Taxonomy, profile: HardProfile, out: Path) -> Taxonomy:
    """The taxonomy plus the profile's extra groups, written to ``out/meta/taxonomy.yml`` and loaded from there."""
    data = yaml.safe_load(Path(taxonomy.source).read_text())
    data["groups"] = {**data.get("groups", {}), **profile.extra_groups}
    path = out / META / "taxonomy.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return Taxonomy.load(path)


def _features(taxonomy: Taxonomy, p: Product, profile: HardProfile | None) -> Features:
    """The drawing features; with a profile the colour shade drifts towards a neighbouring name."""
    feat = features_for(taxonomy, p.category, p.values)
    if profile is None:
        return feat
    colors = [v for g, v in p.values if taxonomy.groups[g].visible and feature_group(g) == "color"]
    if not colors:
        return feat
    rng = random.Random(stable_int(p.product_seed, "shade"))
    return replace(feat, color=fuzzy_color(colors[0], feat.color, rng, profile))


def near_duplicate_share(taxonomy: Taxonomy, products: list[Product]) -> float:
    """Share of products with another product of their family that differs in exactly one attribute."""
    families: dict[int, list[Product]] = defaultdict(list)
    for p in products:
        families[p.family].append(p)
    near = sum(
        1 for members in families.values() for a in members if any(len(diff(a, b, taxonomy)) == 1 for b in members)
    )
    return near / max(1, len(products))


def generate_demo_catalog(
    out: Path,
    size: int = 3000,
    seed: int = 0,
    taxonomy_path: Path | None = None,
    workers: int | None = None,
    profile: str = "default",
) -> dict:
    """Sample, render and write a demo catalog of ``size`` products under ``out``.

    Args:
        out: output directory (created; a previous demo catalog there is replaced).
        size: number of products (each has 1-3 photos).
        seed: random seed; the same seed gives byte-identical label / meta files and images.
        taxonomy_path: taxonomy YAML (default ``data/taxonomy.yml``).
        workers: rendering processes (default: up to 2, the CPU count).
        profile: "default" or "hard" (:mod:`retrieval.catalog.demo.hard`).

    Returns:
        Summary: products, families, images, categories, queries by kind and split, seconds.
    """
    start = time.perf_counter()
    if size < 1:
        raise ConfigError(f"--size must be at least 1, got {size}.", fix="pass --size N with N >= 1 (e.g. 3000)")
    if profile not in PROFILES:
        raise ConfigError(f"Unknown demo profile {profile!r}.", fix=f"use one of {', '.join(PROFILES)}")
    hard = PROFILES[profile]
    taxonomy = Taxonomy.load(taxonomy_path)
    out = Path(out)
    _prepare(out)
    if hard is not None:
        taxonomy = _profile_taxonomy(taxonomy, hard, out)
    _check_tokens(taxonomy)
    products = sample_products(taxonomy, size, seed, hard)
    paths = {p.product_id: image_paths(taxonomy, p) for p in products}
    jobs = [
        RenderJob(_features(taxonomy, p, hard), p.design_seed, p.product_seed, tuple(paths[p.product_id]), hard)
        for p in products
    ]
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    images = _render(jobs, out, workers)
    queries = build_queries(taxonomy, products, paths, seed, hard)
    _write_labels(out, taxonomy, products, paths)
    _write_lines(
        out / "test_queries.txt",
        [
            f"{q.source} {q.target}"
            for q in queries
            if q.split == TEST and q.kind == SINGLE and all(c.old and c.new for c in q.changes)
        ],
    )
    cfg = DemoConfig(size=size, seed=seed, taxonomy=str(Path(taxonomy.source)), profile=profile, hard=hard)
    _write_meta(out, taxonomy, products, paths, queries, cfg)
    seconds = round(time.perf_counter() - start, 1)
    summary = {
        "out": str(out),
        "products": len(products),
        "families": len({p.family for p in products}),
        "images": images,
        "products_by_split": dict(sorted(Counter(p.split for p in products).items())),
        "categories": dict(sorted(Counter(p.category for p in products).items())),
        "queries": dict(sorted(Counter(f"{q.split}/{q.kind}" for q in queries).items())),
        "test_queries_txt": sum(
            1 for q in queries if q.split == TEST and q.kind == SINGLE and all(c.old and c.new for c in q.changes)
        ),
        "profile": profile,
        "near_duplicate_share": round(near_duplicate_share(taxonomy, products), 3),
        "seconds": seconds,
    }
    log.info("demo catalog: %d products, %d images, %d queries in %.1f s", len(products), images, len(queries), seconds)
    return summary
