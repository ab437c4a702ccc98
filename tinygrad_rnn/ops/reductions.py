"""Reductions over axes: sum, mean, max/min, softmax and log-softmax, prod, var/std, logsumexp, cumulative sums
and products.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from ..op import defop
from .axes import _floating, _keepdims_shape, normalize_axes, normalize_axis


def _sum_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    shape = np.shape(F.value(x))
    return F.spread(g, _keepdims_shape(shape, axis), shape, F.value(x).dtype)


def _mean_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    xv = F.value(x)
    n = xv.size // builtins.max(int(np.prod(np.shape(F.value(out)))), 1) if xv.size else 1
    return F.spread(g, _keepdims_shape(xv.shape, axis), xv.shape, xv.dtype, 1.0 / n)


@defop("sum", saves=(), rules=(_sum_rule,))
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Σ over ``axis``.   ∂/∂x_i = 1: the gradient is ``g`` copied back over the summed axes."""
    return np.asarray(x).sum(axis=axis, keepdims=keepdims)


@defop("mean", saves=(), rules=(_mean_rule,))
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over ``axis``.   ∂/∂x_i = 1/n, n = number of averaged elements."""
    return np.asarray(x).mean(axis=axis, keepdims=keepdims)


def _extreme(x: Any, axis: Any, keepdims: bool, arg: Any, name: str) -> Any:
    """Shared by max and min: the value at the first arg-max (arg-min), and the index of
    that element as a full integer index (the rule's constant context)."""
    x = np.asarray(x)
    if isinstance(axis, list):
        axis = tuple(axis)
    if axis is not None and not isinstance(axis, (int, np.integer, tuple)):
        raise TypeError(f"{name}: axis must be an int, a tuple of ints or None, got {axis!r}")
    if isinstance(axis, tuple):
        axis = normalize_axes(axis, x.ndim, name)
        if not axis:  # numpy: reducing over no axes returns the input unchanged
            return x.copy(), tuple(np.indices(x.shape, sparse=True))
    elif axis is not None:
        axis = normalize_axis(axis, x.ndim or 1, name)  # (a 0-d tensor takes axis 0 or -1, as numpy)
    if x.size == 0:
        raise ValueError(f"{name}: a reduction over a zero-size array has no identity (shape {x.shape})")
    if axis is None or x.ndim == 0:
        where = np.unravel_index(int(arg(x)), x.shape)  # works for any memory layout (e.g. x.T)
        out = x[where]
        return (np.reshape(out, (1,) * x.ndim) if keepdims else np.asarray(out)), where
    if isinstance(axis, tuple):  # several axes: move them to the end, flatten them, take the first extreme
        axes = sorted(axis)
        kept = [k for k in range(x.ndim) if k not in axes]
        moved = np.transpose(x, kept + axes).reshape([x.shape[k] for k in kept] + [-1])
        flat = arg(moved, axis=-1)  # C order over the reduced axes: the first extreme
        coords = np.unravel_index(flat, [x.shape[k] for k in axes])
        parts: list[Any] = [None] * x.ndim
        for j, k in enumerate(kept):
            view = [1] * len(kept)
            view[j] = x.shape[k]
            parts[k] = np.arange(x.shape[k]).reshape(view)
        for c, k in zip(coords, axes):
            parts[k] = c
        where = tuple(parts)
        out = x[where]  # the kept axes' shape
        return (np.reshape(out, _keepdims_shape(x.shape, tuple(axes))) if keepdims else out), where
    idx = arg(x, axis=axis, keepdims=True)
    grid = list(np.indices(idx.shape, sparse=True))
    grid[axis] = idx
    where = tuple(grid)  # x[where] has idx's (keepdims) shape
    out = x[where]
    return (out if keepdims else np.squeeze(out, axis=axis)), where


def _extreme_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False,
                  ctx: Any = None) -> Any:
    xv = F.value(x)
    kept = F.reshape(g, np.broadcast(*ctx).shape if ctx else ())  # g in the shape of the selected elements
    return F.scatter(kept, ctx, xv.shape, xv.dtype, True)


