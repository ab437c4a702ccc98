"""The engine's modules import one way: no cycle, deferred imports (inside functions, under
``if TYPE_CHECKING``) included, read from the source with ``ast``; the one exception is the
annotation-only import of the name ``Tensor`` (ANNOTATION_ONLY), which never runs.  The package's ``__init__`` is
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


# The one import that is not an edge: the name ``Tensor``, under ``if TYPE_CHECKING`` (never run),
# so that ops and op.py can say they return Tensors.  Any other typing-only import counts.
ANNOTATION_ONLY = (f"{FACADE}.tensor", ("Tensor",))


def annotation_only(root: Path, path: Path) -> set[int]:
    """The ids of the allowed annotation-only import nodes of ``path`` (see ANNOTATION_ONLY)."""
    allowed: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            allowed |= {(inner.lineno, inner.col_offset) for inner in node.body if isinstance(inner, ast.ImportFrom)
                        and inner.module == "tensor" and tuple(a.name for a in inner.names) == ANNOTATION_ONLY[1]}
    return allowed


def imports_of(root: Path, path: Path, known: set[str]) -> set[str]:
    """Every module of the package ``path`` imports, wherever the import statement is (but the
    annotation-only import of ``Tensor``)."""
    me = module_name(root, path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    skip = annotation_only(root, path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.lineno, node.col_offset) in skip:
            target = ".".join(package.split(".")[: len(package.split(".")) - (node.level - 1)] + ["tensor"])
            assert target == ANNOTATION_ONLY[0], (path, target)  # the engine's tensor module, nothing else
            continue
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
    users = sorted(m for m, deps in engine_graph().items() if FACADE in deps and not m.startswith((f"{FACADE}.testing", f"{FACADE}.course")))
    assert users == [], users  # (the testing kit and the course's checkers are for users, and import tinygrad_rnn as they do)


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


def test_only_the_annotation_import_of_tensor_is_left_out_of_the_graph(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "tensor.py").write_text("from . import low\nclass Tensor: ...\nclass Other: ...\n")
    typing_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .tensor import {}\n"
    (tmp_path / "low.py").write_text(typing_only.format("Tensor"))
    assert cycle(engine_graph(tmp_path)) is None
    for other in ("Other", "Tensor, Other"):  # any other name is an edge, so a cycle
        (tmp_path / "low.py").write_text(typing_only.format(other))
        assert cycle(engine_graph(tmp_path)) is not None
    (tmp_path / "low.py").write_text("from .tensor import Tensor\n")  # and so is a run-time import of Tensor
    assert cycle(engine_graph(tmp_path)) is not None


# ----------------------------------------------------------------------------- the op set's registry
ALIASES = {"unsqueeze": "expand_dims"}  # PyTorch's name for the same op


def test_a_public_op_is_recorded_under_its_own_name():
    for name, obj in tinygrad_rnn.ops.PUBLIC.items():
        if isinstance(obj, tinygrad_rnn.Op):
            assert obj.name == ALIASES.get(name, name), (name, obj.name)


def test_every_op_is_in_the_registry_once_by_its_name():
    from tinygrad_rnn import ops

    found = {id(op): op for kind in ops.KINDS for op in vars(kind).values() if isinstance(op, tinygrad_rnn.Op)}
    names = [op.name for op in found.values()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert {id(op) for op in ops.REGISTRY.values()} == set(found)


def test_the_facade_offers_the_op_set_and_the_function_sets_read_it():
    from tinygrad_rnn.funcs import NP, TG

    internal = {"getitem", "scatter", "class_coefficients", "norm"}  # Tensor indexing; a loss helper; tg.linalg.norm
    missing = sorted(n for n in tinygrad_rnn.ops.PUBLIC if n not in internal and getattr(tinygrad_rnn, n, None)
                     is not tinygrad_rnn.ops.PUBLIC[n])
    assert missing == []
    assert tinygrad_rnn.linalg.norm is tinygrad_rnn.ops.PUBLIC["norm"]
    assert TG.gelu is tinygrad_rnn.gelu and NP.gelu is tinygrad_rnn.gelu.fn  # by name, from the registry


def test_the_models_maths_does_not_use_the_application():
    """models/app/ (run directories, sweep, command-line helpers, plots) is above the model: the
    model, its closed forms and its tasks never import it.  (Module names here are relative to models/.)"""
    graph = engine_graph(ROOT.parent / "models")
    maths = ("attention_rnn", "closed_form", "data", "tasks", "errata")
    users = {m: sorted(d) for m, d in graph.items() if m.split(".")[-1] in maths and any(".app" in x for x in d)}
    assert users == {}
    assert any(".app" in x for x in graph[f"{FACADE}.train"])  # the control: train does use it
