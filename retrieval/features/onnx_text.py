"""One query text at a time through ONNX Runtime: the online path of the text encoder.

A shopper's words are encoded once per turn, one sentence at a time, on one thread. PyTorch's eager
BERT spends most of that in per-operator overhead; the same all-MiniLM-L6-v2 graph exported to ONNX
(fp32, the same weights) runs about 3x faster in ONNX Runtime and gives the same vector (verified
against the torch encoder on probe sentences at export and at load, see ``MAX_DIFF``). Training and
batch feature extraction keep the torch encoder.

The export is written once into a folder the caller names (the engine uses ``MODEL/query_encoder``)
as ``model.onnx`` with ``model.json`` beside it (:mod:`retrieval.features.onnx_runtime`), and reused
while the encoder is the same. Only
sentence-transformers models made of a Transformer, mean Pooling and Normalize are exported; any
other layout, or a missing ``onnx`` / ``onnxruntime``, keeps the torch path (:func:`query_encoder`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from retrieval.errors import ConfigError
from retrieval.features.onnx_runtime import ONNX_ERRORS, RUNTIMES, export_module, is_current, session
from retrieval.features.text import SentenceTransformerEncoder

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
EXPORT_FILE = "model.json"
MAX_DIFF = 1e-5  # largest element difference from the torch encoder accepted (unit vectors)
PROBES = ("make it red", "same but black with long sleeves and a v-neck", "a striped linen knee-length dress")


class TorchQueryEncoder:
    """The torch encoder, one text at a time (the fallback)."""

    runtime = "torch"

    def __init__(self, encoder: SentenceTransformerEncoder) -> None:
        self.encoder = encoder
        self.dim = encoder.dim

    def encode_one(self, text: str) -> np.ndarray:
        """Unit float32 vector of ``text``."""
        return self.encoder.encode([text])[0]


class OnnxQueryEncoder:
    """An exported mean-pooled, normalised sentence-transformers model in ONNX Runtime.

    One thread, or two when, at that moment, no other task wants the second core (``spare_core``,
    :func:`other_runnable_tasks`): on this 2-core box a sentence took p50 5.4 ms on one thread and 3.5 ms
    on two with the other core idle, but 6.9 ms on two against 4.4 ms on one with the other core
    busy (their spin-waits compete with the work). The 1-minute load average cannot tell: the
    process asking is itself the load.
    """

    runtime = "onnx"

    def __init__(self, path: Path, tokenizer, max_length: int, dim: int, *, spare_core: bool = True) -> None:
        self._path = path
        self._sessions = {1: session(path, threads=1)}
        self._tokenizer = tokenizer
        self._max_length = max_length
        self._spare_core = spare_core and (os.cpu_count() or 1) >= 2
        self.dim = dim

    def _threads(self) -> int:
        if not self._spare_core:
            return 1
        return 2 if other_runnable_tasks() < (os.cpu_count() or 1) - 1 else 1

    def encode_one(self, text: str) -> np.ndarray:
        """Unit float32 vector of ``text``."""
        threads = self._threads()
        if threads not in self._sessions:
            self._sessions[threads] = session(self._path, threads=threads)
        enc = self._tokenizer([text], truncation=True, max_length=self._max_length, return_tensors="np")
        out = self._sessions[threads].run(
            None,
            {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)},
        )[0]
        return np.asarray(out[0], dtype=np.float32)


def other_runnable_tasks() -> int:
    """Tasks of OTHER processes runnable right now (``/proc/loadavg``'s running count less this process's).

    This process's own threads are left out: ONNX Runtime's second worker spins for a while after a
    run and would otherwise count as a competitor. Without ``/proc`` (not Linux): the 1-minute load
    average, a conservative stand-in.
    """
    try:
        running = int(Path("/proc/loadavg").read_text(encoding="ascii").split()[3].split("/")[0])
        if running <= 1:  # only the caller: no thread list to read (the usual case on an idle server)
            return 0
        own = 0
        for task in os.scandir("/proc/self/task"):
            try:
                stat = Path(task.path, "stat").read_text(encoding="ascii")
                own += stat.rsplit(")", 1)[1].split()[0] == "R"
            except OSError:  # the thread ended meanwhile
                continue
        return max(0, running - own)
    except (OSError, IndexError, ValueError):
        try:
            return int(os.getloadavg()[0])
        except OSError:
            return os.cpu_count() or 1


def _parts(encoder: SentenceTransformerEncoder):
    """(transformer module, tokenizer, max length) when the model is Transformer + mean Pooling + Normalize."""
    mods = list(encoder._model)
    names = [type(m).__name__ for m in mods]
    if names != ["Transformer", "Pooling", "Normalize"]:
        raise ConfigError(
            f"Text model layout {names} is not Transformer + Pooling + Normalize.",
            fix="set EngineConfig.text_runtime to 'torch' for this model",
        )
    pooling = mods[1]
    if getattr(pooling, "pooling_mode", None) not in (None, "mean") or not getattr(
        pooling, "pooling_mode_mean_tokens", True
    ):
        raise ConfigError("Text model pooling is not mean pooling.", fix="set EngineConfig.text_runtime to 'torch'")
    return mods[0].auto_model, mods[0].tokenizer, int(mods[0].max_seq_length or 256)


def export(encoder: SentenceTransformerEncoder, folder: Path) -> Path:
    """Write ``folder/model.onnx`` (and its JSON record) for ``encoder``; returns the model path."""
    import torch  # heavy: torch, only to export the text encoder

    bert, tokenizer, _ = _parts(encoder)

    class MeanPooled(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    probe = tokenizer([PROBES[1]], return_tensors="pt")
    return export_module(
        MeanPooled(bert),
        (probe["input_ids"], probe["attention_mask"]),
        folder / MODEL_FILE,
        ["input_ids", "attention_mask"],
        ["embedding"],
        {
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "embedding": {0: "batch"},
        },
        {"encoder": encoder.name, "dim": encoder.dim},
    )


def _verified(encoder: SentenceTransformerEncoder, fast: OnnxQueryEncoder) -> float:
    """Largest difference between the ONNX and torch vectors of the probe sentences."""
    ref = encoder.encode(list(PROBES))
    return float(max(np.abs(fast.encode_one(t) - ref[i]).max() for i, t in enumerate(PROBES)))


def query_encoder(encoder: SentenceTransformerEncoder, folder: Path | None, runtime: str = "onnx"):
    """The online encoder for ``encoder``: ONNX (exported into ``folder`` if needed) or torch.

    Falls back to torch, with a warning, when ``folder`` is None or not writable, the model layout
    is not exportable, ``onnx`` / ``onnxruntime`` are missing, or the export disagrees with torch.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"Unknown text runtime {runtime!r}.", fix=f"use one of {', '.join(RUNTIMES)}")
    if runtime == "torch" or folder is None:
        return TorchQueryEncoder(encoder)
    try:
        _, tokenizer, max_length = _parts(encoder)
        if not is_current(folder / MODEL_FILE, {"encoder": encoder.name, "dim": encoder.dim}):
            export(encoder, folder)
        fast = OnnxQueryEncoder(folder / MODEL_FILE, tokenizer, max_length, encoder.dim)
        diff = _verified(encoder, fast)
        if diff > MAX_DIFF:
            raise ConfigError(
                f"The ONNX text encoder differs from torch by {diff:.2e}.",
                fix=f"delete {folder} to export it again, or use text_runtime 'torch'",
            )
        log.info("text queries through ONNX Runtime (%s; max difference from torch %.1e)", folder, diff)
        return fast
    except (ConfigError, *ONNX_ERRORS) as err:
        log.warning("text queries stay on torch (%s: %s)", type(err).__name__, err)
        return TorchQueryEncoder(encoder)
