"""The rest of the op set a learner reaches for: activations, reductions, shape and index ops,
einsum, losses — each forward next to its named rule(s), derivative in the docstring.

Written like :mod:`tinygrad_rnn.ops` (read that first): ``rule(F, g, out, *inputs, **static)``
with operators and ``F``'s functions, so every op here also has a second derivative
(``backward(create_graph=True)``).  ``F.<op>`` is the op itself: numpy's forward with ``F = NP``,
the recorded op with ``F = TG`` (see :mod:`tinygrad_rnn.funcs`).  Masks and indices are
constants (``F.value``).  Broadcasting is undone by the engine, never here.

**Conventions** (tested in ``tests/test_more_ops.py``; where PyTorch differs, the test shows it):

- ``maximum``/``minimum`` at a tie give each input half of ``g`` (as PyTorch); ``clip`` passes
  ``g`` where ``lo ≤ x ≤ hi`` (inclusive, as PyTorch's ``clamp``); ``sign`` has gradient 0.
- ``max``/``min`` (also over a tuple of axes) give the whole gradient to the *first* arg-max in C
  order (PyTorch's full reduction splits it among ties).
- ``var``/``std`` default to ``ddof=0`` (numpy); PyTorch defaults to ``correction=1``.
- ``prod`` is exact at zeros: with one zero in a slice, that element's gradient is the product of
  the others and every other element's is 0; with two or more zeros, all are 0.
- ``split`` has numpy's semantics (``sections`` or split indices); ``chunk`` PyTorch's.
- Losses take the class axis last (``axis=-1``, like ``cross_entropy``); PyTorch's ``nll_loss``
  and ``cross_entropy`` put it at dim 1 for inputs of more than 2 dims.
"""

from __future__ import annotations

import builtins
import string
from typing import Any

import numpy as np

from . import ops
from .op import constant, defop
from .ops import _floating, _keepdims_shape, normalize_axes, normalize_axis

# ============================================================================ elementwise
_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_GELU_C = 0.044715


@defop("square", saves=(0,), rules=(lambda F, g, y, x: g * (2.0 * x),))
def square(x: Any) -> Any:
    """x².   ∂/∂x = 2x."""
    return np.square(x)


@defop("sign", saves=(), rules=(lambda F, g, y, x: g * 0.0,))
def sign(x: Any) -> Any:
    """sign x ∈ {−1, 0, 1}.   ∂/∂x = 0 (almost everywhere; 0 also at 0, as PyTorch)."""
    return np.sign(_floating(x))


@defop("log1p", saves=(0,), rules=(lambda F, g, y, x: g / (1.0 + x),))
def log1p(x: Any) -> Any:
    """ln(1 + x), exact for tiny x.   ∂/∂x = 1/(1 + x)."""
    return np.log1p(x)


@defop("expm1", saves=("out",), rules=(lambda F, g, y, x: g * (y + 1.0),))
def expm1(x: Any) -> Any:
    """eˣ − 1, exact for tiny x.   ∂/∂x = eˣ = out + 1."""
    return np.expm1(x)


@defop("sin", saves=(0,), rules=(lambda F, g, y, x: g * F.cos(x),))
def sin(x: Any) -> Any:
    """sin x.   ∂/∂x = cos x."""
    return np.sin(x)


@defop("cos", saves=(0,), rules=(lambda F, g, y, x: -g * F.sin(x),))
def cos(x: Any) -> Any:
    """cos x.   ∂/∂x = −sin x."""
    return np.cos(x)


@defop("softplus", saves=(0,), rules=(lambda F, g, y, x, beta=1.0: g * F.sigmoid(x * beta),))
def softplus(x: Any, beta: float = 1.0) -> Any:
    """ln(1 + e^{βx}) / β, stable for any x (no overflow, no threshold).   ∂/∂x = σ(βx).

    (PyTorch switches to the identity where βx > 20, which differs from the exact value by
    < 2e−9·|x|; this op does not.)"""
    return np.logaddexp(0.0, np.multiply(x, beta)) / beta


@defop("logsigmoid", saves=(0,), rules=(lambda F, g, y, x: g * F.sigmoid(-x),))
def logsigmoid(x: Any) -> Any:
    """ln σ(x) = −softplus(−x), stable: finite and exact for large negative x (ln σ(−800) = −800).
    ∂/∂x = 1 − σ(x) = σ(−x)."""
    return -np.logaddexp(0.0, np.negative(x))


def _leaky_rule(F: Any, g: Any, y: Any, x: Any, negative_slope: float = 0.01) -> Any:
    return g * np.where(F.value(x) > 0, 1.0, negative_slope)