@defop("max", saves=(), rules=(_extreme_rule,), ctx=True)
def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Maximum over ``axis`` (an int, a tuple of ints, or None).

    ∂/∂x_i = 1 at the arg-max, 0 elsewhere.  **Ties:** the whole gradient goes to the
    *first* maximal element (``np.argmax`` order, C order of the logical array) — a valid
    subgradient, deterministic.  (PyTorch splits it evenly among tied elements for a full
    reduction.)
    """
    return _extreme(x, axis, keepdims, np.argmax, "max")


@defop("min", saves=(), rules=(_extreme_rule,), ctx=True)
def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Minimum over ``axis`` (an int, a tuple of ints, or None).   ∂/∂x_i = 1 at the *first* arg-min, 0 elsewhere."""
    return _extreme(x, axis, keepdims, np.argmin, "min")


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """x − m − ln Σ_k e^{x_k − m} (m = max, for stability), computed in one output buffer."""
    out = x - x.max(axis=axis, keepdims=True)
    out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))
    return out


def _softmax_rule(F: Any, g: Any, y: Any, x: Any, axis: int = -1) -> Any:
    if np.ndim(F.value(x)) == 0 or np.shape(F.value(x))[axis] == 0:
        return g * 0.0
    gy = g * y
    if F.traced:
        return gy - y * F.sum(gy, axis=axis, keepdims=True)  # y ⊙ g − y ⊙ Σ_j g_j y_j
    gy -= y * gy.sum(axis=axis, keepdims=True)  # the same, in gy's buffer (first-order fast path)
    return gy


def _log_softmax_rule(F: Any, g: Any, out: Any, x: Any, axis: int = -1) -> Any:
    if np.ndim(F.value(x)) == 0 or np.shape(F.value(x))[axis] == 0:
        return g * 0.0
    return g - F.exp(out) * F.sum(g, axis=axis, keepdims=True)


@defop("softmax", saves=("out",), rules=(_softmax_rule,))
def softmax(x: Any, axis: int = -1) -> Any:
    """ŷ_i = e^{x_i − m} / Σ_k e^{x_k − m}, m = max_k x_k (stable; eqs 3 and 6).

    Jacobian ∂ŷ_i/∂x_j = ŷ_i(δ_ij − ŷ_j)  (the correct form of the seed's eq 8), so
    the VJP is  g ↦ ŷ ⊙ (g − Σ_j g_j ŷ_j).  Entries equal to −inf get exactly 0.
    """
    x = _floating(x)
    if x.ndim == 0:  # a single element: softmax is 1, its gradient 0
        normalize_axis(axis, 1, "softmax")  # axis 0 or -1 of a 0-d tensor, as numpy and PyTorch allow
        return np.ones_like(x)
    normalize_axis(axis, x.ndim, "softmax")
    if x.shape[axis] == 0:  # nothing to normalise: the empty result, as numpy/PyTorch give
        return x.copy()
    y = x - x.max(axis=axis, keepdims=True)  # one buffer, reused in place below
    np.exp(y, out=y)
    y /= y.sum(axis=axis, keepdims=True)
    return y


@defop("log_softmax", saves=("out",), rules=(_log_softmax_rule,))
def log_softmax(x: Any, axis: int = -1) -> Any:
    """ln softmax(x)_i = x_i − m − ln Σ_k e^{x_k − m}.

    ∂/∂x_j = δ_ij − softmax_j, so the VJP is  g ↦ g − softmax(x) · Σ_i g_i  (softmax = e^out).
    """
    x = _floating(x)
    if x.ndim == 0:
        normalize_axis(axis, 1, "log_softmax")  # axis 0 or -1 of a 0-d tensor, as numpy and PyTorch allow
        return np.zeros_like(x)
    normalize_axis(axis, x.ndim, "log_softmax")
    if x.shape[axis] == 0:
        return x.copy()
    return _log_softmax(x, axis)


