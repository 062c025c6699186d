#!/usr/bin/env python
"""Find import cycles among a package's modules, counting imports inside functions too.

The graph is built from the source with :mod:`ast`: every ``import`` and ``from ... import``
anywhere in a module (module level, functions, methods) is an edge to the module it names,
except those under ``if TYPE_CHECKING:``, which never run. ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg``. Importing ``pkg.sub`` also runs
``pkg/__init__.py``, but a package importing its own submodules is not counted as a cycle,
so no implicit edge to the parent package is added.

Usage::

    python tools/import_cycles.py [audiokit]     # prints each cycle; exit 1 if any
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_names(package_dir: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` for every .py file of the package."""
    base = package_dir.parent
    out = {}
    for f in sorted(package_dir.rglob("*.py")):
        parts = list(f.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = f
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``."""
    modules = module_names(package_dir)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:  # relative: resolve against this module's package
                    pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                    pkg = pkg[:len(pkg) - node.level + 1]
                    src = ".".join(pkg + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in modules else src for a in node.names]
            for t in targets:
                while t and t not in modules:  # `import audiokit.x.y` of a name inside a module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    edges.add(t)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle, each starting at its smallest module name, sorted."""
    found: set[tuple[str, ...]] = set()
    order = sorted(graph)
    for i, start in enumerate(order):
        allowed = set(order[i:])  # a cycle is found once, from its smallest member
        stack = [(start, iter(sorted(graph[start] & allowed)))]
        path = [start]
        on_path = {start}
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                on_path.discard(path.pop())
            elif nxt == start:
                found.add(tuple(path))
            elif nxt not in on_path:
                path.append(nxt)
                on_path.add(nxt)
                stack.append((nxt, iter(sorted(graph[nxt] & allowed))))
    return sorted(list(c) for c in found)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    package_dir = Path(args[0]) if args else ROOT / "audiokit"
    found = cycles(import_graph(package_dir.resolve()))
    for c in found:
        print(" -> ".join(c + [c[0]]))
    print(f"{len(found)} import cycle{'s' if len(found) != 1 else ''} in {package_dir.name}/",
          file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
