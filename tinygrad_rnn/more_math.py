"""The ops learners reach for that numpy and MyGrad have and the first op set lacked: inverse and
hyperbolic trigonometry, logarithms and powers in other bases, ``cumprod``, ``roll``, ``ravel``,
``astype`` and ``atleast_1d/2d/3d``.

Each is written as the rest (:mod:`tinygrad_rnn.more_ops`): one named rule next to its forward,
the derivative in the docstring, rules written with ``F`` so they have second derivatives.  Domains
are numpy's: outside one (``arcsin(2)``) the value is NaN with numpy's warning, and so is the
gradient; at a pole of the derivative (``arcsin'(±1)``, ``cbrt'(0)``) the gradient is ±inf, as in
PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .op import defop
from .ops import normalize_axis

__all__ = [
    "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "exp2", "log2",
    "log10", "cbrt", "reciprocal", "logaddexp2", "cumprod", "roll", "ravel", "astype", "atleast_1d", "atleast_2d",
    "atleast_3d",
]

_LN2 = float(np.log(2.0))
_LN10 = float(np.log(10.0))


# ============================================================================ elementwise
@defop("tan", saves=("out",), rules=(lambda F, g, y, x: g * (1.0 + y * y),))
def tan(x: Any) -> Any:
    """tan x.   ∂/∂x = 1 + tan² x = sec² x."""
    return np.tan(x)


@defop("arcsin", saves=(0,), rules=(lambda F, g, y, x: g / F.sqrt(1.0 - x * x),))
def arcsin(x: Any) -> Any:
    """arcsin x on [−1, 1].   ∂/∂x = 1/√(1 − x²)."""
    return np.arcsin(x)


@defop("arccos", saves=(0,), rules=(lambda F, g, y, x: -g / F.sqrt(1.0 - x * x),))
def arccos(x: Any) -> Any:
    """arccos x on [−1, 1].   ∂/∂x = −1/√(1 − x²)."""
    return np.arccos(x)


@defop("arctan", saves=(0,), rules=(lambda F, g, y, x: g / (1.0 + x * x),))
def arctan(x: Any) -> Any:
    """arctan x.   ∂/∂x = 1/(1 + x²)."""
    return np.arctan(x)


@defop("arctan2", saves=(0, 1), rules=(lambda F, g, y, a, b: g * b / (a * a + b * b),
                                       lambda F, g, y, a, b: -g * a / (a * a + b * b)))
def arctan2(a: Any, b: Any) -> Any:
    """The angle of the point (b, a): numpy's ``arctan2(y=a, x=b)``.
    ∂/∂a = b/(a² + b²), ∂/∂b = −a/(a² + b²)."""
    return np.arctan2(a, b)


@defop("sinh", saves=(0,), rules=(lambda F, g, y, x: g * F.cosh(x),))
def sinh(x: Any) -> Any:
    """sinh x.   ∂/∂x = cosh x."""
    return np.sinh(x)


@defop("cosh", saves=(0,), rules=(lambda F, g, y, x: g * F.sinh(x),))
def cosh(x: Any) -> Any:
    """cosh x.   ∂/∂x = sinh x."""
    return np.cosh(x)


@defop("arcsinh", saves=(0,), rules=(lambda F, g, y, x: g / F.sqrt(x * x + 1.0),))
def arcsinh(x: Any) -> Any:
    """arsinh x.   ∂/∂x = 1/√(x² + 1)."""
    return np.arcsinh(x)


@defop("arccosh", saves=(0,), rules=(lambda F, g, y, x: g / F.sqrt(x * x - 1.0),))
def arccosh(x: Any) -> Any:
    """arcosh x on [1, ∞).   ∂/∂x = 1/√(x² − 1)."""
    return np.arccosh(x)


@defop("arctanh", saves=(0,), rules=(lambda F, g, y, x: g / (1.0 - x * x),))
def arctanh(x: Any) -> Any:
    """artanh x on (−1, 1).   ∂/∂x = 1/(1 − x²)."""
    return np.arctanh(x)


@defop("exp2", saves=("out",), rules=(lambda F, g, y, x: g * (y * _LN2),))
def exp2(x: Any) -> Any:
    """2ˣ.   ∂/∂x = 2ˣ ln 2."""
    return np.exp2(x)


@defop("log2", saves=(0,), rules=(lambda F, g, y, x: g / (x * _LN2),))
def log2(x: Any) -> Any:
    """log₂ x.   ∂/∂x = 1/(x ln 2)."""
    return np.log2(x)


@defop("log10", saves=(0,), rules=(lambda F, g, y, x: g / (x * _LN10),))
def log10(x: Any) -> Any:
    """log₁₀ x.   ∂/∂x = 1/(x ln 10)."""
    return np.log10(x)


@defop("cbrt", saves=("out",), rules=(lambda F, g, y, x: g / (3.0 * y * y),))
def cbrt(x: Any) -> Any:
    """∛x (real, for negative x too).   ∂/∂x = 1/(3 ∛x²)  (+inf at 0)."""
    return np.cbrt(x)


@defop("reciprocal", saves=("out",), rules=(lambda F, g, y, x: -g * (y * y),))
def reciprocal(x: Any) -> Any:
    """1/x.   ∂/∂x = −1/x² = −out²."""
    return np.reciprocal(ops._floating(x))


@defop("logaddexp2", saves=(0, 1, "out"), rules=(lambda F, g, y, a, b: g * F.exp2(a - y),
                                                 lambda F, g, y, a, b: g * F.exp2(b - y)))
def logaddexp2(a: Any, b: Any) -> Any:
    """log₂(2ᵃ + 2ᵇ), stable.   ∂/∂a = 2^{a − out}, ∂/∂b = 2^{b − out}."""
    return np.logaddexp2(a, b)


# ============================================================================ scans and shifts
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


def _roll_rule(F: Any, g: Any, out: Any, x: Any, shift: Any = 0, axis: Any = None) -> Any:
    back = -shift if np.ndim(shift) == 0 else tuple(-int(s) for s in shift)
    if axis is None:
        flat = F.reshape(g, (-1,))
        return F.reshape(F.roll(flat, back, 0), np.shape(F.value(x)))
    return F.roll(g, back, axis)


@defop("roll", saves=(), rules=(_roll_rule,))
def roll(x: Any, shift: Any = 0, axis: Any = None) -> Any:
    """Shift elements cyclically by ``shift`` along ``axis`` (None: the flattened array), as
    ``np.roll``.   ∂/∂x = g rolled back by −shift."""
    x = np.asarray(x)
    if axis is not None:
        ops.normalize_axes(axis, x.ndim, "roll") if np.ndim(axis) else normalize_axis(axis, x.ndim, "roll")
    return np.roll(x, shift, axis=axis)


# ============================================================================ shape
def ravel(x: Any) -> Any:
    """The elements as one axis (C order).  Recorded as ``reshape``."""
    return ops.reshape(x, shape=(-1,))


def _astype_rule(F: Any, g: Any, out: Any, x: Any, dtype: Any = None) -> Any:
    return g  # the engine casts it back to x's dtype where it meets x


@defop("astype", saves=(), rules=(_astype_rule,))
def _astype(x: Any, dtype: Any = None) -> Any:
    """x in another floating dtype.   ∂/∂x = g, cast back to x's dtype."""
    return np.asarray(x).astype(dtype)


