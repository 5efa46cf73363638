"""Find import circles between modules of the given packages, counting imports inside functions too, and
imports inside functions that do not say why they are there.

An import inside a function is only for an optional heavy dependency (torch, faiss, flair, Pillow...) or
to keep a command fast (``tailor --help``), and says so: a ``# heavy: <reason>`` or ``# lazy: <reason>``
comment ending its line or on the line above; a comment above a block of imports (no blank line between
them) covers the block. Anything else belongs at the top of the module.

Usage: python scripts/import_cycles.py retrieval actions bot  (exit 1 when a circle or an unmarked import exists)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_name(path: Path) -> str:
    """Dotted module name of a source file under the current directory."""
    parts = list(path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Project modules ``path`` imports anywhere in its body (a package import counts as its ``__init__``)."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


MARKS = ("# heavy", "# lazy")


def function_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements inside function bodies (nested functions' too, each once), in line order."""
    found: dict[int, ast.Import | ast.ImportFrom] = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found[id(node)] = node
    return sorted(found.values(), key=lambda n: (n.lineno, n.col_offset))


def unmarked_imports(path: Path) -> tuple[int, list[tuple[int, str]]]:
    """``(imports inside functions, [(line, module)] of those without a # heavy / # lazy reason)`` of ``path``."""
    text = path.read_text()
    lines = text.splitlines()

    def marked(lineno: int) -> bool:
        return 1 <= lineno <= len(lines) and any(m in lines[lineno - 1] for m in MARKS)

    nodes = function_imports(ast.parse(text, str(path)))
    out: list[tuple[int, str]] = []
    prev_end, prev_ok = -1, False
    for node in nodes:
        end = node.end_lineno or node.lineno
        ok = (
            marked(node.lineno)
            or marked(end)
            or marked(node.lineno - 1)
            or (prev_ok and prev_end == node.lineno - 1)  # the next line of a marked block
        )
        if not ok:
            mod = (node.module or "") if isinstance(node, ast.ImportFrom) else node.names[0].name
            out.append((node.lineno, "." * getattr(node, "level", 0) + mod))
        prev_end, prev_ok = end, ok
    return len(nodes), out


def main(argv: list[str]) -> int:
    """Print each circle and each unmarked import inside a function; 1 when any exists."""
    files = [p for root in argv for p in sorted(Path(root).rglob("*.py"))]
    known = {module_name(p) for p in files}
    graph = {module_name(p): imports_of(p, known) - {module_name(p)} for p in files}
    # a module importing its own package's __init__ is not a circle worth reporting unless the __init__ imports back
    found = cycles(graph)
    for comp in found:
        sys.stdout.write("import circle: " + " <-> ".join(comp) + "\n")
    sys.stdout.write(f"{len(files)} modules, {len(found)} import circles\n")
    total, unmarked = 0, 0
    for path in files:
        n, bad = unmarked_imports(path)
        total += n
        unmarked += len(bad)
        for lineno, mod in bad:
            sys.stdout.write(
                f"{path}:{lineno}: import of {mod} inside a function without a '# heavy:' or '# lazy:' reason\n"
            )
    sys.stdout.write(f"{total} imports inside functions, {unmarked} without a # heavy / # lazy reason\n")
    return 1 if found or unmarked else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:] or ["retrieval", "actions", "bot"]))
