"""Hypothesis strategies for gradient tests: bounded finite arrays, well conditioned by default.

**Why distinct by default.** Hypothesis shrinks a failing input towards the simplest one, and the
simplest array is a constant one: ``[[1., 1.]]``.  At a constant row a normalisation (layer norm,
a standardised score) divides cancelled digits by a tiny spread, ``max``/``sort`` sit on a tie, and
central differences are pure round-off, so a correct gradient "fails" and a real bug shrinks to a
point that cannot show it.  :func:`arrays` therefore draws elements that differ pairwise by at
least ``margin`` (``distinct=True``): they shrink towards the ramp ``min, min + margin, …`` instead
of a constant.  Pass ``distinct=False`` to test ties on purpose.  ``avoid`` keeps elements
``margin`` away from kinks (0 for relu/abs), ``min_value`` away from poles (0.1 for log/sqrt).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..tensor import Tensor

__all__ = [
    "elements", "shapes", "arrays", "tensors", "broadcastable_arrays",
    "token_sequences", "one_hot_sequences", "padded_batches", "parameter_sets",
]


def _allowed(min_value: float, max_value: float, avoid: Sequence[float], margin: float) -> list[tuple[float, float]]:
    """[min_value, max_value] minus the open intervals (p − margin, p + margin), as closed pieces."""
    pieces = [(float(min_value), float(max_value))]
    for p in sorted(float(q) for q in avoid):
        out = []
        for lo, hi in pieces:
            if p + margin <= lo or p - margin >= hi:
                out.append((lo, hi))
                continue
            if p - margin > lo:
                out.append((lo, p - margin))
            if p + margin < hi:
                out.append((p + margin, hi))
        pieces = out
    if not pieces:
        raise ValueError(f"elements: avoid={tuple(avoid)} with margin {margin} leaves nothing of "
                         f"[{min_value}, {max_value}]")
    return pieces


def _place(s: float, pieces: list[tuple[float, float]]) -> float:
    """The point at arc length ``s`` along the allowed pieces (the gaps skipped)."""
    for lo, hi in pieces:
        if s <= hi - lo:
            return lo + s
        s -= hi - lo
    return pieces[-1][1]


def elements(
    min_value: float = -3.0,
    max_value: float = 3.0,
    avoid: Sequence[float] = (),
    margin: float = 0.05,
    grid: float | None = None,
) -> st.SearchStrategy[float]:
    """Finite floats in [min_value, max_value], at least ``margin`` from every point in
    ``avoid`` (values that land closer are pushed out to the nearer side).

    With ``grid`` the values are multiples of ``grid`` (so distinct values differ by at
    least ``grid``: useful for max/argmax ties)."""
    if not min_value < max_value:
        raise ValueError(f"elements: need min_value < max_value, got {min_value} and {max_value}")
    if grid is not None:
        lo, hi = int(np.ceil(min_value / grid)), int(np.floor(max_value / grid))
        base = st.integers(lo, hi).map(lambda k: k * grid)
    else:
        base = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)
    if not avoid:
        return base
    points = tuple(float(p) for p in avoid)

    def push(v: float) -> float:
        for p in points:
            if abs(v - p) < margin:
                v = p + margin if v >= p else p - margin
        return v

    return base.map(push)


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy[tuple]:
    """Small array shapes (``hypothesis.extra.numpy.array_shapes`` with friendly defaults)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


@st.composite
def _distinct(draw: Callable[..., Any], shape: Any, min_value: float, max_value: float, avoid: Sequence[float],
              margin: float, dtype: Any) -> np.ndarray:
    """Elements pairwise at least ``margin`` apart (less only when the shape cannot fit: then
    spread evenly), none within ``margin`` of ``avoid``: sorted draws on the allowed length with the
    spacing added, then shuffled.  Shrinks to the ramp min, min + margin, …"""
    if isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (int(shape),)
    n = int(np.prod(shape))
    pieces = _allowed(min_value, max_value, avoid, margin)
    length = sum(hi - lo for lo, hi in pieces)
    gap = margin if n <= 1 or (n - 1) * margin <= length else length / (n - 1)
    free = max(length - (n - 1) * gap, 0.0)
    us = sorted(draw(st.lists(st.floats(0.0, free, allow_nan=False), min_size=n, max_size=n)))
    order = draw(st.permutations(range(n)))
    values = np.array([_place(min(u + k * gap, length), pieces) for k, u in enumerate(us)], dtype=np.float64)
    return values[list(order)].reshape(shape).astype(dtype)


