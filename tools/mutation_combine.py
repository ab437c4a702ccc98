"""Combine a full mutation run with a rerun of its survivors (after tests were added).

    python tools/mutation_combine.py FIRST_TABLE.md SURVIVORS.txt [--also-killed direct.txt]

FIRST_TABLE.md: tools/mutation_score.py's table of the full run; SURVIVORS.txt: the names that
survived it (``mutmut results | grep survived``), since rerun with ``mutmut run NAME ...``.  A
change to the mutmut configuration (the test selection in pyproject.toml) makes mutmut reset every
other result, so the full run's kills are taken from its table (tests were only added since, never
removed or weakened) and each survivor's status from mutmut now.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_score import module_of, names_in, statuses  # noqa: E402  (a sibling script)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("first", type=Path)
    p.add_argument("survivors", type=Path)
    p.add_argument("--also-killed", type=Path)
    p.add_argument("--equivalent", type=Path, default=Path(__file__).with_name("equivalent_mutants.txt"))
    args = p.parse_args(argv)
    first = {}
    for line in args.first.read_text().splitlines():
        m = re.match(r"\| (tinygrad_rnn\.\w+) \| (\d+) \| (\d+) \| (\d+) \((\d+)\) \| (\d+) \| (\d+) \| (\d+) \|", line)
        if m:
            first[m.group(1)] = dict(zip(("mutants", "checked", "killed", "timeouts", "survived", "notests", "equiv"),
                                         map(int, m.groups()[1:])))
    survivors = sorted(names_in(args.survivors))
    equivalent = names_in(args.equivalent)
    direct = names_in(args.also_killed, lambda rest: rest == "killed")
    status = statuses(str(Path(sys.executable).with_name("mutmut")))
    now: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for name in survivors:
        module = module_of(name)
        st = status.get(name, "not checked")
        if st == "survived" and name in direct:
            st = "killed by a direct run"
        elif st == "survived" and name in equivalent:
            st = "equivalent"
        now[module][st] += 1
    print("| file | mutants | killed by the full run | survivors rerun: killed (by a direct run) | still surviving "
          "| equivalent | not rerun | score |")
    print("|---|---|---|---|---|---|---|---|")
    for module in sorted(first):
        f, c = first[module], now[module]
        killed = f["killed"] + c["killed"] + c["timeout"] + c["killed by a direct run"]
        denominator = f["mutants"] - c["equivalent"] - c["not checked"]
        print(f"| {module} | {f['mutants']} | {f['killed']} | {c['killed'] + c['timeout'] + c['killed by a direct run']} "
              f"({c['killed by a direct run']}) | {c['survived']} | {c['equivalent']} | {c['not checked']} "
              f"| {100 * killed / denominator:.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
