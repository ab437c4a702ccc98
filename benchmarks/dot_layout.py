"""How long Graphviz's ``dot`` takes against :func:`tinygrad_rnn.viz.layout_cost`, the number the
drawing guard refuses on (``viz.MAX_LAYOUT_COST``).

    python -m benchmarks.dot_layout            # prints the table (benchmarks/dot_layout.md holds the last one)

Graphs: a chain of T scopes fed by one parameter, collapsed to one node per step (the audit's
700-step case) and drawn in full, and the seed's model unrolled (the README's drawings).  Each is
laid out once to SVG by ``dot`` in a fresh process, with a 120 s timeout.
"""

from __future__ import annotations

import subprocess
import time

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import viz
from tinygrad_rnn.models.attention_rnn import AttentionRNN
from tinygrad_rnn.models.draw import draw_unrolled


def chain(T: int) -> tg.Tensor:
    W = tg.Tensor(np.eye(4) * 0.5, requires_grad=True, name="W")
    h = tg.Tensor(np.zeros(4))
    for t in range(1, T + 1):
        with tg.scope(f"t={t}"):
            h = (h @ W + 0.1).tanh()
    return h.sum()


def seconds(source: str) -> str:
    start = time.perf_counter()
    try:
        done = subprocess.run(["dot", "-Tsvg", "-o", "/dev/null"], input=source, text=True, timeout=120,
                              capture_output=True)
    except subprocess.TimeoutExpired:
        return "> 120 (timed out)"
    if done.returncode != 0:
        return f"{time.perf_counter() - start:.2f}, then dot failed (exit {done.returncode})"
    return f"{time.perf_counter() - start:.2f}"


def main() -> int:
    no_limit = dict(max_nodes=10**6, max_layout_cost=10**9)
    cases = []
    for T in (100, 200, 300, 400, 700):
        cases.append((f"chain of {T} scopes, collapsed", viz.draw(chain(T), collapse=True, **no_limit)))
    for T in (40, 80, 150):
        cases.append((f"chain of {T} scopes, in full", viz.draw(chain(T), **no_limit)))
    for T in (8, 12, 16):
        m = AttentionRNN(2, 3, 3, seed=0)
        rng = np.random.default_rng(0)
        cases.append((f"seed's model unrolled, T = {T}",
                      draw_unrolled(m, rng.standard_normal((T, 2)), rng.integers(0, 3, T), max_nodes=5000)))
    print(f"| graph | layout cost | refused (> {viz.MAX_LAYOUT_COST}) | dot -Tsvg (s) |")
    print("|---|---|---|---|")
    import re

    for name, g in cases:
        edges = re.findall(r"^\s*(\S+) -> (\S+)", g.source, re.M)
        nodes = re.findall(r"^\s*(\w+) \[", g.source, re.M)
        cost = viz.layout_cost([n for n in nodes if n not in ("graph", "node", "edge")], edges)
        print(f"| {name} | {cost} | {'yes' if cost > viz.MAX_LAYOUT_COST else 'no'} | {seconds(g.source)} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
