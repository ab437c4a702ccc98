"""Per-op overhead: forward + backward of a chain of small elementwise ops.

A chain of ``n`` ops alternating ``tanh``, ``* c`` and ``+ x`` on 8-element float64
tensors; reported as microseconds per op (forward + backward together), for the
engine, for hand-written numpy doing the same forward and backward arithmetic (the
floor), and for PyTorch eager when it is installed.  Repetitions of the three are
interleaved round-robin and the median is reported with the interquartile range.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Callable

import numpy as np

import tinygrad_rnn as tg

SIZE = 8


def engine_chain(n: int) -> Callable[[], None]:
    x0 = np.linspace(-1, 1, SIZE)

    def run() -> None:
        x = tg.Tensor(x0, requires_grad=True)
        h = x
        for i in range(n):
            k = i % 3
            h = h.tanh() if k == 0 else (h * 0.9 if k == 1 else h + x)
        h.backward(np.ones(SIZE))

    return run


def compiled_chain(n: int) -> Callable[[], None]:
    """The same chain under ``tg.compile`` (traced once; each call is the replay)."""
    x0 = np.linspace(-1, 1, SIZE)

    def chain(x: tg.Tensor) -> tg.Tensor:
        h = x
        for i in range(n):
            k = i % 3
            h = h.tanh() if k == 0 else (h * 0.9 if k == 1 else h + x)
        return h.sum()  # (the eager chain seeds backward with ones: the same gradient)

    step = tg.compile(chain)

    def run() -> None:
        step(tg.Tensor(x0, requires_grad=True))

    return run


def numpy_chain(n: int) -> Callable[[], None]:
    x0 = np.linspace(-1, 1, SIZE)

    def run() -> None:
        saved = []
        h = x0
        for i in range(n):
            k = i % 3
            if k == 0:
                h = np.tanh(h)
                saved.append(h)
            elif k == 1:
                h = h * 0.9
                saved.append(None)
            else:
                h = h + x0
                saved.append(None)
        g = np.ones(SIZE)
        gx = np.zeros(SIZE)
        for i in reversed(range(n)):
            k = i % 3
            if k == 0:
                y = saved[i]
                g = g * (1.0 - y * y)
            elif k == 1:
                g = g * 0.9
            else:
                gx = gx + g

    return run


def torch_chain(n: int) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    x0 = torch.linspace(-1, 1, SIZE, dtype=torch.float64)

    def run() -> None:
        x = x0.clone().requires_grad_(True)
        h = x
        for i in range(n):
            k = i % 3
            h = h.tanh() if k == 0 else (h * 0.9 if k == 1 else h + x)
        h.backward(torch.ones(SIZE, dtype=torch.float64))

    return run


def measure(n: int = 300, reps: int = 30) -> dict[str, tuple[float, float, float]]:
    """Median and quartiles of µs per op for each implementation."""
    impls = {"tinygrad_rnn": engine_chain(n), "numpy (hand-written)": numpy_chain(n)}
    t = torch_chain(n)
    if t is not None:
        impls["torch eager"] = t
    times: dict[str, list[float]] = {k: [] for k in impls}
    for fn in impls.values():  # warm-up
        fn()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(reps):
            for name, fn in impls.items():
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) / n * 1e6)
    finally:
        if gc_was:
            gc.enable()
    return {k: (float(np.median(v)), float(np.percentile(v, 25)), float(np.percentile(v, 75))) for k, v in times.items()}


def main() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    res = measure()
    print(f"per-op overhead, forward+backward, {SIZE}-element float64 tensors, chain of 300 ops")
    print("| implementation | µs per op (median) | IQR |")
    print("|---|---|---|")
    for k, (med, lo, hi) in res.items():
        print(f"| {k} | {med:.2f} | {lo:.2f}–{hi:.2f} |")


if __name__ == "__main__":
    main()
