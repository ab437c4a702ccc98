"""Forward and backward cost per op of a 100-step tanh recurrence (300 records), best of 60, in this
process: the walk's own overhead, for paired runs of two checkouts.

    PYTHONPATH=<checkout> python benchmarks/walk_overhead.py     # prints: forward µs/op, backward µs/op
"""

from __future__ import annotations

import time

import numpy as np

import tinygrad_rnn as tg


def main() -> None:
    x = tg.Tensor(np.linspace(0.1, 0.9, 8), requires_grad=True)
    W = tg.Tensor(np.eye(8) * 0.5, requires_grad=True)

    def build() -> tg.Tensor:
        h = x
        for _ in range(100):
            h = (W @ h + x).tanh()
        return h.sum()

    best_f = best_b = float("inf")
    for _ in range(60):
        t0 = time.perf_counter()
        L = build()
        t1 = time.perf_counter()
        L.backward()
        t2 = time.perf_counter()
        best_f, best_b = min(best_f, t1 - t0), min(best_b, t2 - t1)
    print(f"{best_f * 1e6 / 300:.2f} {best_b * 1e6 / 300:.2f}")


if __name__ == "__main__":
    main()
