"""docs/ERRATA.md: one row per equation 1-17, a verdict each, and every cited test exists."""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def defined_tests() -> set[str]:
    names = set()
    for path in (ROOT / "tests").glob("test_*.py"):
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
        cited = re.findall(r"`(?:tests/)?(?:(test_\w+\.py)::)?(test_\w+)`", cells[4])
        assert cited, f"eq {cells[0]} cites no test"
        for file, name in cited:
            file = file or "test_errata.py"
            assert f"{file}::{name}" in tests, f"eq {cells[0]} cites missing test {file}::{name}"


def test_wrong_verdicts_match_the_claims_we_test():
    verdicts = {int(r.split("|")[1]): r.split("|")[3].strip().split()[0].rstrip(":,") for r in errata_rows()}
    assert {k for k, v in verdicts.items() if v == "wrong"} == {8, 10, 13, 15, 17}
    assert {k for k, v in verdicts.items() if v == "ambiguous"} == {3, 4}