def arrays(
    shape: tuple[int, ...] | st.SearchStrategy[tuple] | None = None,
    *,
    min_value: float = -3.0,
    max_value: float = 3.0,
    avoid: Sequence[float] = (),
    margin: float = 0.05,
    distinct: bool = True,
    dtype: Any = np.float64,
    min_dims: int = 0,
    max_dims: int = 3,
    min_side: int = 1,
    max_side: int = 4,
) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of a given shape (or a drawn small shape) with bounded finite elements.

    ``distinct=True`` (the default, see the module docstring): elements pairwise ≥ ``margin``
    apart, so no constant row, no tie.  ``distinct=False``: independent elements (ties and
    constant rows happen, and are what shrinking goes for)."""
    if not min_value < max_value:
        raise ValueError(f"arrays: need min_value < max_value, got {min_value} and {max_value}")
    if shape is None:
        shape = shapes(min_dims, max_dims, min_side, max_side)
    if distinct:
        return _distinct(shape, min_value, max_value, avoid, margin, dtype)
    return hnp.arrays(dtype, shape, elements=elements(min_value, max_value, avoid, margin))


def tensors(shape: Any = None, *, requires_grad: bool = True, **kwargs: Any) -> st.SearchStrategy[Tensor]:
    """Like :func:`arrays`, wrapped as Tensors (``requires_grad=True`` by default)."""
    return arrays(shape, **kwargs).map(lambda a: Tensor(a, requires_grad=requires_grad))


@st.composite
def broadcastable_arrays(
    draw: Callable[..., Any],
    num: int = 2,
    *,
    max_dims: int = 3,
    max_side: int = 4,
    **kwargs: Any,
) -> tuple[np.ndarray, ...]:
    """``num`` arrays whose shapes broadcast together (``mutually_broadcastable_shapes``)."""
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=num, max_dims=max_dims, max_side=max_side))
    return tuple(draw(arrays(s, **kwargs)) for s in bs.input_shapes)


# ------------------------------------------------------------------------------ recurrent inputs
def _size(draw: Callable[..., Any], v: int | st.SearchStrategy[int]) -> int:
    return int(draw(v)) if isinstance(v, st.SearchStrategy) else int(v)


@st.composite
def token_sequences(draw: Callable[..., Any], vocab: int | st.SearchStrategy[int],
                    steps: int | st.SearchStrategy[int] = st.integers(1, 8),
                    batch: int | st.SearchStrategy[int] | None = None) -> np.ndarray:
    """Integer token ids in [0, vocab): shape (T,), or (B, T) with ``batch``."""
    V, T = _size(draw, vocab), _size(draw, steps)
    if V < 1:
        raise ValueError(f"token_sequences: vocab must be ≥ 1, got {V}")
    lead = (T,) if batch is None else (_size(draw, batch), T)
    return draw(hnp.arrays(np.int64, lead, elements=st.integers(0, V - 1)))


def one_hot_sequences(vocab: int | st.SearchStrategy[int], steps: int | st.SearchStrategy[int] = st.integers(1, 8),
                      batch: int | st.SearchStrategy[int] | None = None) -> st.SearchStrategy[np.ndarray]:
    """float64 one-hot rows of :func:`token_sequences`: shape (T, V) or (B, T, V)."""
    @st.composite
    def build(draw: Callable[..., Any]) -> np.ndarray:
        V = _size(draw, vocab)
        ids = draw(token_sequences(V, steps, batch))
        return np.eye(V)[ids]
    return build()


@st.composite
def padded_batches(draw: Callable[..., Any], features: int | st.SearchStrategy[int] = st.integers(1, 4),
                   batch: int | st.SearchStrategy[int] = st.integers(1, 3),
                   max_steps: int = 8, **kwargs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A padded batch of sequences of different lengths: ``(x, lengths, mask)`` with x (B, T, D)
    (zeros past each length), lengths (B,) in [1, T] with T = max(lengths), mask (B, T) float64
    (1 where a step is real).  ``kwargs`` go to :func:`arrays` for the real steps."""
    B, D = _size(draw, batch), _size(draw, features)
    lengths = np.array(draw(st.lists(st.integers(1, max_steps), min_size=B, max_size=B)), dtype=np.int64)
    T = int(lengths.max())
    x = np.zeros((B, T, D))
    for s, n in enumerate(lengths):
        x[s, :n] = draw(arrays((int(n), D), **kwargs))
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.float64)
    return x, lengths, mask


@st.composite
def parameter_sets(draw: Callable[..., Any], shapes: Mapping[str, Sequence[int | str]],
                   dims: Mapping[str, int | st.SearchStrategy[int] | Callable[[dict[str, int]], int]] | None = None,
                   scale: tuple[float, float] = (0.3, 1.5)) -> dict[str, np.ndarray]:
    """Named arrays whose shapes share symbolic sizes, e.g. the seed's model::

        parameter_sets({"W": ("H", "H"), "U": ("H", "D"), "b": ("H",), "xs": ("T", "D")},
                       dims={"H": st.integers(1, 6), "D": st.integers(1, 4), "T": st.integers(1, 10)})

    A size may also be a function of the drawn ones (``"3H": lambda d: 3 * d["H"]``, for stacked
    gates).  Each size is drawn once (so hypothesis shrinks T, H, … to the smallest failing ones); the
    values are N(0, s²/fan_in) from a drawn seed and a drawn ``s`` in ``scale`` (fan_in: the last
    axis of a matrix, 1 for a vector).  The drawn sizes are in the result under ``"dims"``."""
    dims = dict(dims or {})
    sizes: dict[str, int] = {}
    needed = sorted({d for shape in shapes.values() for d in shape if isinstance(d, str)})
    for name in needed:
        if name not in dims:
            raise ValueError(f"parameter_sets: size {name!r} has no entry in dims= (got {sorted(dims)})")
    for name in sorted(dims):  # drawn sizes first (in name order), then the derived ones
        if not callable(dims[name]) or isinstance(dims[name], st.SearchStrategy):
            sizes[name] = _size(draw, dims[name])
    for name in sorted(dims):
        if callable(dims[name]) and not isinstance(dims[name], st.SearchStrategy):
            sizes[name] = int(dims[name](dict(sizes)))
    s = draw(st.floats(scale[0], scale[1], allow_nan=False))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    out: dict[str, Any] = {}
    for key, shape in shapes.items():
        concrete = tuple(sizes[d] if isinstance(d, str) else int(d) for d in shape)
        fan_in = concrete[-1] if len(concrete) >= 2 else 1
        out[key] = rng.standard_normal(concrete) * s / np.sqrt(max(fan_in, 1))
    out["dims"] = sizes
    return out
