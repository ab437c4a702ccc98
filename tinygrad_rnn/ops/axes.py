"""Axis arguments, normalised once for every op: an out-of-range axis is an error, never a wrap.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def normalize_axis(axis: Any, ndim: int, name: str) -> int:
    """``axis`` as an index in ``[0, ndim)``, for every op that takes one: ``-ndim ≤ axis < ndim``
    (negative counts from the end), anything else numpy's ``AxisError`` naming the op — never
    ``axis % ndim``, which silently turned axis 2 of a 2-D tensor into axis 0."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: an axis must be an integer, got {axis!r}")
    a = int(axis)
    if not -ndim <= a < ndim:
        raise np.exceptions.AxisError(
            f"{name}: axis {a} is out of bounds for a tensor with {ndim} axis/axes (valid: {-ndim}..{ndim - 1})"
            if ndim else f"{name}: axis {a} is out of bounds for a 0-d tensor (it has no axes)")
    return a + ndim if a < 0 else a


def normalize_axes(axes: Any, ndim: int, name: str) -> tuple[int, ...]:
    """Each of ``axes`` (an int or a sequence) through :func:`normalize_axis`; a repeated axis is an error."""
    seq = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    out = tuple(normalize_axis(a, ndim, name) for a in seq)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {tuple(seq)}")
    return out


def _keepdims_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """``shape`` with the reduced axes kept as 1 (what keepdims=True would give)."""
    if not shape:  # 0-d: numpy accepts axis 0 / -1 and returns the value itself
        return ()
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _floating(x: Any) -> np.ndarray:
    """x as an array of a floating dtype (integers become float64), so rules may work in place."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)