def astype(x: Any, dtype: Any) -> Any:
    """x converted to ``dtype`` (numpy's ``astype``).  Between floating dtypes the result is recorded
    (∂/∂x = g, cast back); to an integer or boolean dtype it has no gradient, as in PyTorch."""
    return _astype(x, dtype=np.dtype(dtype))


def atleast_1d(x: Any) -> Any:
    """numpy's ``atleast_1d``: a 0-d tensor becomes shape (1,).  Recorded as ``reshape``."""
    shape = tuple(np.shape(getattr(x, "data", x)))
    return ops.reshape(x, shape=shape if len(shape) >= 1 else (1,))


def atleast_2d(x: Any) -> Any:
    """numpy's ``atleast_2d``: () → (1, 1), (n,) → (1, n).  Recorded as ``reshape``."""
    shape = tuple(np.shape(getattr(x, "data", x)))
    return ops.reshape(x, shape=shape if len(shape) >= 2 else (1,) * (2 - len(shape)) + shape)


def atleast_3d(x: Any) -> Any:
    """numpy's ``atleast_3d``: () → (1, 1, 1), (n,) → (1, n, 1), (m, n) → (m, n, 1)."""
    shape = tuple(np.shape(getattr(x, "data", x)))
    new = {0: (1, 1, 1), 1: (1,) + shape + (1,), 2: shape + (1,)}.get(len(shape), shape)
    return ops.reshape(x, shape=new)
