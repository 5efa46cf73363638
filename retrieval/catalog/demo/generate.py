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
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from retrieval.catalog.demo.products import Product, detection_scores, image_paths, sample_products
from retrieval.catalog.demo.queries import SINGLE, DemoQuery, build_queries
from retrieval.catalog.demo.render import IMAGE_SIZE, RenderJob, features_for, render_job
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
            files[name].append(f"{path}\t{score}\t{p.caption}")
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


def generate_demo_catalog(
    out: Path, size: int = 3000, seed: int = 0, taxonomy_path: Path | None = None, workers: int | None = None
) -> dict:
    """Sample, render and write a demo catalog of ``size`` products under ``out``.

    Args:
        out: output directory (created; a previous demo catalog there is replaced).
        size: number of products (each has 1-3 photos).
        seed: random seed; the same seed gives byte-identical label / meta files and images.
        taxonomy_path: taxonomy YAML (default ``data/taxonomy.yml``).
        workers: rendering processes (default: up to 2, the CPU count).

    Returns:
        Summary: products, families, images, categories, queries by kind and split, seconds.
    """
    start = time.perf_counter()
    if size < 1:
        raise ConfigError(f"--size must be at least 1, got {size}.", fix="pass --size N with N >= 1 (e.g. 3000)")
    taxonomy = Taxonomy.load(taxonomy_path)
    _check_tokens(taxonomy)
    out = Path(out)
    _prepare(out)
    products = sample_products(taxonomy, size, seed)
    paths = {p.product_id: image_paths(taxonomy, p) for p in products}
    jobs = [
        RenderJob(
            features_for(taxonomy, p.category, p.values), p.design_seed, p.product_seed, tuple(paths[p.product_id])
        )
        for p in products
    ]
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    images = _render(jobs, out, workers)
    queries = build_queries(taxonomy, products, paths, seed)
    _write_labels(out, taxonomy, products, paths)
    _write_lines(
        out / "test_queries.txt",
        [
            f"{q.source} {q.target}"
            for q in queries
            if q.split == TEST and q.kind == SINGLE and all(c.old and c.new for c in q.changes)
        ],
    )
    cfg = DemoConfig(size=size, seed=seed, taxonomy=str(Path(taxonomy.source)))
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
        "seconds": seconds,
    }
    log.info("demo catalog: %d products, %d images, %d queries in %.1f s", len(products), images, len(queries), seconds)
    return summary