def _g_kept(F: Any, g: Any, x: Any, axis: Any) -> Any:
    """g reshaped with the reduced axes kept as 1 (so it broadcasts against x)."""
    return F.reshape(g, _keepdims_shape(np.shape(F.value(x)), axis))


def _count(shape: tuple[int, ...], axis: Any) -> int:
    if axis is None:
        return int(np.prod(shape))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([shape[a] for a in axes])) if shape else 1


def _prod_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """∂/∂x_i = Π_{j≠i} x_j, as (the product of the elements before i) · (the product of those after
    i) along the reduced axes, two exclusive running products.  No division: exact at zeros and
    where the product under- or overflows (``out / x_i`` is not: [1.5, 5e-324] gives 2·g, not
    1.5·g), and made of ops, so it has every higher derivative too."""
    shape = np.shape(F.value(x))
    nd = len(shape)
    gk = _g_kept(F, g, x, axis)
    if nd == 0:  # a 0-d x (numpy lets axis=0 or -1 through for it): ∂/∂x = 1
        return gk * (x * 0.0 + 1.0)
    axes = tuple(range(nd)) if axis is None else normalize_axes(axis, nd, "prod")
    rest = tuple(k for k in range(nd) if k not in axes)
    perm = axes + rest
    n = int(np.prod([shape[k] for k in axes]))
    if n <= 1:  # one element: ∂/∂x = 1 (none: an empty gradient)
        return gk * (x * 0.0 + 1.0)
    xs = F.reshape(F.transpose(x, perm), (n,) + tuple(shape[k] for k in rest))  # the reduced elements first
    ones = xs[:1] * 0.0 + 1.0
    before = F.concatenate([ones, F.cumprod(xs, 0)[:-1]], axis=0)
    after = F.flip(F.concatenate([ones, F.cumprod(F.flip(xs, 0), 0)[:-1]], axis=0), 0)
    others = F.reshape(before * after, tuple(shape[k] for k in perm))
    return gk * F.transpose(others, tuple(int(k) for k in np.argsort(perm)))


@defop("prod", saves=(0,), rules=(_prod_rule,))
def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Π over ``axis``.   ∂/∂x_i = Π_{j≠i} x_j, computed without dividing by x_i (exact with zeros:
    one zero in a slice → its gradient is the product of the others, the rest 0; two → all 0)."""
    return np.asarray(np.prod(x, axis=axis, keepdims=keepdims))


def _var_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    n = _count(np.shape(F.value(x)), axis)
    centred = x - F.mean(x, axis=axis, keepdims=True)
    return _g_kept(F, g, x, axis) * centred * _over(2.0, n - ddof)


def _over(a: float, d: int) -> Any:
    """a / d with IEEE semantics (n − ddof ≤ 0: inf or NaN, as PyTorch; never ZeroDivisionError)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.float64(a) / np.float64(d)


@defop("var", saves=(0,), rules=(_var_rule,))
def var(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    """Σ(x − x̄)² / (n − ddof) over ``axis``.   ∂/∂x_i = 2(x_i − x̄)/(n − ddof).
    ``ddof=0`` by default, as numpy (PyTorch's default is ``correction=1``)."""
    return np.asarray(np.var(x, axis=axis, ddof=ddof, keepdims=keepdims))


def _std_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    n = _count(np.shape(F.value(x)), axis)
    centred = x - F.mean(x, axis=axis, keepdims=True)
    s = F.reshape(out, _keepdims_shape(np.shape(F.value(x)), axis))
    return _g_kept(F, g, x, axis) * centred * _over(1.0, n - ddof) / s


@defop("std", saves=(0, "out"), rules=(_std_rule,))
def std(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    """√var.   ∂/∂x_i = (x_i − x̄) / ((n − ddof)·std)  (infinite where std = 0: NaN, as PyTorch)."""
    return np.asarray(np.std(x, axis=axis, ddof=ddof, keepdims=keepdims))


def _lse_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    kept = _keepdims_shape(np.shape(F.value(x)), axis)
    return F.reshape(g, kept) * F.exp(x - F.reshape(out, kept))


@defop("logsumexp", saves=(0, "out"), rules=(_lse_rule,))
def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """ln Σ eˣ over ``axis``, stable (the max is subtracted first).   ∂/∂x_i = e^{x_i − out} = softmax."""
    x = _floating(x)
    if x.size == 0:
        return np.asarray(np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)))
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return np.asarray(out if keepdims else np.squeeze(out, axis=axis) if axis is not None else out.reshape(()))


