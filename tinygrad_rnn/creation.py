"""Making tensors: zeros, ones, full, eye, arange, linspace, the ``*_like`` forms, and seeded
random ones.  All are leaves (no history); ``requires_grad=True`` makes them parameters.
Floating results are float64 unless ``dtype`` says otherwise."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import random as _random
from .tensor import Tensor

__all__ = ["zeros", "ones", "full", "eye", "arange", "linspace", "zeros_like", "ones_like", "full_like",
           "rand", "randn"]


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """``f(2, 3)`` and ``f((2, 3))`` both mean shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _leaf(arr: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(arr, requires_grad=requires_grad)


def zeros(*shape: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A tensor of zeros: ``tg.zeros(2, 3)`` or ``tg.zeros((2, 3))``."""
    return _leaf(np.zeros(_shape(shape), dtype=dtype or np.float64), requires_grad)


def ones(*shape: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A tensor of ones."""
    return _leaf(np.ones(_shape(shape), dtype=dtype or np.float64), requires_grad)


def full(shape: Any, value: float, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A tensor of ``shape`` filled with ``value``; the dtype is the value's (``full(s, 4)`` is
    integer, as numpy and PyTorch) unless ``dtype`` is given (or ``requires_grad``: float64)."""
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    arr = np.full(shape, value, dtype=dtype)
    if requires_grad and dtype is None and arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return _leaf(arr, requires_grad)


def eye(n: int, m: int | None = None, k: int = 0, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """The n × m identity (ones on diagonal ``k``)."""
    return _leaf(np.eye(n, m, k, dtype=dtype or np.float64), requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, requires_grad: bool = False,
           dtype: Any = None) -> Tensor:
    """``np.arange``: integers stay integers unless ``dtype`` (or ``requires_grad``) asks for floats."""
    arr = np.arange(start, stop, step, dtype=dtype) if stop is not None else np.arange(start, step=step, dtype=dtype)
    if requires_grad and arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return _leaf(arr, requires_grad)


def linspace(start: float, stop: float, num: int = 50, endpoint: bool = True, requires_grad: bool = False,
             dtype: Any = None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` (float64 unless ``dtype``).  An
    integer dtype truncates toward zero, as PyTorch (numpy ≥ 2 floors: −2.5 → −3 there, −2 here); a
    boolean dtype is refused, as in PyTorch."""
    dt = np.dtype(dtype or np.float64)
    if dt.kind == "b" or dt.kind not in "fiu":
        raise TypeError(f"linspace: dtype must be a float or integer type, got {dt}")
    values = np.linspace(start, stop, num, endpoint=endpoint, dtype=np.float64)
    return _leaf(np.trunc(values).astype(dt) if dt.kind in "iu" else values.astype(dt), requires_grad)


def _like(x: Any) -> np.ndarray:
    return np.asarray(getattr(x, "_data", x))  # shape and dtype only (no value read: tg.compile traces it)


def zeros_like(x: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Zeros with x's shape and dtype."""
    return _leaf(np.zeros_like(_like(x), dtype=dtype), requires_grad)


def ones_like(x: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Ones with x's shape and dtype."""
    return _leaf(np.ones_like(_like(x), dtype=dtype), requires_grad)


def full_like(x: Any, value: float, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """``value`` with x's shape and dtype."""
    return _leaf(np.full_like(_like(x), value, dtype=dtype), requires_grad)


def _generator(rng: Any, name: str) -> np.random.Generator:
    return _random.generator(rng, name)


def rand(*shape: Any, rng: Any = None, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Uniform on [0, 1).  ``rng``: a ``numpy.random.Generator`` (or an int seed); None draws from
    the library's default generator, which ``tg.manual_seed(s)`` reseeds (:mod:`tinygrad_rnn.random`)."""
    return _leaf(_generator(rng, "rand").random(_shape(shape), dtype=dtype or np.float64), requires_grad)


def randn(*shape: Any, rng: Any = None, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Standard normal.  ``rng`` as for :func:`rand`."""
    return _leaf(_generator(rng, "randn").standard_normal(_shape(shape), dtype=dtype or np.float64), requires_grad)
