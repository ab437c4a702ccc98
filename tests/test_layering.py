"""The engine's modules import one way: no cycle, deferred imports (inside functions, under
``if TYPE_CHECKING``) included, read from the source with ``ast``.  The package's ``__init__`` is
the public facade on top (it imports everything; ``tg.testing`` on first use), so imports of the
facade itself are the users' side, not the engine's layering; an engine module must not use it."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import tinygrad_rnn

ROOT = Path(tinygrad_rnn.__file__).parent
FACADE = "tinygrad_rnn"


def module_name(root: Path, path: Path) -> str:
    parts = (FACADE,) + path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(root: Path, path: Path, known: set[str]) -> set[str]:
    """Every module of the package ``path`` imports, wherever the import statement is."""
    me = module_name(root, path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            modules = {f"{target}.{a.name}" for a in node.names} & known  # from . import ops: the module ops
            found |= modules if modules else {target} & known  # from .ops import stack: ops
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
    return found - {me}


def engine_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the package's modules it imports (the facade ``__init__`` left out as a module)."""
    paths = sorted(root.rglob("*.py"))
    known = {module_name(root, p) for p in paths}
    return {module_name(root, p): imports_of(root, p, known) for p in paths if p != root / "__init__.py"}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (imports of the facade left out), or None."""
    try:
        list(TopologicalSorter({m: deps - {FACADE} for m, deps in graph.items()}).static_order())
    except CycleError as e:
        return list(e.args[1])
    return None


def test_the_engine_has_no_import_cycle():
    assert cycle(engine_graph()) is None


def test_no_engine_module_imports_the_facade():
    users = sorted(m for m, deps in engine_graph().items() if FACADE in deps and not m.startswith(f"{FACADE}.testing"))
    assert users == [], users  # (the testing kit is for users, and imports tinygrad_rnn as they do)


@pytest.mark.parametrize("back", ["from .low import x\n", "def f():\n    from .low import x\n",
                                  "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import low\n"])
def test_the_checker_finds_a_cycle_however_it_is_imported(tmp_path, back):
    # the negative control: a two-module package whose second module imports the first back
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "low.py").write_text("from . import high\n")
    (tmp_path / "high.py").write_text(back)
    assert sorted(set(cycle(engine_graph(tmp_path)) or [])) == [f"{FACADE}.high", f"{FACADE}.low"]
    (tmp_path / "high.py").write_text("x = 1\n")
    assert cycle(engine_graph(tmp_path)) is None
