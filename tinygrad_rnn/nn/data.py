"""A small batching helper, since every training loop needs one."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .. import random as _random

__all__ = ["batches"]


def batches(*arrays: Any, batch_size: int, shuffle: bool = False, drop_last: bool = False,
            generator: Any = None) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield tuples of aligned batches of ``arrays`` (numpy arrays or Tensors' data, all with the
    same first axis), ``batch_size`` rows each; the last one smaller unless ``drop_last``.  With
    ``shuffle`` the rows are permuted first, by ``generator`` (default: the library's default
    generator, reseeded by ``tg.manual_seed``): a new order on each call, the same order for the
    same seed."""
    if not arrays:
        raise ValueError("batches: give at least one array")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive integer, got {batch_size!r}")
    data = [np.asarray(getattr(a, "data", a)) for a in arrays]
    n = data[0].shape[0] if data[0].ndim else None
    if n is None or any(d.ndim == 0 or d.shape[0] != n for d in data):
        raise ValueError(f"batches: every array needs the same first axis, got shapes {[d.shape for d in data]}")
    order = _random.generator(generator, "batches").permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        take = order[start:start + batch_size]
        yield tuple(d[take] for d in data)