def _cumsum_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None) -> Any:
    if axis is None:
        return F.reshape(F.flip(F.cumsum(F.flip(g, 0), 0), 0), np.shape(F.value(x)))
    if np.ndim(F.value(x)) == 0:
        return g
    return F.flip(F.cumsum(F.flip(g, axis), axis), axis)


@defop("cumsum", saves=(), rules=(_cumsum_rule,))
def cumsum(x: Any, axis: int | None = None) -> Any:
    """Running sum along ``axis`` (None: of the flattened array, as numpy).
    ∂/∂x_i = Σ_{j ≥ i} g_j: the reversed running sum of g.  A 0-d tensor with ``axis`` 0 or −1 keeps
    its shape (PyTorch); with ``axis=None`` it is flattened to shape (1,) (numpy)."""
    x = np.asarray(x)
    if x.ndim == 0 and axis is not None:
        normalize_axis(axis, 1, "cumsum")
        return x.copy()
    return np.cumsum(x, axis=axis)


def _cumprod_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None) -> Any:
    """∂/∂x_i = Σ_{j ≥ i} g_j Π_{k ≤ j, k ≠ i} x_k, without dividing by x (exact at zeros):
    it is L_i · R_i with L_i = Π_{k < i} x_k (an exclusive running product) and the reverse
    recurrence R_i = g_i + x_{i+1} R_{i+1} (R_{n−1} = g_{n−1})."""
    shape = np.shape(F.value(x))
    if axis is None:
        x, g, ax = F.reshape(x, (-1,)), F.reshape(g, (-1,)), 0
    elif len(shape) == 0:
        return g
    else:
        ax = normalize_axis(axis, len(shape), "cumprod")
    xs = F.swapaxes(x, ax, 0) if ax else x
    gs = F.swapaxes(g, ax, 0) if ax else g
    n = np.shape(F.value(xs))[0]
    if n == 0:
        return F.reshape(g, shape) if axis is None else g
    right = [gs[n - 1]]
    for i in range(n - 2, -1, -1):
        right.append(gs[i] + xs[i + 1] * right[-1])
    right.reverse()
    left = [xs[0] * 0.0 + 1.0]
    for i in range(1, n):
        left.append(left[-1] * xs[i - 1])
    grad = F.stack([lo * ro for lo, ro in zip(left, right)], 0)
    if ax:
        grad = F.swapaxes(grad, ax, 0)
    return F.reshape(grad, shape) if axis is None else grad


@defop("cumprod", saves=(0,), rules=(_cumprod_rule,))
def cumprod(x: Any, axis: int | None = None) -> Any:
    """Running product along ``axis`` (None: of the flattened array, as numpy).
    ∂/∂x_i = Σ_{j ≥ i} g_j Π_{k ≤ j, k ≠ i} x_k (exact where x has zeros, as PyTorch's)."""
    x = np.asarray(x)
    if x.ndim == 0 and axis is not None:
        normalize_axis(axis, 1, "cumprod")
        return x.copy()
    if axis is not None:
        normalize_axis(axis, x.ndim, "cumprod")
    return np.cumprod(x, axis=axis)
