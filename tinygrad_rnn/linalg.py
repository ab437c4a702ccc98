"""``tg.linalg``: norms (``np.linalg.norm`` on Tensors records these).

``norm(x, ord=None, axis=None, keepdims=False)`` follows numpy's conventions:

- a vector (1-D ``x``, or an int ``axis``): ``ord`` None or 2 is √Σx², 1 is Σ|x|, ``inf`` is max|x|,
  ``-inf`` is min|x|;
- a matrix (2-D ``x``, or a pair ``axis``): ``ord`` None or ``"fro"`` is √Σx², 1 is the largest
  column sum of |x|, ``inf`` the largest row sum, −1 / −inf the smallest;
- ``x`` of any other number of axes with ``axis=None`` and ``ord=None``: √Σx² over all of it.

The 2-norm's gradient is x/‖x‖, and 0 where ‖x‖ = 0 (PyTorch's choice: a subgradient, not NaN).
The matrix 2-norm and nuclear norm (singular values) are refused: the engine has no SVD.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .op import defop
from .ops import normalize_axes

__all__ = ["norm"]


def _norm2_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    shape = np.shape(F.value(x))
    kept = ops._keepdims_shape(shape, axis)
    n = F.reshape(out, kept)
    zero = np.equal(F.value(n), 0.0)
    safe = F.where(zero, 1.0, n)
    return F.reshape(g, kept) * F.where(np.broadcast_to(zero, shape), 0.0, x / safe)


@defop("norm2", saves=(0, "out"), rules=(_norm2_rule,))
def _norm2(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """√Σx² over ``axis`` (the 2-norm of vectors, the Frobenius norm of matrices).
    ∂/∂x = x/‖x‖ (0 where ‖x‖ = 0)."""
    x = ops._floating(x)
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002 (numpy's name)
    """numpy's ``linalg.norm`` for tensors (see the module docstring for the orders)."""
    nd = np.ndim(getattr(x, "data", x))
    if axis is None:
        if ord is None:
            return _norm2(x, axis=None, keepdims=keepdims)
        if nd not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} needs a vector or a matrix (or axis=); got {nd} axes")
        axes: tuple[int, ...] = tuple(range(nd))
    else:
        axes = normalize_axes(axis, nd, "norm")
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"norm: axis must name one axis (vector norm) or two (matrix norm), got {axis!r}")


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Any:  # noqa: A002
    if ord is None or ord == 2:
        return _norm2(x, axis=(axis,), keepdims=keepdims)
    a = ops.abs(x)
    if ord == 1:
        return ops.sum(a, axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return ops.max(a, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return ops.min(a, axis=axis, keepdims=keepdims)
    raise ValueError(f"norm: vector ord must be None, 1, 2, inf or -inf here, got {ord!r}")


def _matrix_norm(x: Any, ord: Any, axes: tuple[int, ...], keepdims: bool) -> Any:  # noqa: A002
    r, c = axes
    if r == c:
        raise ValueError("norm: the two axes of a matrix norm must differ")
    if ord is None or ord == "fro":
        return _norm2(x, axis=axes, keepdims=keepdims)
    if ord in (1, -1, np.inf, -np.inf):
        summed, picked = (r, c) if ord in (1, -1) else (c, r)  # column sums for 1, row sums for inf
        sums = ops.sum(ops.abs(x), axis=summed, keepdims=True)
        best = (ops.max if ord in (1, np.inf) else ops.min)(sums, axis=picked, keepdims=True)
        if keepdims:
            return best
        return ops.reshape(best, shape=tuple(n for k, n in enumerate(np.shape(getattr(best, "data", best)))
                                             if k not in axes))  # (axes already normalised by norm())
    raise ValueError(f"norm: matrix ord must be None, 'fro', 1, -1, inf or -inf here (the 2-norm and the nuclear "
                     f"norm need singular values, which the engine does not have), got {ord!r}")
