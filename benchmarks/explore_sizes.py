"""The step-through page at growing T: file size, time to make it, time for Chromium to load it,
and time per step (``walk.go``), for the seed's model (D=2, H=3, K=3).

    python -m benchmarks.explore_sizes      # prints the table (benchmarks/explore_sizes.md holds the last one)

T = 32 is made with the limits raised (max_nodes, max_layout_cost), to see whether the page
would stay usable beyond the default limit (T = 18).
"""

from __future__ import annotations

import gzip
import tempfile
import time
from pathlib import Path

import numpy as np

from tinygrad_rnn.models.attention_rnn import AttentionRNN
from tinygrad_rnn.models.explore import explore_unrolled
from tinygrad_rnn.viz.browser import open_page


def main() -> int:
    print("| T | records | page (KiB) | gzipped (KiB) | made in (s) | loaded in (s) | one step (ms) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for T in (8, 16, 32):
            model = AttentionRNN(2, 3, 3, seed=0)
            rng = np.random.default_rng(0)
            xs, ys = rng.standard_normal((T, 2)), rng.integers(0, 3, T)
            path = Path(d) / f"p{T}.html"
            start = time.perf_counter()
            explore_unrolled(model, xs, ys, path, max_nodes=10_000, max_layout_cost=10**7)
            made = time.perf_counter() - start
            raw = path.read_bytes()
            start = time.perf_counter()
            with open_page(path, 1600, 1000) as page:
                loaded = time.perf_counter() - start
                steps = page.evaluate("() => walk.steps")
                ms = page.evaluate("""(n) => { const t0 = performance.now();
                    for (let i = 1; i <= 20; i++) walk.go(Math.round(n * i / 21));
                    return (performance.now() - t0) / 20; }""", steps)
            print(f"| {T} | {steps} | {len(raw) / 1024:.0f} | {len(gzip.compress(raw)) / 1024:.0f} | {made:.1f} "
                  f"| {loaded:.1f} | {ms:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
