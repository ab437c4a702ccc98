"""docs/DESIGN.md stays true of the code: its reading-order table lists every engine module, in an
order in which no module imports one listed after it, with line counts within 10 % of ``wc -l``;
and every file it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_layering import FACADE, ROOT, engine_graph

DESIGN = ROOT.parent / "docs" / "DESIGN.md"
ROW = re.compile(r"^\| (\d+) \| `(tinygrad_rnn/[\w/]+\.py)` \| (\d+) \| .+ \|$")


def table(text: str) -> list[tuple[str, int]]:
    rows = [ROW.match(line) for line in text.splitlines()]
    return [(m.group(2), int(m.group(3))) for m in rows if m]


def module_of(path: str) -> str:
    name = path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def problems(text: str, root: Path = ROOT) -> list[str]:
    """What is wrong with a DESIGN.md text's table, for the package at ``root``."""
    rows = table(text)
    graph = engine_graph(root)
    engine = {m for m in graph if not m.startswith((f"{FACADE}.testing", f"{FACADE}.course"))}  # users' layers
    listed = [module_of(p) for p, _ in rows]
    found = [f"not in the table: {m}" for m in sorted(engine - set(listed))]
    found += [f"no such module: {m}" for m in listed if m not in graph]
    for k, m in enumerate(listed):
        later = graph.get(m, set()) & set(listed[k + 1:])
        found += [f"{m} imports {d}, listed after it" for d in sorted(later)]
    for path, lines in rows:
        real = len((root.parent / path).read_text().splitlines()) if (root.parent / path).exists() else 0
        if abs(real - lines) > 0.1 * real:
            found.append(f"{path}: the table says {lines} lines, it has {real}")
    return found


def test_the_reading_order_is_the_import_order_with_true_sizes():
    assert problems(DESIGN.read_text()) == []


def test_every_file_design_names_exists():
    named = set(re.findall(r"`((?:tinygrad_rnn|models|viz|tests|docs|benchmarks)/[\w/.]+)`", DESIGN.read_text()))
    assert named and sorted(p for p in named if not (ROOT.parent / p).exists()) == []


@pytest.mark.parametrize("change", ["swap", "size", "drop"])
def test_the_table_check_can_fail(change):
    text = DESIGN.read_text()
    rows = [line for line in text.splitlines() if ROW.match(line)]
    if change == "swap":  # tape.py (imports saved.py) listed before saved.py
        a, b = rows[1], rows[2]
        bad = text.replace(a, "\0").replace(b, a).replace("\0", b)
    elif change == "size":
        bad = text.replace(rows[0], re.sub(r"^\| (\d+) \| (`[^`]+`) \| \d+ \|", r"| \1 | \2 | 9999 |", rows[0]))
    else:
        bad = text.replace(rows[-1] + "\n", "")
    assert problems(bad) != []


# ----------------------------------------------------------------------------- the learner's core
LAYERED = {"creation", "functional", "finite_differences", "gradcheck", "optim", "memory", "testing"}
STATED = re.compile(r"about ([\d ]+) lines, plus the (\d+) ops.*?about ([\d ]+) lines, in the op files.*?"
                    r"about ([\d ]+) lines in all", re.S)


def core_files(text: str) -> list[str]:
    rows = [re.match(r"^\| \d+ \| `(tinygrad_rnn/[\w/]+\.py)` \| \d+ \| \*\*core\*\* ", line) for line in text.splitlines()]
    return [m.group(1) for m in rows if m]


def core_ops_lines() -> int:
    import inspect

    from tinygrad_rnn import ops
    from tinygrad_rnn.op import Op

    total = 0
    for name in ops.CORE:
        f = ops.PUBLIC.get(name) or ops.REGISTRY[name]
        total += len(inspect.getsourcelines(f.fn if isinstance(f, Op) else f)[0])  # with its decorator's rules
    return total


def core_problems(text: str) -> list[str]:
    """What is untrue in DESIGN.md's statement of the learner's core (its files and sizes)."""
    from tinygrad_rnn import ops

    files = core_files(text)
    found = []
    if [Path(f).name for f in files] != ["recording.py", "saved.py", "tape.py", "op.py", "funcs.py", "backward.py",
                                         "tensor.py"]:
        found.append(f"core files: {files}")
    m = STATED.search(text)
    if m is None:
        return found + ["no statement of the core's size"]
    stated = [int(x.replace(" ", "")) for x in m.group(1, 2, 3, 4)]
    measured = [sum(len((ROOT.parent / f).read_text().splitlines()) for f in files), len(ops.CORE), core_ops_lines()]
    measured.append(measured[0] + measured[2])
    if stated[1] != measured[1]:
        found.append(f"{stated[1]} core ops stated, {measured[1]} in ops.CORE")
    found += [f"{what}: stated {stated[k]}, measured {measured[k]}" for k, what in ((0, "files"), (2, "ops"), (3, "all"))
              if abs(stated[k] - measured[k]) > 0.1 * measured[k]]
    return found


def test_the_learners_core_is_marked_and_its_stated_size_is_true():
    assert core_problems(DESIGN.read_text()) == []


@pytest.mark.parametrize("change", ["size", "unmark"])
def test_the_core_check_can_fail(change):
    text = DESIGN.read_text()
    if change == "size":
        bad = text.replace("about 2 740 lines in all", "about 1 900 lines in all")
    else:
        bad = text.replace("**core** · the record", "the record")
    assert bad != text and core_problems(bad) != []


def test_the_core_never_imports_what_is_layered_on_it():
    graph = engine_graph()
    core = {module_of(f) for f in core_files(DESIGN.read_text())}
    reach = {m: sorted(d for d in graph[m] if d.split(".")[1] in LAYERED) for m in core}
    assert {m: r for m, r in reach.items() if r} == {}
    # and what is layered is really above: each of its modules imports the core
    assert all(graph[f"{FACADE}.{m}"] & (core | {f"{FACADE}.ops"}) for m in LAYERED - {"memory", "testing", "finite_differences"})


def test_the_path_from_backward_to_grad_stays_in_three_core_files():
    import inspect

    from tinygrad_rnn import backward, tape
    from tinygrad_rnn.tensor import Tensor

    path = [Tensor.backward, backward.backward, backward.walk, backward.claim, tape.tape_of, backward.Gradients.arrive,
            backward.Gradients.gradient, tape.Record.vjp, backward.checked_gradient, backward.fit_gradient,
            backward.Gradients.add, backward._add_to_grad, backward._accumulate, tape.Record.free]
    files = {Path(inspect.getsourcefile(f)).name for f in path}
    assert files == {"tensor.py", "backward.py", "tape.py"}
    core = {Path(f).name for f in core_files(DESIGN.read_text())}
    assert files <= core


def test_every_engine_test_file_is_in_the_table_of_what_it_specifies():
    listed = set(re.findall(r"^\| `tests/engine/([\w]+\.py)` \|", DESIGN.read_text(), re.M))
    present = {p.name for p in (ROOT.parent / "tests" / "engine").glob("*.py")}
    assert listed == present, (sorted(present - listed), sorted(listed - present))