@defop("leaky_relu", saves=(0,), rules=(_leaky_rule,))
def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x for x > 0, else slope·x.   ∂/∂x = 1 for x > 0, else slope (also at 0, as PyTorch)."""
    x = np.asarray(x)
    return np.where(x > 0, x, x * negative_slope)


def _elu_rule(F: Any, g: Any, y: Any, x: Any, alpha: float = 1.0) -> Any:
    pos = F.value(x) > 0
    return F.where(pos, g, g * alpha * F.exp(F.where(pos, 0.0, x)))  # e^x only where used: no inf·0


@defop("elu", saves=(0,), rules=(_elu_rule,))
def elu(x: Any, alpha: float = 1.0) -> Any:
    """x for x > 0, else α(eˣ − 1).   ∂/∂x = 1 for x > 0, else α eˣ."""
    x = np.asarray(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _gelu_rule(F: Any, g: Any, y: Any, x: Any) -> Any:
    x2 = x * x
    t = F.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x2 * x))
    du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * x2)
    return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


@defop("gelu", saves=(0,), rules=(_gelu_rule,))
def gelu(x: Any) -> Any:
    """GELU, tanh form: ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³) (PyTorch's approximate='tanh').
    ∂/∂x = ½(1 + tanh u) + ½x(1 − tanh² u)·√(2/π)(1 + 3·0.044715x²)."""
    x = np.asarray(x)
    return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)))


def _silu_rule(F: Any, g: Any, y: Any, x: Any) -> Any:
    s = F.sigmoid(x)
    return g * (s * (1.0 + x * (1.0 - s)))


@defop("silu", saves=(0,), rules=(_silu_rule,))
def silu(x: Any) -> Any:
    """x·σ(x) (swish).   ∂/∂x = σ(x)(1 + x(1 − σ(x)))."""
    return np.multiply(x, ops.sigmoid.fn(x))


def _tie_share(F: Any, a: Any, b: Any, first_wins: Any) -> np.ndarray:
    """1 where a wins, ½ at a tie, 0 where b wins (a constant mask)."""
    av, bv = F.value(a), F.value(b)
    return np.where(first_wins(av, bv), 1.0, np.where(av == bv, 0.5, 0.0))


@defop("maximum", saves=(0, 1), rules=(lambda F, g, y, a, b: g * _tie_share(F, a, b, np.greater),
                                       lambda F, g, y, a, b: g * _tie_share(F, b, a, np.greater)))
def maximum(a: Any, b: Any) -> Any:
    """Elementwise max(a, b).   ∂/∂a = [a > b], ∂/∂b = [b > a]; a tie gives each ½ (as PyTorch)."""
    return np.maximum(a, b)


@defop("minimum", saves=(0, 1), rules=(lambda F, g, y, a, b: g * _tie_share(F, a, b, np.less),
                                       lambda F, g, y, a, b: g * _tie_share(F, b, a, np.less)))
def minimum(a: Any, b: Any) -> Any:
    """Elementwise min(a, b).   ∂/∂a = [a < b], ∂/∂b = [b < a]; a tie gives each ½ (as PyTorch)."""
    return np.minimum(a, b)


def _clip_rule(F: Any, g: Any, y: Any, x: Any, lo: Any = None, hi: Any = None) -> Any:
    xv = F.value(x)
    inside = np.ones(np.shape(xv), dtype=bool)
    if lo is not None:
        inside &= xv >= lo
    if hi is not None:
        inside &= xv <= hi
    return F.where(inside, g, 0.0)


@defop("clip", saves=(0,), rules=(_clip_rule,))
def clip(x: Any, lo: Any = None, hi: Any = None) -> Any:
    """x limited to [lo, hi] (either may be None; constants).
    ∂/∂x = 1 where lo ≤ x ≤ hi (inclusive, as PyTorch's clamp), else 0."""
    if lo is None and hi is None:
        raise ValueError("clip: give lo, hi or both")
    return np.clip(x, lo, hi)


def _lae_rule(F: Any, g: Any, y: Any, a: Any, b: Any, which: int) -> Any:
    return g * F.exp((a if which == 0 else b) - y)


@defop("logaddexp", saves=(0, 1, "out"), rules=(lambda F, g, y, a, b: _lae_rule(F, g, y, a, b, 0),
                                                lambda F, g, y, a, b: _lae_rule(F, g, y, a, b, 1)))
def logaddexp(a: Any, b: Any) -> Any:
    """ln(eᵃ + eᵇ), stable.   ∂/∂a = e^{a − out}, ∂/∂b = e^{b − out}."""
    return np.logaddexp(a, b)


# ============================================================================ reductions
def _g_kept(F: Any, g: Any, x: Any, axis: Any) -> Any:
    """g reshaped with the reduced axes kept as 1 (so it broadcasts against x)."""
    return F.reshape(g, _keepdims_shape(np.shape(F.value(x)), axis))


def _count(shape: tuple[int, ...], axis: Any) -> int:
    if axis is None:
        return int(np.prod(shape))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([shape[a] for a in axes])) if shape else 1


def _prod_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    xv = F.value(x)
    zero = xv == 0
    gk = _g_kept(F, g, x, axis)
    if not zero.any():
        return gk * (F.reshape(out, np.shape(gk)) / x)
    if F.traced:  # the zero branch below is exact to first order only (its masks hide x_z's role)
        raise NotImplementedError(
            "prod: the second derivative where an element is exactly 0 is not implemented (first derivatives are "
            "exact there); move the point off 0, or write the product with mul")
    zeros = np.sum(zero, axis=axis, keepdims=True)
    safe = F.where(zero, 1.0, x)
    others = F.prod(safe, axis=axis, keepdims=True)  # product of the non-zero elements of each slice
    none_zero = np.broadcast_to(zeros == 0, np.shape(xv))
    only_zero = np.logical_and(zero, zeros == 1)
    return gk * F.where(none_zero, others / safe, F.where(only_zero, others, 0.0))


@defop("prod", saves=(0, "out"), rules=(_prod_rule,))
def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Π over ``axis``.   ∂/∂x_i = Π_{j≠i} x_j (= out/x_i where x_i ≠ 0; exact with zeros:
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


# ============================================================================ shape and indexing
def _flip_rule(F: Any, g: Any, out: Any, x: Any, axis: Any = None) -> Any:
    return F.flip(g, axis)


@defop("flip", saves=(), rules=(_flip_rule,))
def flip(x: Any, axis: Any = None) -> Any:
    """Reverse the order along ``axis`` (an int, a tuple, or None: all).   ∂/∂x = flip(g)."""
    return np.flip(np.asarray(x), axis).copy()


def _pad_rule(F: Any, g: Any, out: Any, x: Any, pad_width: Any = (), value: float = 0.0) -> Any:
    return F.getitem(g, tuple(slice(b, b + n) for (b, _), n in zip(pad_width, np.shape(F.value(x)))))


@defop("pad", saves=(), rules=(_pad_rule,))
def _pad(x: Any, *, pad_width: tuple[tuple[int, int], ...], value: float = 0.0) -> Any:
    """x surrounded by ``value``: ``pad_width[k] = (before, after)`` on axis k.
    ∂/∂x = g with the padding cut off."""
    return np.pad(x, pad_width, mode="constant", constant_values=value)


def pad(x: Any, pad_width: Any, value: float = 0.0) -> Any:
    """Constant padding, numpy's ``pad_width`` forms: an int, ``(before, after)``, or one pair per axis."""
    nd = np.ndim(getattr(x, "data", x))
    width = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2)) if nd else np.zeros((0, 2), np.int64)
    if (width < 0).any():
        raise ValueError(f"pad: widths must be non-negative, got {pad_width!r}")
    return _pad(x, pad_width=tuple((int(a), int(b)) for a, b in width), value=value)


