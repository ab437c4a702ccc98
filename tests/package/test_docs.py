"""docs/ERRATA.md: one row per equation 1-17, a verdict each, and every cited test exists."""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def defined_tests() -> set[str]:
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names.add(f"{path.name}::{node.name}")
    return names


def errata_rows() -> list[str]:
    """The rows of the first table (the one headed | eq | as printed | ...)."""
    lines = (ROOT / "docs" / "ERRATA.md").read_text().splitlines()
    start = lines.index("| eq | as printed | verdict | correct form | proved by |") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_errata_has_17_rows_with_verdicts_and_existing_tests():
    rows = errata_rows()
    assert [int(r.split("|")[1]) for r in rows] == list(range(1, 18))
    tests = defined_tests()
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        assert len(cells) == 5, row
        assert cells[2].split()[0].rstrip(":,") in {"correct", "wrong", "ambiguous"}, cells[2]
        cited = re.findall(r"`(?:tests/(?:\w+/)?)?(?:(test_\w+\.py)::)?(test_\w+)`", cells[4])
        assert cited, f"eq {cells[0]} cites no test"
        for file, name in cited:
            file = file or "test_errata.py"
            assert f"{file}::{name}" in tests, f"eq {cells[0]} cites missing test {file}::{name}"


def verdict_markers() -> dict[str, list[tuple[tuple[int, ...], str]]]:
    """test file::name -> the (equations, verdict) its @pytest.mark.verdict decorators assert."""
    out: dict[str, list[tuple[tuple[int, ...], str]]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call) and ast.unparse(dec.func) == "pytest.mark.verdict":
                    eqs, word = (ast.literal_eval(a) for a in dec.args)
                    eqs = eqs if isinstance(eqs, tuple) else (eqs,)
                    out.setdefault(f"{path.name}::{node.name}", []).append((eqs, word))
    return out


def test_every_verdict_is_asserted_by_a_test_it_cites():
    """The docs follow the evidence: a row's verdict must be asserted (a verdict marker) by one of
    the tests the row cites.  Changing a verdict means changing or writing the test that shows it."""
    marks = verdict_markers()
    for row in errata_rows():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        eq, word = int(cells[0]), cells[2].split()[0].rstrip(":,")
        cited = [f"{file or 'test_errata.py'}::{name}"
                 for file, name in re.findall(r"`(?:tests/(?:\w+/)?)?(?:(test_\w+\.py)::)?(test_\w+)`", cells[4])]
        backing = [t for t in cited if any(eq in eqs and w == word for eqs, w in marks.get(t, []))]
        assert backing, f"eq {eq}: verdict '{word}' is not asserted by any cited test ({cited})"


def test_a_verdict_marker_that_disagrees_with_the_docs_is_caught():
    """Negative control for the check above: the same logic rejects a row whose verdict no cited
    test asserts."""
    marks = {"test_errata.py::test_x": [((8,), "wrong")]}
    row_says, cited = "correct", ["test_errata.py::test_x"]
    assert not [t for t in cited if any(8 in eqs and w == row_says for eqs, w in marks.get(t, []))]
