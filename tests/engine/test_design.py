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
    engine = {m for m in graph if not m.startswith(f"{FACADE}.testing")}
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