def _tile_rule(F: Any, g: Any, out: Any, x: Any, reps: tuple[int, ...] = ()) -> Any:
    shape = np.shape(F.value(x))
    d = builtins.max(len(shape), len(reps))
    s = (1,) * (d - len(shape)) + tuple(shape)
    r = (1,) * (d - len(reps)) + tuple(reps)
    pairs = F.reshape(g, tuple(v for pair in zip(r, s) for v in pair))  # (r0, s0, r1, s1, ...)
    return F.reshape(F.sum(pairs, axis=tuple(range(0, 2 * d, 2))), shape)


@defop("tile", saves=(), rules=(_tile_rule,))
def _tile(x: Any, *, reps: tuple[int, ...]) -> Any:
    """x repeated as whole blocks (``np.tile``).   ∂/∂x = the sum of g over the copies."""
    return np.tile(x, reps)


def tile(x: Any, reps: Any) -> Any:
    """``np.tile``: ``reps`` copies along each axis."""
    reps = (int(reps),) if np.ndim(reps) == 0 else tuple(int(r) for r in reps)
    return _tile(x, reps=reps)


def _repeat_rule(F: Any, g: Any, out: Any, x: Any, repeats: int = 1, axis: Any = None) -> Any:
    shape = np.shape(F.value(x))
    if axis is None:
        return F.reshape(F.sum(F.reshape(g, (int(np.prod(shape)), repeats)), axis=1), shape)  # (n, 0) for 0 repeats
    ax = axis % len(shape)
    split = shape[:ax] + (shape[ax], repeats) + shape[ax + 1:]
    return F.sum(F.reshape(g, split), axis=ax + 1)


@defop("repeat", saves=(), rules=(_repeat_rule,))
def repeat(x: Any, repeats: int = 1, axis: int | None = None) -> Any:
    """Each element repeated ``repeats`` times along ``axis`` (None: flattened), as ``np.repeat``
    with an int.   ∂/∂x_i = the sum of g over i's copies."""
    if not isinstance(repeats, (int, np.integer)) or repeats < 0:
        raise TypeError(f"repeat: repeats must be a non-negative int, got {repeats!r}")
    return np.repeat(x, repeats, axis=axis)


def _tri_rule(F: Any, g: Any, out: Any, x: Any, k: int = 0, upper: bool = False) -> Any:
    return F.where(_tri_mask(np.shape(F.value(x)), k, upper), g, 0.0)


def _tri_mask(shape: tuple[int, ...], k: int, upper: bool) -> np.ndarray:
    ones = np.ones(shape[-2:], dtype=bool)
    return np.triu(ones, k) if upper else np.tril(ones, k)


@defop("tri", saves=(), rules=(_tri_rule,))
def _tri(x: Any, k: int = 0, upper: bool = False) -> Any:
    """The lower (``upper=False``) or upper triangle of the last two axes, zeros elsewhere.
    ∂/∂x = g on the triangle, 0 elsewhere."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"{'triu' if upper else 'tril'}: needs at least 2 axes, got shape {x.shape}")
    return np.where(_tri_mask(x.shape, k, upper), x, np.zeros((), x.dtype))


def tril(x: Any, k: int = 0) -> Any:
    """Lower triangle (on and below diagonal ``k``) of the last two axes; the rest 0."""
    return _tri(x, k=k, upper=False)


def triu(x: Any, k: int = 0) -> Any:
    """Upper triangle (on and above diagonal ``k``) of the last two axes; the rest 0."""
    return _tri(x, k=k, upper=True)


def _full_index(shape: tuple[int, ...], axis: int, picked: np.ndarray) -> tuple[np.ndarray, ...]:
    """An integer index selecting ``picked`` along ``axis`` and everything along the other axes,
    laid out in ``picked``'s shape (for take_along_axis / gather)."""
    parts = []
    for k in range(len(shape)):
        if k == axis:
            parts.append(picked)
        else:
            view = [1] * picked.ndim
            view[k] = picked.shape[k]
            parts.append(np.arange(picked.shape[k]).reshape(view))
    return tuple(parts)


