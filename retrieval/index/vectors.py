"""FAISS vector index over image node embeddings (exact inner product, or HNSW for large catalogs).

Ids are int64 image node ids. Both kinds wrap their FAISS index in ``IndexIDMap2``:

* ``flat``: ``IndexIDMap2(IndexFlatIP)``, exact; ``remove`` / ``update`` delete vectors for real.
* ``hnsw``: ``IndexIDMap2(IndexHNSWFlat(METRIC_INNER_PRODUCT))``. HNSW cannot delete a vector, so
  ``remove`` marks the vector's internal slot dead and ``update`` marks the old slot dead and appends
  the new vector. Searches run on the inner HNSW index with an ``IDSelector`` that rejects dead slots
  and excluded ids, so they still return ``k`` results; the internal slots are translated to node ids
  with the IDMap2's ``id_map``. When more than ``REBUILD_FRACTION`` of the slots are dead, the index
  is rebuilt from its live vectors (HNSW keeps them in its flat storage).

Online search uses ``cfg.threads`` OpenMP threads (1 by default, see DEVELOPERS.md).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from retrieval.config import load_config, save_config
from retrieval.errors import ConfigError, InvalidQueryError, ModelNotFoundError, UnknownItemError

log = logging.getLogger(__name__)

KINDS = ("flat", "hnsw")
INDEX_FILE = "index.faiss"
CONFIG_FILE = "index_config.json"
STATE_FILE = "index_state.json"
DEAD_FILE = "index_dead.npy"
REBUILD_FRACTION = 0.3
_ADD_CHUNK = 20_000
_BUILD_THREADS = max(1, min(2, faiss.omp_get_max_threads()))


@dataclass(frozen=True)
class IndexConfig:
    """How the vector index is built and searched.

    Attributes:
        kind: "flat" (exact inner product) or "hnsw" (approximate, for large catalogs).
        hnsw_m: HNSW neighbours per node.
        ef_construction: HNSW build-time beam width.
        ef_search: HNSW search-time beam width (raised to ``k`` when smaller).
        threads: OpenMP threads for online search (1 keeps latency stable next to other work).
    """

    kind: str = "flat"
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64
    threads: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"IndexConfig.kind {self.kind!r} is unknown.", fix=f"use one of {', '.join(KINDS)}")
        for name in ("hnsw_m", "ef_construction", "ef_search", "threads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(
                    f"IndexConfig.{name} must be >= 1, got {getattr(self, name)}.", fix="use a positive integer"
                )


class VectorIndex:
    """Maximum-inner-product search over vectors keyed by int64 ids."""

    def __init__(self, dim: int, cfg: IndexConfig | None = None) -> None:
        """Create an empty index of ``dim``-dimensional vectors."""
        if int(dim) < 1:
            raise ConfigError(f"Index dimension must be >= 1, got {dim}.", fix="pass the embedding size")
        self.dim = int(dim)
        self.cfg = cfg or IndexConfig()
        self._index = self._new_index()
        self._pos: dict[int, int] = {}  # hnsw only: node id -> live internal slot
        self._dead = np.zeros(0, dtype=bool)  # hnsw only: dead internal slots
        self._flat_ids: set[int] = set()  # flat only: ids present
        self._id_map: np.ndarray | None = None  # hnsw only: cached copy of the IDMap2's slot -> id table
        self._flat_slot: tuple[np.ndarray, np.ndarray] | None = None  # flat only: (slot -> id, argsort of it)

    # -- construction --------------------------------------------------------------------
    def _new_index(self) -> faiss.IndexIDMap2:
        if self.cfg.kind == "flat":
            inner = faiss.IndexFlatIP(self.dim)
        else:
            inner = faiss.IndexHNSWFlat(self.dim, self.cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.cfg.ef_construction
            inner.hnsw.efSearch = self.cfg.ef_search
        return faiss.IndexIDMap2(inner)

    @property
    def kind(self) -> str:
        """The index kind: "flat" or "hnsw"."""
        return self.cfg.kind

    def __len__(self) -> int:
        """Number of live vectors."""
        return len(self._flat_ids) if self.kind == "flat" else len(self._pos)

    def __contains__(self, node_id: object) -> bool:
        ids = self._flat_ids if self.kind == "flat" else self._pos
        return isinstance(node_id, int | np.integer) and int(node_id) in ids

    def ids(self) -> np.ndarray:
        """The live ids (int64, ascending)."""
        ids = self._flat_ids if self.kind == "flat" else self._pos
        return np.array(sorted(ids), dtype=np.int64)

    # -- checks --------------------------------------------------------------------------
    def _vectors(self, vecs: np.ndarray, what: str) -> np.ndarray:
        arr = np.asarray(vecs, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise InvalidQueryError(
                f"{what} have shape {tuple(np.shape(vecs))}, the index holds {self.dim}-d vectors.",
                fix=f"pass a [n, {self.dim}] float array made by the same model as the index",
            )
        if not np.isfinite(arr).all():
            raise InvalidQueryError(f"{what} contain NaN or infinite values.", fix="check the embedding model output")
        return np.ascontiguousarray(arr)

    @staticmethod
    def _ids(ids: np.ndarray | list[int], n: int | None = None) -> np.ndarray:
        arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        if n is not None and len(arr) != n:
            raise InvalidQueryError(f"Got {len(arr)} ids for {n} vectors.", fix="pass one id per vector row")
        if len(np.unique(arr)) != len(arr):
            raise InvalidQueryError("The ids contain duplicates.", fix="pass each id once")
        if (arr < 0).any():
            raise InvalidQueryError("Ids must be >= 0 (-1 means 'no result' in FAISS).", fix="use node ids")
        return arr

    # -- mutation ------------------------------------------------------------------------
    def add(self, ids: np.ndarray | list[int], vecs: np.ndarray) -> None:
        """Add new vectors; an id already present is an error (use :meth:`update`)."""
        arr = self._vectors(vecs, "Vectors")
        id_arr = self._ids(ids, len(arr))
        present = [int(i) for i in id_arr if int(i) in self]
        if present:
            raise InvalidQueryError(
                f"{len(present)} ids are already in the index (e.g. {present[:5]}).", fix="use update() to replace them"
            )
        if not len(arr):
            return
        faiss.omp_set_num_threads(_BUILD_THREADS)
        try:
            if self.kind == "flat":
                self._index.add_with_ids(arr, id_arr)
                self._flat_ids.update(int(i) for i in id_arr)
                self._flat_slot = None
            else:
                self._add_hnsw(id_arr, arr)
        finally:
            faiss.omp_set_num_threads(self.cfg.threads)

    def _add_hnsw(self, id_arr: np.ndarray, arr: np.ndarray) -> None:
        start = self._index.ntotal
        chunks = range(0, len(arr), _ADD_CHUNK)
        for lo in tqdm(chunks, desc="hnsw add", unit="chunk", disable=len(chunks) < 3):
            self._index.add_with_ids(arr[lo : lo + _ADD_CHUNK], id_arr[lo : lo + _ADD_CHUNK])
        self._dead = np.concatenate([self._dead, np.zeros(len(arr), dtype=bool)])
        self._id_map = None
        for off, node_id in enumerate(id_arr):
            self._pos[int(node_id)] = start + off

    def remove(self, ids: np.ndarray | list[int]) -> None:
        """Remove vectors by id; unknown ids raise :class:`UnknownItemError` (nothing is removed)."""
        id_arr = self._ids(ids)
        unknown = [int(i) for i in id_arr if int(i) not in self]
        if unknown:
            raise UnknownItemError(
                f"{len(unknown)} ids are not in the index (e.g. {unknown[:5]}).", fix="remove only ids that were added"
            )
        if not len(id_arr):
            return
        if self.kind == "flat":
            self._index.remove_ids(faiss.IDSelectorBatch(id_arr))
            self._flat_ids.difference_update(int(i) for i in id_arr)
            self._flat_slot = None
            return
        for node_id in id_arr:
            self._dead[self._pos.pop(int(node_id))] = True
        if self._dead.mean() > REBUILD_FRACTION:
            self._rebuild()

    def update(self, ids: np.ndarray | list[int], vecs: np.ndarray) -> None:
        """Replace the vectors of ``ids`` (ids not yet present are added).

        Flat: vectors already present are overwritten in place (removing them first is O(n): FAISS
        compacts its arrays; an interaction re-indexes a handful of vectors).
        """
        arr = self._vectors(vecs, "Vectors")
        id_arr = self._ids(ids, len(arr))
        if self.kind == "flat":
            id_arr, arr = self._overwrite_flat(id_arr, arr)
        present = [int(i) for i in id_arr if int(i) in self]
        if present:
            self.remove(present)
        self.add(id_arr, arr)

    def _overwrite_flat(self, id_arr: np.ndarray, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Write the present ids' vectors into the flat storage; returns the ids (and rows) not present."""
        here = np.fromiter((int(i) in self._flat_ids for i in id_arr), dtype=bool, count=len(id_arr))
        if not here.any():
            return id_arr, arr
        inner = faiss.downcast_index(self._index.index)
        if self._flat_slot is None or len(self._flat_slot[0]) != inner.ntotal:
            id_map = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            self._flat_slot = (id_map, np.argsort(id_map))
        id_map, order = self._flat_slot
        slots = order[np.searchsorted(id_map, id_arr[here], sorter=order)]
        xb = faiss.rev_swig_ptr(inner.get_xb(), inner.ntotal * self.dim).reshape(inner.ntotal, self.dim)
        xb[slots] = arr[here]
        return id_arr[~here], arr[~here]

    def _rebuild(self) -> None:
        """HNSW: rebuild from the live vectors, dropping dead slots."""
        live = np.flatnonzero(~self._dead)
        id_map = faiss.vector_to_array(self._index.id_map)
        inner = faiss.downcast_index(self._index.index)
        vecs = inner.storage.reconstruct_n(0, inner.ntotal)[live] if len(live) else np.zeros((0, self.dim), "float32")
        log.info("Rebuilding the HNSW index: %d live of %d slots.", len(live), len(self._dead))
        self._index = self._new_index()
        self._pos = {}
        self._dead = np.zeros(0, dtype=bool)
        self._id_map = None
        if len(live):
            self.add(id_map[live], vecs)

    def vector(self, node_id: int) -> np.ndarray:
        """The stored vector of ``node_id``."""
        if node_id not in self:
            raise UnknownItemError(f"Id {node_id} is not in the index.", fix="use an id that was added")
        if self.kind == "flat":
            return self._index.reconstruct(int(node_id))
        inner = faiss.downcast_index(self._index.index)
        return inner.storage.reconstruct(self._pos[int(node_id)])

    # -- search --------------------------------------------------------------------------
    def search(self, vecs: np.ndarray, k: int, exclude: set[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` inner-product neighbours of each query row.

        Args:
            vecs: [nq, dim] (or [dim]) float queries.
            k: results per query (clipped to the number of searchable vectors).
            exclude: ids never returned; they do not count toward ``k``.

        Returns:
            (scores [nq, k'], ids [nq, k']) best first, k' = min(k, live vectors not excluded). HNSW
            may rarely find fewer: missing slots have id -1 and score -inf.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
            raise InvalidQueryError(f"k must be a positive integer, got {k!r}.", fix="ask for k >= 1 results")
        queries = self._vectors(vecs, "Query vectors")
        live_excluded = [int(i) for i in (exclude or ()) if int(i) in self]
        k_eff = min(int(k), len(self) - len(live_excluded))
        if k_eff <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        faiss.omp_set_num_threads(self.cfg.threads)
        if self.kind == "flat":
            params = None
            if live_excluded:
                sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.array(live_excluded, dtype=np.int64)))
                params = faiss.SearchParameters(sel=sel)
            scores, ids = self._index.search(queries, k_eff, params=params)
        else:
            scores, ids = self._search_hnsw(queries, k_eff, live_excluded)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return scores, ids.astype(np.int64)

    def _search_hnsw(self, queries: np.ndarray, k: int, excluded: list[int]) -> tuple[np.ndarray, np.ndarray]:
        inner = faiss.downcast_index(self._index.index)
        blocked = self._dead.copy()
        blocked[[self._pos[i] for i in excluded]] = True
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.cfg.ef_search, k)
        if blocked.any():
            bitmap = np.packbits(blocked, bitorder="little")
            sel = faiss.IDSelectorNot(faiss.IDSelectorBitmap(len(blocked), faiss.swig_ptr(bitmap)))
            params.sel = sel
            scores, slots = inner.search(queries, k, params=params)
            del sel, bitmap  # the selector points into bitmap: keep both alive until here
        else:
            scores, slots = inner.search(queries, k, params=params)
        if self._id_map is None:
            self._id_map = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        ids = np.where(slots >= 0, self._id_map[np.maximum(slots, 0)], -1)
        return scores, ids

    # -- persistence ---------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the index, its config JSON and its bookkeeping into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(directory / INDEX_FILE))
        save_config(self.cfg, directory / CONFIG_FILE)
        (directory / STATE_FILE).write_text(json.dumps({"dim": self.dim, "size": len(self)}) + "\n")
        if self.kind == "hnsw":
            np.save(directory / DEAD_FILE, self._dead)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> VectorIndex:
        """Load an index written by :meth:`save`."""
        directory = Path(directory)
        if not (directory / INDEX_FILE).is_file():
            raise ModelNotFoundError(
                f"No vector index in {directory} ({INDEX_FILE} is missing).", fix="train or build the index first"
            )
        cfg = load_config(IndexConfig, directory / CONFIG_FILE)
        state = json.loads((directory / STATE_FILE).read_text())
        out = cls(int(state["dim"]), cfg)
        out._index = faiss.read_index(str(directory / INDEX_FILE))
        id_map = faiss.vector_to_array(out._index.id_map).astype(np.int64)
        if cfg.kind == "flat":
            out._flat_ids = {int(i) for i in id_map}
        else:
            inner = faiss.downcast_index(out._index.index)
            inner.hnsw.efSearch = cfg.ef_search
            out._dead = (
                np.load(directory / DEAD_FILE) if (directory / DEAD_FILE).is_file() else np.zeros(len(id_map), bool)
            )
            out._pos = {int(id_map[s]): int(s) for s in np.flatnonzero(~out._dead)}
        if len(out) != int(state["size"]):
            raise ModelNotFoundError(
                f"The index in {directory} holds {len(out)} vectors, its state file says {state['size']}.",
                fix="rebuild the index (the files come from different runs)",
            )
        return out
