"""Mutation score per engine file, from mutmut's results (``make mutation`` first).

    python tools/mutation_score.py            # every file that has checked mutants
    python tools/mutation_score.py --equivalent tools/equivalent_mutants.txt
    python tools/mutation_score.py --also-killed direct.txt   # survivors killed by a later direct run

``--also-killed FILE``: lines ``NAME killed`` from running tests added after mutmut's run against
a survivor directly (``cd mutants && MUTANT_UNDER_TEST=NAME pytest tests/FILE`` fails): counted
as killed, and reported in their own column so that the table says what mutmut itself saw.

killed = killed + timeout (a mutant that hangs was caught); score = killed / (checked − equivalent),
where ``equivalent`` lists mutants judged to change nothing observable (one name per line, ``#``
comments give the reason). Mutants with no covering test count as survivors, unchecked ones are
reported separately, never counted as killed.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
from pathlib import Path
from typing import Callable


def statuses(mutmut: str) -> dict[str, str]:
    """Every mutant's status as ``mutmut results --all true`` reports it."""
    out = subprocess.run([mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        if ":" in line:
            name, status = (s.strip() for s in line.rsplit(":", 1))
            found[name] = status
    return found


def names_in(path: Path | None, keep: Callable[[str], bool] = lambda rest: True) -> set[str]:
    """The mutant names of a list file: one per line, first field; ``#`` starts a comment; a line
    is kept if ``keep(the rest of the line)``."""
    if path is None or not path.exists():
        return set()
    names = set()
    for line in path.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and keep(" ".join(fields[1:])):
            names.add(fields[0])
    return names


def module_of(name: str) -> str:
    return name.split(".x")[0] if ".x" in name else name.rsplit(".", 1)[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--equivalent", type=Path, default=Path(__file__).with_name("equivalent_mutants.txt"))
    p.add_argument("--mutmut", default=str(Path(sys.executable).with_name("mutmut")))
    p.add_argument("--also-killed", type=Path, default=None)
    args = p.parse_args(argv)
    equivalent = names_in(args.equivalent)
    direct = names_in(args.also_killed, lambda rest: rest == "killed")
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for name, status in statuses(args.mutmut).items():
        module = module_of(name)
        kind = {"killed": "killed", "timeout": "killed", "survived": "survived", "no tests": "no tests",
                "not checked": "unchecked"}.get(status, status)
        if status == "timeout":
            counts[module]["of which timeouts"] += 1
        if kind == "survived" and name in equivalent:
            kind = "equivalent"
        if kind == "survived" and name in direct:
            kind = "killed"
            counts[module]["of which by a direct run"] += 1
        counts[module][kind] += 1
    print("| file | mutants | checked | killed (of which timeouts; by a direct run) | survived | no tests | equivalent "
          "| unchecked | score |")
    print("|---|---|---|---|---|---|---|---|---|")
    for module in sorted(counts):
        c = counts[module]
        checked = sum(c.values()) - c["unchecked"] - c["of which timeouts"] - c["of which by a direct run"]
        if checked == 0:
            continue
        denominator = checked - c["equivalent"]
        score = f"{100 * c['killed'] / denominator:.1f} %" if denominator else "—"
        total = sum(c.values()) - c["of which timeouts"] - c["of which by a direct run"]
        print(f"| {module} | {total} | {checked} | {c['killed']} ({c['of which timeouts']}; "
              f"{c['of which by a direct run']}) | {c['survived']} | {c['no tests']} | {c['equivalent']} "
              f"| {c['unchecked']} | {score} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