def _take_rule(F: Any, g: Any, out: Any, x: Any, indices: Any = None, axis: int = 0, ctx: Any = None) -> Any:
    xv = F.value(x)
    return F.scatter(g, ctx, xv.shape, xv.dtype, True)


@defop("take_along_axis", saves=(), rules=(_take_rule,), ctx=True)
def _take_along_axis(x: Any, *, indices: np.ndarray, axis: int) -> Any:
    """x's elements at ``indices`` along ``axis``.   ∂/∂x scatters g back (repeats accumulate)."""
    x = np.asarray(x)
    where = _full_index(x.shape, axis, indices)
    return x[where], where


def take_along_axis(x: Any, indices: Any, axis: int) -> Any:
    """``np.take_along_axis``: ``indices`` has x's number of axes and broadcasts against x elsewhere."""
    idx = np.asarray(getattr(indices, "data", indices))
    shape = np.shape(getattr(x, "data", x))
    if idx.dtype.kind not in "iu" or idx.ndim != len(shape):
        raise ValueError(f"take_along_axis: indices must be integers with {len(shape)} axes like x {shape}, "
                         f"got dtype {idx.dtype}, shape {idx.shape}")
    ax = normalize_axis(axis, len(shape), "take_along_axis")
    target = tuple(n if k == ax else builtins.max(n, shape[k]) for k, n in enumerate(idx.shape))
    idx = np.broadcast_to(idx, target)
    if ((idx < -shape[ax]) | (idx >= shape[ax])).any():
        raise IndexError(f"take_along_axis: index out of range for axis {axis} of size {shape[ax]}")
    return _take_along_axis(x, indices=np.array(idx % shape[ax] if shape[ax] else idx), axis=ax)


def gather(x: Any, axis: int, index: Any) -> Any:
    """PyTorch's ``gather(input, dim, index)``: out[i][j] = x[index[i][j]][j] (axis 0), with
    ``index`` no larger than x along the other axes."""
    idx = np.asarray(getattr(index, "data", index))
    shape = np.shape(getattr(x, "data", x))
    ax = normalize_axis(axis, len(shape) or 1, "gather")
    if idx.ndim != len(shape) or builtins.any(n > shape[k] for k, n in enumerate(idx.shape) if k != ax):
        raise ValueError(f"gather: index of shape {idx.shape} does not fit x of shape {shape} (axis {axis})")
    if idx.dtype.kind not in "iu" or ((idx < 0) | (idx >= shape[ax])).any():
        raise IndexError(f"gather: indices must be integers in [0, {shape[ax]}) along axis {axis}")
    return _take_along_axis(x, indices=np.array(idx), axis=ax)


def _diag_rule(F: Any, g: Any, out: Any, x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1,
               ctx: Any = None) -> Any:
    xv = F.value(x)
    return F.scatter(g, ctx, xv.shape, xv.dtype, True)


