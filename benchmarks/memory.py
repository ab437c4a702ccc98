"""Peak memory of one train step against T (tracemalloc sees every numpy allocation), whether
memory returns after backward, and how deep a graph the engine walks."""

from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any

import numpy as np

from benchmarks.train_step import make_case
from tinygrad_rnn.models import closed_form as cf
from benchmarks import floor
from tinygrad_rnn.models.attention_rnn import AttentionRNN


def peak_step(T: int, B: int = 1, D: int = 16, H: int = 32, K: int = 16) -> dict[str, Any]:
    params, xs, ys = make_case(B, T, D, H, K)
    out: dict[str, Any] = {"T": T}
    model = AttentionRNN.from_params(params)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    loss = model.loss(xs, ys)
    loss.backward()
    del loss
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grads = sum(p.grad.nbytes for p in model.params().values())
    out["engine_peak"] = peak - base
    out["engine_after"] = current - base - grads  # what is still held besides the gradients themselves
    out["closed_peak"] = _peak(lambda: cf.bptt(params, xs, ys))
    floor._WORKSPACES.clear()  # the floor's footprint includes its reused buffers: measure a cold call
    out["floor_peak"] = _peak(lambda: floor.bptt_fast(params, xs, ys))
    floor._WORKSPACES.clear()
    return out


def _peak(fn: Any) -> int:
    """Peak bytes traced while ``fn()`` runs (its result dropped afterwards)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del result
    return peak


def depth(T: int = 10_000) -> dict[str, Any]:
    """Fused mode at T (graph depth T through the recurrence) and the attention-free model
    unrolled at T (one op per symbol): both must complete; times and op counts."""
    res: dict[str, Any] = {"T": T}
    params, xs, ys = make_case(1, T, 4, 8, 4)
    for label, model, mode in (("fused", AttentionRNN.from_params(params), "fused"),
                               ("unrolled, no attention", AttentionRNN.from_params(params, attention=False),
                                "unrolled")):
        start = time.perf_counter()
        loss = model.loss(xs, ys, mode=mode)
        ops = len(loss.history())
        loss.backward()
        res[label] = {"seconds": time.perf_counter() - start, "ops": ops,
                      "finite": bool(all(np.isfinite(p.grad).all() for p in model.params().values()))}
    return res
