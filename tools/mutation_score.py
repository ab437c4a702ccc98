"""Mutation score per engine file, from mutmut's results (``make mutation`` first).

    python tools/mutation_score.py            # every file that has checked mutants
    python tools/mutation_score.py --equivalent tools/equivalent_mutants.txt

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--equivalent", type=Path, default=Path(__file__).with_name("equivalent_mutants.txt"))
    p.add_argument("--mutmut", default=str(Path(sys.executable).with_name("mutmut")))
    args = p.parse_args(argv)
    out = subprocess.run([args.mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    equivalent = set()
    if args.equivalent.exists():
        for line in args.equivalent.read_text().splitlines():
            name = line.split("#", 1)[0].strip()
            if name:
                equivalent.add(name)
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in out.splitlines():
        if ":" not in line:
            continue
        name, status = (s.strip() for s in line.rsplit(":", 1))
        module = name.split(".x")[0] if ".x" in name else name.rsplit(".", 1)[0]
        kind = {"killed": "killed", "timeout": "killed", "survived": "survived", "no tests": "no tests",
                "not checked": "unchecked"}.get(status, status)
        if status == "timeout":
            counts[module]["of which timeouts"] += 1
        if kind == "survived" and name in equivalent:
            kind = "equivalent"
        counts[module][kind] += 1
    print("| file | mutants | checked | killed (of which timeouts) | survived | no tests | equivalent | score |")
    print("|---|---|---|---|---|---|---|---|")
    for module in sorted(counts):
        c = counts[module]
        checked = sum(c.values()) - c["unchecked"] - c["of which timeouts"]
        if checked == 0:
            continue
        denominator = checked - c["equivalent"]
        score = f"{100 * c['killed'] / denominator:.1f} %" if denominator else "—"
        total = sum(c.values()) - c["of which timeouts"]
        print(f"| {module} | {total} | {checked} | {c['killed']} ({c['of which timeouts']}) | {c['survived']} | "
              f"{c['no tests']} | "
              f"{c['equivalent']} | {score} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