@defop("diagonal", saves=(), rules=(_diag_rule,), ctx=True)
def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The diagonal over ``axis1``/``axis2`` (numpy's layout: the diagonal becomes the last axis).
    ∂/∂x = g placed back on that diagonal, zeros elsewhere."""
    x = np.asarray(x)
    out = np.diagonal(x, offset, axis1, axis2)
    a1, a2 = axis1 % x.ndim, axis2 % x.ndim
    n = out.shape[-1]
    rows = np.arange(n) + builtins.max(-offset, 0)
    cols = np.arange(n) + builtins.max(offset, 0)
    others = [k for k in range(x.ndim) if k not in (a1, a2)]
    d = len(others) + 1
    parts: list[Any] = [None] * x.ndim
    for j, k in enumerate(others):
        view = [1] * d
        view[j] = x.shape[k]
        parts[k] = np.arange(x.shape[k]).reshape(view)
    parts[a1] = rows.reshape((1,) * (d - 1) + (n,))
    parts[a2] = cols.reshape((1,) * (d - 1) + (n,))
    where = tuple(parts)
    return out.copy(), where


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """Σ of the diagonal (numpy's ``trace``).   ∂/∂x = g on the diagonal."""
    return ops.sum(diagonal(x, offset=offset, axis1=axis1, axis2=axis2), axis=-1)


# ============================================================================ linear algebra
@defop("outer", saves=(0, 1), rules=(
    lambda F, g, out, a, b: F.reshape(F.matmul(g, F.reshape(b, (-1,))), np.shape(F.value(a))),
    lambda F, g, out, a, b: F.reshape(F.matmul(F.reshape(a, (-1,)), g), np.shape(F.value(b))),
))
def outer(a: Any, b: Any) -> Any:
    """a ⊗ b of the flattened inputs: out_ij = a_i b_j.   ∂/∂a = g @ b, ∂/∂b = aᵀ @ g."""
    return np.outer(a, b)


_LETTERS = string.ascii_letters


def _einsum_rule(F: Any, g: Any, out: Any, *xs: Any, subscripts: str = "", i: int = 0) -> Any:
    """Input i's gradient: the same contraction with g in place of x_i, producing x_i's letters.

    Three details make it exact for every subscript numpy accepts: letters of x_i that appear
    nowhere else were summed over x_i alone (g is broadcast along them); a size-1 axis of x_i whose
    letter has size n elsewhere was broadcast by numpy (its gradient is summed back to 1, and the
    converse broadcast to x_i's size); a letter repeated within x_i (``"ii->i"``, a trace) reads
    only its diagonal, so the gradient is placed on that diagonal (times identity matrices)."""
    ins, res = subscripts.split("->")
    terms = ins.split(",")
    mine = terms[i]
    others = [t for k, t in enumerate(terms) if k != i]
    seen = set(res).union(*others) if others else set(res)
    uniq = "".join(dict.fromkeys(mine))  # x_i's letters, each once, in order
    present = "".join(c for c in uniq if c in seen)
    operands = [g] + [x for k, x in enumerate(xs) if k != i]
    part = F.einsum(",".join([res] + others) + "->" + present, *operands)
    shape = np.shape(F.value(xs[i]))
    size = {c: shape[k] for k, c in enumerate(mine)}
    got = dict(zip(present, np.shape(F.value(part))))
    summed = tuple(k for k, c in enumerate(present) if size[c] == 1 and got[c] != 1)
    if summed:  # x_i was broadcast along these by numpy
        part = F.sum(part, axis=summed, keepdims=True)
        got.update({present[k]: 1 for k in summed})
    full = tuple(size[c] for c in uniq)
    if tuple(got[c] for c in present) != full or present != uniq:
        part = F.broadcast_to(F.reshape(part, tuple(got.get(c, 1) for c in uniq)), full)
    if uniq == mine:
        return part
    fresh = iter(c for c in _LETTERS if c not in subscripts)
    letters, eyes, subs = [], [], [uniq]
    for k, c in enumerate(mine):
        if c in mine[:k]:  # a repeat: a new letter, tied to c by an identity matrix
            d = next(fresh)
            eyes.append(np.eye(size[c], dtype=np.result_type(F.value(g))))
            subs.append(c + d)
            letters.append(d)
        else:
            letters.append(c)
    return F.einsum(",".join(subs) + "->" + "".join(letters), part, *eyes)


@defop("einsum", saves=None, rules=(_einsum_rule,))
def _einsum(*xs: Any, subscripts: str) -> Any:
    """Einstein summation over explicit subscripts ``"ij,jk->ik"``.
    ∂/∂x_i = einsum of g with the other operands, giving x_i's subscripts (broadcast along letters
    only x_i had)."""
    return np.einsum(subscripts, *xs, optimize=len(xs) > 2)


def _normalise_subscripts(subscripts: str, shapes: list[tuple[int, ...]]) -> str:
    """Explicit form with ellipses spelled out as letters: "...ij,jk" → "Aij,jk->Aik"."""
    s = subscripts.replace(" ", "")
    ins, arrow, res = s.partition("->")
    terms = ins.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} operand subscripts for {len(shapes)} operands")
    used = set(c for c in s if c.isalpha())
    spare = [c for c in _LETTERS if c not in used]
    n_ell = builtins.max([len(sh) - len(t.replace("...", "")) for t, sh in zip(terms, shapes) if "..." in t] or [0])
    ell = "".join(spare[:n_ell])
    out_terms = []
    for t, sh in zip(terms, shapes):
        if "..." in t:
            k = len(sh) - len(t.replace("...", ""))
            t = t.replace("...", ell[n_ell - k:] if k else "")
        if builtins.any(not c.isalpha() for c in t) or len(t) != len(sh):
            raise ValueError(f"einsum: subscripts {t!r} do not fit an operand of shape {sh}")
        for k, c in enumerate(t):
            if c in t[:k] and sh[t.index(c)] != sh[k]:
                raise ValueError(f"einsum: subscript {c!r} is repeated in {t!r} over axes of different sizes {sh}")
        out_terms.append(t)
    if arrow:
        res = res.replace("...", ell)
    else:  # implicit mode: the ellipsis letters, then the letters used once, in alphabetical order
        counts = {c: "".join(out_terms).count(c) for c in set("".join(out_terms))}
        res = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return ",".join(out_terms) + "->" + res


def einsum(subscripts: str, *operands: Any) -> Any:
    """``np.einsum`` for tensors (explicit or implicit mode, with ``...``)."""
    shapes = [np.shape(getattr(x, "data", x)) for x in operands]
    return _einsum(*operands, subscripts=_normalise_subscripts(subscripts, shapes))


def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    """``np.tensordot``: contract ``axes`` of a with ``axes`` of b (an int n: a's last n with b's
    first n).  Recorded as one ``einsum``."""
    sa, sb = np.shape(getattr(a, "data", a)), np.shape(getattr(b, "data", b))
    if isinstance(axes, (int, np.integer)):
        axa, axb = list(range(len(sa) - axes, len(sa))), list(range(axes))
    else:
        axa, axb = ([axes[0]] if np.ndim(axes[0]) == 0 else list(axes[0])), \
            ([axes[1]] if np.ndim(axes[1]) == 0 else list(axes[1]))
    axa = list(normalize_axes(axa, len(sa), "tensordot"))
    axb = list(normalize_axes(axb, len(sb), "tensordot"))
    if len(axa) != len(axb) or builtins.any(sa[p] != sb[q] for p, q in zip(axa, axb)):
        raise ValueError(f"tensordot: shapes {sa} and {sb} do not align on axes {axa} and {axb}")
    letters = iter(_LETTERS)
    ta = [next(letters) for _ in sa]
    tb = [next(letters) for _ in sb]
    for p, q in zip(axa, axb):
        tb[q] = ta[p]
    res = [c for k, c in enumerate(ta) if k not in axa] + [c for k, c in enumerate(tb) if k not in axb]
    return _einsum(a, b, subscripts="".join(ta) + "," + "".join(tb) + "->" + "".join(res))


def dot(a: Any, b: Any) -> Any:
    """numpy's ``dot``, all of it: scalars multiply; 1-D and 2-D operands use the ``dot`` op;
    N-D is a sum over a's last axis and b's second-to-last (``tensordot``)."""
    na, nb = np.ndim(getattr(a, "data", a)), np.ndim(getattr(b, "data", b))
    if na == 0 or nb == 0:
        return ops.mul(a, b)
    if na <= 2 and nb <= 2:
        return ops.dot(a, b)
    sa, sb = np.shape(getattr(a, "data", a)), np.shape(getattr(b, "data", b))
    k = 0 if nb == 1 else nb - 2
    if sa[-1] != sb[k]:
        raise ValueError(f"dot: shapes {sa} and {sb} do not align (a's last axis {sa[-1]} != b's axis {k}: {sb[k]})")
    return tensordot(a, b, axes=([na - 1], [k]))


# ============================================================================ losses
def _reduce(losses: np.ndarray, reduction: str, denominator: float) -> np.ndarray:
    if reduction == "none":
        return losses
    total = np.sum(losses)
    return np.asarray(total if reduction == "sum" else total / denominator)


def _upstream(F: Any, g: Any, shape: tuple[int, ...], reduction: str, denominator: float) -> Any:
    """g in the per-element losses' shape (broadcastable), scaled for a mean."""
    if reduction == "none":
        return F.reshape(g, shape)
    return g / denominator if reduction == "mean" else g


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _mse_rule(F: Any, g: Any, out: Any, a: Any, b: Any, reduction: str = "mean", sign: float = 1.0) -> Any:
    diff = a - b
    return _upstream(F, g, np.shape(F.value(diff)), reduction, np.size(F.value(diff))) * diff * (2.0 * sign)


@defop("mse_loss", saves=(0, 1), rules=(lambda F, g, out, a, b, reduction="mean": _mse_rule(F, g, out, a, b, reduction),
                                        lambda F, g, out, a, b, reduction="mean": _mse_rule(F, g, out, a, b, reduction, -1.0)))
def mse_loss(a: Any, b: Any, reduction: str = "mean") -> Any:
    """(a − b)², reduced ('mean' by default, as PyTorch).   ∂/∂a = 2(a − b)/n, ∂/∂b = −2(a − b)/n."""
    _check_reduction("mse_loss", reduction)
    d = np.subtract(a, b)
    return _reduce(d * d, reduction, builtins.max(d.size, 1))


def _nll_rule(F: Any, g: Any, out: Any, logp: Any, targets: Any, axis: int = -1, weight: Any = None,
              ignore_index: int = -100, reduction: str = "mean", ctx: Any = None) -> Any:
    A, denominator, ax = ctx
    up = _upstream(F, g, np.shape(F.value(out)), reduction, denominator)
    if reduction == "none":
        up = F.reshape(up, tuple(np.expand_dims(np.empty(np.shape(F.value(out))), ax).shape))
    return up * (-A)


@defop("nll_loss", saves=(), rules=(_nll_rule, None), ctx=True)
def nll_loss(logp: Any, targets: Any, axis: int = -1, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Any:
    """−w[y]·logp[y] per position (logp: log-probabilities, classes on ``axis``), reduced; with
    ``reduction='mean'`` divided by Σ w[y] over positions not ignored (PyTorch's semantics).
    ∂/∂logp = −w[y] at the target class, 0 elsewhere (÷ Σ w[y] for the mean)."""
    _check_reduction("nll_loss", reduction)
    logp = _floating(logp)
    targets = np.asarray(targets)
    if logp.ndim == 0 or targets.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: needs log-probabilities with a class axis and integer targets, got shapes "
                        f"{logp.shape}, {targets.shape} (dtype {targets.dtype})")
    ax = normalize_axis(axis, logp.ndim, "nll_loss")
    A, denominator = ops.class_coefficients(targets, logp.shape, ax, weight, ignore_index, 0.0, "nll_loss")
    with np.errstate(invalid="ignore", divide="ignore"):
        losses = -np.sum(A * np.where(A != 0, logp, 0.0), axis=ax)
        return _reduce(losses, reduction, denominator), (A, denominator, ax)


def _const(x: Any, default: float = 1.0) -> Any:
    """A static argument (class weights, ...) as a plain array: a constant of the rule."""
    return default if x is None else np.asarray(getattr(x, "data", x), dtype=np.float64)


def _bce_dp(F: Any, g: Any, out: Any, p: Any, y: Any, weight: Any = None, reduction: str = "mean") -> Any:
    w = _const(weight)
    up = _upstream(F, g, np.shape(F.value(out)) if reduction == "none" else (), reduction, np.size(F.value(p)))
    return up * w * (p - y) / (p * (1.0 - p))


def _bce_dy(F: Any, g: Any, out: Any, p: Any, y: Any, weight: Any = None, reduction: str = "mean") -> Any:
    w = _const(weight)
    up = _upstream(F, g, np.shape(F.value(out)) if reduction == "none" else (), reduction, np.size(F.value(p)))
    return up * w * (F.log(1.0 - p) - F.log(p))


@defop("binary_cross_entropy", saves=(0, 1), rules=(_bce_dp, _bce_dy))
def binary_cross_entropy(p: Any, y: Any, weight: Any = None, reduction: str = "mean") -> Any:
    """−w[y ln p + (1 − y) ln(1 − p)] for probabilities p ∈ (0, 1), reduced.
    ∂/∂p = w(p − y)/(p(1 − p)), ∂/∂y = w(ln(1 − p) − ln p).  p at 0 or 1 (or outside) is an error:
    PyTorch clamps the logs at −100 instead; use ``binary_cross_entropy_with_logits``."""
    _check_reduction("binary_cross_entropy", reduction)
    p, y = _floating(p), _floating(y)
    if p.shape != y.shape:
        raise ValueError(f"binary_cross_entropy: p {p.shape} and targets {y.shape} must have the same shape")
    if p.size and not ((p > 0) & (p < 1)).all():
        raise ValueError("binary_cross_entropy: probabilities must lie strictly between 0 and 1 (its logs and "
                         "gradient are infinite at 0 and 1); use binary_cross_entropy_with_logits on the logits")
    w = _const(weight)
    losses = -w * (y * np.log(p) + (1.0 - y) * np.log1p(-p))
    return _reduce(np.broadcast_to(losses, p.shape) if reduction == "none" else losses, reduction,
                   builtins.max(p.size, 1))


def _bcel_dx(F: Any, g: Any, out: Any, x: Any, y: Any, weight: Any = None, pos_weight: Any = None,
             reduction: str = "mean") -> Any:
    w, pw = _const(weight), _const(pos_weight)
    up = _upstream(F, g, np.shape(F.value(out)) if reduction == "none" else (), reduction, np.size(F.value(x)))
    return up * w * ((1.0 - y) - (1.0 + (pw - 1.0) * y) * F.sigmoid(-x))


def _bcel_dy(F: Any, g: Any, out: Any, x: Any, y: Any, weight: Any = None, pos_weight: Any = None,
             reduction: str = "mean") -> Any:
    w, pw = _const(weight), _const(pos_weight)
    up = _upstream(F, g, np.shape(F.value(out)) if reduction == "none" else (), reduction, np.size(F.value(x)))
    return up * w * ((pw - 1.0) * F.softplus(-x) - x)


@defop("binary_cross_entropy_with_logits", saves=(0, 1), rules=(_bcel_dx, _bcel_dy))
def binary_cross_entropy_with_logits(x: Any, y: Any, weight: Any = None, pos_weight: Any = None,
                                     reduction: str = "mean") -> Any:
    """−w[pw·y ln σ(x) + (1 − y) ln(1 − σ(x))] = w[(1 − y)x + (1 + (pw − 1)y)·softplus(−x)], stable
    for any logit x.   ∂/∂x = w[(1 − y) − (1 + (pw − 1)y)σ(−x)] (= w(σ(x) − y) for pw = 1);
    ∂/∂y = w[(pw − 1)·softplus(−x) − x]."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    x, y = _floating(x), _floating(y)
    if x.shape != y.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: logits {x.shape} and targets {y.shape} must have "
                         "the same shape")
    w, pw = _const(weight), _const(pos_weight)
    losses = w * ((1.0 - y) * x + (1.0 + (pw - 1.0) * y) * np.logaddexp(0.0, -x))
    return _reduce(np.broadcast_to(losses, x.shape) if reduction == "none" else losses, reduction,
                   builtins.max(x.size, 1))


# ============================================================================ no gradient: plain results
_plain = constant  # a result with no gradient


def _data(x: Any) -> Any:
    return getattr(x, "data", x)


def isfinite(x: Any) -> Any:
    """Elementwise finiteness (a boolean tensor, no gradient)."""
    return _plain(np.isfinite(_data(x)))


def isnan(x: Any) -> Any:
    """Elementwise NaN test (a boolean tensor, no gradient)."""
    return _plain(np.isnan(_data(x)))


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the first maximum (of the flattened array if ``axis`` is None); no gradient."""
    return _plain(np.argmax(_data(x), axis=axis, keepdims=keepdims))


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the first minimum; no gradient."""
    return _plain(np.argmin(_data(x), axis=axis, keepdims=keepdims))


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Is any element true (non-zero)?  A boolean tensor, no gradient."""
    return _plain(np.any(_data(x), axis=axis, keepdims=keepdims))


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Are all elements true (non-zero)?  A boolean tensor, no gradient."""
    return _plain(np.all(_data(x), axis=axis, keepdims=keepdims))


def one_hot(indices: Any, num_classes: int, dtype: Any = np.float64) -> Any:
    """Rows of the identity: out[..., c] = [indices == c] (a constant, no gradient)."""
    idx = np.asarray(_data(indices))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise ValueError(f"one_hot: index out of range [0, {num_classes}): got {int(idx.min())}..{int(idx.max())}")
    return _plain((idx[..., None] == np.arange(num_classes)).astype(dtype))


# ============================================================================ shape helpers (recorded as reshape / transpose / getitem)
def _shape_of(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(_data(x)))


def squeeze(x: Any, axis: Any = None) -> Any:
    """Drop axes of size 1 (all, or those in ``axis``).  Recorded as ``reshape``."""
    shape = _shape_of(x)
    if axis is None:
        axes = {k for k, n in enumerate(shape) if n == 1}
    elif not shape:  # 0-d: axis 0 or -1 is allowed and changes nothing (numpy and PyTorch)
        normalize_axes(axis, 1, "squeeze")
        axes = set()
    else:
        axes = set(normalize_axes(axis, len(shape), "squeeze"))
        if any_size := [a for a in axes if shape[a] != 1]:
            raise ValueError(f"squeeze: axis {any_size[0]} has size {shape[any_size[0]]}, not 1 (shape {shape})")
    return ops.reshape(x, shape=tuple(n for k, n in enumerate(shape) if k not in axes))


def expand_dims(x: Any, axis: Any) -> Any:
    """A new axis of size 1 at ``axis`` (an int or a tuple).  Recorded as ``reshape``."""
    return ops.reshape(x, shape=np.expand_dims(np.empty(_shape_of(x), dtype=np.bool_), axis).shape)


unsqueeze = expand_dims


def flatten(x: Any, start_axis: int = 0, end_axis: int = -1) -> Any:
    """Axes ``start_axis..end_axis`` (inclusive) merged into one.  Recorded as ``reshape``."""
    shape = _shape_of(x)
    if not shape:
        return ops.reshape(x, shape=(1,))
    s, e = normalize_axis(start_axis, len(shape), "flatten"), normalize_axis(end_axis, len(shape), "flatten")
    if s > e:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis} (shape {shape})")
    return ops.reshape(x, shape=shape[:s] + (int(np.prod(shape[s:e + 1])),) + shape[e + 1:])


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    """Exchange two axes.  Recorded as ``transpose``."""
    nd = len(_shape_of(x))
    a1, a2 = normalize_axis(axis1, nd, "swapaxes"), normalize_axis(axis2, nd, "swapaxes")
    perm = list(range(nd))
    perm[a1], perm[a2] = perm[a2], perm[a1]
    return ops.transpose(x, axes=tuple(perm))


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    """Move axes to new positions (numpy's ``moveaxis``).  Recorded as ``transpose``."""
    nd = len(_shape_of(x))
    src = [normalize_axis(int(a), nd, "moveaxis") for a in np.atleast_1d(source)]
    dst = [normalize_axis(int(a), nd, "moveaxis") for a in np.atleast_1d(destination)]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"moveaxis: source {source!r} and destination {destination!r} must be distinct axes, "
                         "as many of each")
    order = [k for k in range(nd) if k not in src]
    for d, a in sorted(zip(dst, src)):
        order.insert(d, a)
    return ops.transpose(x, axes=tuple(order))


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """numpy's ``split``: an int n (n equal parts; must divide the axis) or split indices.
    Each part is a ``getitem`` slice."""
    shape = _shape_of(x)
    ax = normalize_axis(axis, len(shape), "split")
    n = shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {axis} of size {n} does not divide into {k} equal parts "
                             "(give split indices, or use chunk)")
        bounds = list(range(0, n + 1, n // k)) if n else [0] * (k + 1)
    else:
        bounds = [0] + [builtins.min(builtins.max(int(i), 0), n) for i in indices_or_sections] + [n]
    return [ops.getitem(x, index=(slice(None),) * ax + (slice(a, builtins.max(a, b)),))
            for a, b in zip(bounds[:-1], bounds[1:])]


def chunk(x: Any, chunks: int, axis: int = 0) -> list[Any]:
    """PyTorch's ``chunk``: up to ``chunks`` parts of size ⌈n/chunks⌉ (the last may be smaller)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    shape = _shape_of(x)
    n = shape[normalize_axis(axis, len(shape), "chunk")]
    if n == 0:  # PyTorch: an empty axis gives `chunks` empty parts
        return split(x, [0] * (chunks - 1), axis)
    size = -(-n // chunks)
    return split(x, list(range(size, n, size)), axis)


__all__ = [
    "square", "sign", "log1p", "expm1", "sin", "cos", "softplus", "logsigmoid", "leaky_relu", "elu", "gelu",
    "silu", "maximum", "minimum", "clip", "logaddexp", "prod", "var", "std", "logsumexp", "cumsum", "flip", "pad",
    "tile", "repeat", "tril", "triu", "take_along_axis", "gather", "diagonal", "trace", "outer", "einsum",
    "tensordot", "dot", "mse_loss", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "isfinite", "isnan", "argmax", "argmin", "any", "all", "one_hot", "squeeze", "expand_dims", "unsqueeze",
    "flatten", "swapaxes", "moveaxis", "split", "chunk",
]
