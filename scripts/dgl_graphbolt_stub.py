"""Give dgl 2.1.0 the graphbolt library it insists on loading for torch 2.13.0.

dgl 2.1.0 (the newest Linux wheel) ships ``dgl/graphbolt/libgraphbolt_pytorch_<torch>.so`` only
for torch <= 2.2 and refuses to import when the file for the running torch is missing or cannot be
loaded by ``torch.classes.load_library``. tailor never uses graphbolt, so an empty shared library
(compiled here from an empty C file) is enough. Idempotent; run with the venv's python:

    .venv/bin/python scripts/dgl_graphbolt_stub.py
"""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import subprocess
import sys


def main() -> int:
    """Create the stub if it is missing; return a process exit code."""
    spec = importlib.util.find_spec("dgl")
    torch_spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None or torch_spec is None:
        sys.stderr.write("dgl or torch is not installed in this interpreter; run make setup first\n")
        return 1
    import torch

    version = torch.__version__.split("+", maxsplit=1)[0]
    target = pathlib.Path(spec.origin).parent / "graphbolt" / f"libgraphbolt_pytorch_{version}.so"
    if target.exists() and target.stat().st_size > 0:
        return 0
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        sys.stderr.write("no C compiler found: install gcc (apt-get install gcc) and re-run\n")
        return 1
    subprocess.run([compiler, "-shared", "-fPIC", "-x", "c", "-o", str(target), "-"], input=b"\n", check=True)
    sys.stdout.write(f"created {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
