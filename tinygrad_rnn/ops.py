"""Every built-in op: its forward and its named backward rules, side by side.

A rule is the VJP ``g ↦ g · ∂out/∂input`` (``g`` has the output's shape), written once as
``rule(F, g, out, *inputs, **static)`` with operators and the functions of ``F``
(:mod:`tinygrad_rnn.funcs`): with ``F = NP`` it runs on numpy arrays (first-order backward),
with ``F = TG`` on Tensors, recording the backward pass so it can be differentiated again
(``backward(create_graph=True)``, ``tg.grad``, ``tg.hessian``).  Masks and indices taken with
``F.value`` are constants.  Broadcasting is *not* undone here: the engine does it once, for all
ops (:func:`tinygrad_rnn.backward.fit_gradient`).  Learners adding an op: copy one of these and
see :mod:`tinygrad_rnn.op` for the contract.

**Second derivatives.**  Every op here has one (its rule is made of differentiable ops).  At
kinks the first-order subgradient choices carry over: ``relu`` and ``abs`` use 0 at 0 and
their second derivative is 0 everywhere (the mask is a constant); ``max``/``min`` route to the
first arg-max, so their second derivative is that of the selected element; ``where``'s
condition is a constant.
"""

from __future__ import annotations

import builtins
import math
from typing import Any, Sequence

import numpy as np

from .op import defop


# ============================================================================ axes
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


# ============================================================================ elementwise
def _grad(F: Any, g: Any, out: Any, *ins: Any, **static: Any) -> Any:
    return g


def _neg_grad(F: Any, g: Any, out: Any, *ins: Any, **static: Any) -> Any:
    return -g


@defop("add", saves=(), rules=(_grad, _grad))
def add(a: Any, b: Any) -> Any:
    """a + b.   ∂/∂a = 1, ∂/∂b = 1."""
    return np.add(a, b)


@defop("sub", saves=(), rules=(_grad, _neg_grad))
def sub(a: Any, b: Any) -> Any:
    """a − b.   ∂/∂a = 1, ∂/∂b = −1."""
    return np.subtract(a, b)


@defop("mul", saves=(0, 1), rules=(lambda F, g, out, a, b: g * b,
                                   lambda F, g, out, a, b: g * a))
def mul(a: Any, b: Any) -> Any:
    """a ⊙ b.   ∂/∂a = b, ∂/∂b = a."""
    return np.multiply(a, b)


@defop("div", saves=(1, "out"), rules=(lambda F, g, out, a, b: g / b,
                                       lambda F, g, out, a, b: -g * out / b))
def div(a: Any, b: Any) -> Any:
    """a / b.   ∂/∂a = 1/b, ∂/∂b = −a/b² = −out/b."""
    return np.true_divide(a, b)


def _pow_da(F: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    zero_b = np.equal(F.value(b), 0)
    if np.any(zero_b):  # x⁰ = 1 for every x, even 0: the derivative is 0 there (a kept away from 0⁻¹)
        return g * F.where(zero_b, 0.0, b * F.where(zero_b, 1.0, a) ** (b - 1.0))
    return g * (b * a ** (b - 1.0))


def _pow_db(F: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    zero_a = np.equal(F.value(a), 0)
    if np.any(zero_a):  # 0^b is constant for b ≥ 0: the derivative is 0 there (ln kept away from 0)
        mask = np.logical_and(zero_a, np.greater_equal(F.value(b), 0))
        with np.errstate(divide="ignore"):  # 0^b for b < 0: inf · ln 0 = −inf, as PyTorch
            return g * F.where(mask, 0.0, out * F.log(F.where(mask, 1.0, a)))
    return g * (out * F.log(a))


@defop("pow", saves=(0, 1, "out"), rules=(_pow_da, _pow_db))
def pow(a: Any, b: Any) -> Any:  # noqa: A001 (shadows builtin inside this module only)
    """a ** b.   ∂/∂a = b·a^(b−1), ∂/∂b = a^b · ln a  (real only for a > 0).

    Limits taken as PyTorch does: ∂/∂a = 0 where b = 0 (x⁰ = 1 for every x, even at 0),
    and ∂/∂b = 0 where a = 0 and b ≥ 0 (0^b is constant there), instead of 0·∞ = NaN.
    """
    return np.power(a, b)


@defop("neg", saves=(), rules=(_neg_grad,))
def neg(x: Any) -> Any:
    """−x.   ∂/∂x = −1."""
    return np.negative(x)


@defop("tanh", saves=("out",), rules=(lambda F, g, y, x: g * (1.0 - y * y),))
def tanh(x: Any) -> Any:
    """tanh x (Θ_h of eq 1).   ∂/∂x = 1 − tanh² x."""
    return np.tanh(x)


@defop("exp", saves=("out",), rules=(lambda F, g, y, x: g * y,))
def exp(x: Any) -> Any:
    """eˣ.   ∂/∂x = eˣ."""
    return np.exp(x)


@defop("log", saves=(0,), rules=(lambda F, g, y, x: g / x,))
def log(x: Any) -> Any:
    """ln x.   ∂/∂x = 1/x.  Non-positive x gives numpy's usual warning and nan/−inf."""
    return np.log(x)


@defop("sigmoid", saves=("out",), rules=(lambda F, g, y, x: g * y * (1.0 - y),))
def sigmoid(x: Any) -> Any:
    """σ(x) = 1/(1+e⁻ˣ).   ∂/∂x = σ(1−σ).

    Computed as 1/(1+e⁻ˣ) for x ≥ 0 and eˣ/(1+eˣ) for x < 0: no overflow, and full relative
    precision for large negative x (σ(−40) ≈ 4.2e−18, not 0), so ln σ stays finite.
    """
    x = np.asarray(x)
    e = np.exp(-np.abs(x))  # ≤ 1: never overflows
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


@defop("relu", saves=(0,), rules=(lambda F, g, y, x: g * (F.value(x) > 0),))
def relu(x: Any) -> Any:
    """max(x, 0).   ∂/∂x = 1 for x > 0, else 0 (we take the subgradient 0 at x = 0)."""
    return np.maximum(x, 0)


@defop("sqrt", saves=("out",), rules=(lambda F, g, y, x: g * 0.5 / y,))
def sqrt(x: Any) -> Any:
    """√x.   ∂/∂x = 1/(2√x)."""
    return np.sqrt(x)


@defop("abs", saves=(0,), rules=(lambda F, g, y, x: g * np.sign(F.value(x)),))
def abs(x: Any) -> Any:  # noqa: A001
    """|x|.   ∂/∂x = sign x (subgradient 0 at x = 0)."""
    return np.abs(x)


@defop("where", saves=(0,), rules=(None,
                                   lambda F, g, out, cond, a, b: F.where(cond, g, 0.0),
                                   lambda F, g, out, cond, a, b: F.where(cond, 0.0, g)))
def where(cond: Any, a: Any, b: Any) -> Any:
    """cond ? a : b, elementwise.   ∂/∂a = [cond], ∂/∂b = [¬cond]; no gradient for cond.

    The unused branch gets an exact 0 (never 0·inf), so ``where(mask, scores, -inf)``
    before a softmax gives exact zeros and a NaN-free backward.
    """
    cond = np.asarray(cond)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: cond must be boolean, got dtype {cond.dtype}")
    return np.where(cond, a, b)


# ============================================================================ reductions
def _keepdims_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """``shape`` with the reduced axes kept as 1 (what keepdims=True would give)."""
    if not shape:  # 0-d: numpy accepts axis 0 / -1 and returns the value itself
        return ()
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


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


# ============================================================================ softmax family
def _floating(x: Any) -> np.ndarray:
    """x as an array of a floating dtype (integers become float64), so rules may work in place."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


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


def _ce_upstream(F: Any, g: Any, n: int, ax: int, reduction: str) -> Any:
    """g broadcast to the per-position losses, with the class axis kept."""
    if reduction == "none":
        shape = np.shape(F.value(g))
        return F.reshape(g, shape[:ax] + (1,) + shape[ax:])
    return g / n if reduction == "mean" else g


def _ce_dlogits(F: Any, g: Any, out: Any, logits: Any, targets: Any, axis: int = -1, reduction: str = "sum",
                weight: Any = None, ignore_index: int = -100, label_smoothing: float = 0.0, ctx: Any = None) -> Any:
    """∂L/∂logits = softmax · Σ_k Y_k − Y, times the upstream gradient, where L = −Σ_k Y_k ln softmax_k
    (Y: the one-hot rows, the probability rows, or their weighted / smoothed coefficients)."""
    lsm, Y, ax, n, scale, shift = ctx
    up = _ce_upstream(F, g, n, ax, reduction)
    if F.traced:  # recomputed from the logits (and targets) Tensors, so both are differentiated too
        if np.asarray(F.value(targets)).dtype.kind == "f":
            Yt = targets if scale is None else targets * scale + shift
            total = F.sum(Yt, axis=ax, keepdims=True)
        else:
            Yt = Y if Y.dtype.kind == "f" else _one_hot(Y, lsm.shape, ax)
            total = np.sum(Yt, axis=ax, keepdims=True)
        return (F.exp(log_softmax(logits, axis=ax)) * total - Yt) * up
    d = np.exp(lsm)  # the first-order path: one buffer, in place
    if Y.dtype.kind in "iu":
        index = np.expand_dims(Y, ax)
        np.put_along_axis(d, index, np.take_along_axis(d, index, axis=ax) - 1.0, axis=ax)
    else:
        d *= np.sum(Y, axis=ax, keepdims=True)
        d -= Y
    d *= up
    return d


def _one_hot(classes: np.ndarray, shape: tuple[int, ...], ax: int) -> np.ndarray:
    y = np.zeros(shape)
    np.put_along_axis(y, np.expand_dims(classes, ax), 1.0, axis=ax)
    return y


def _ce_dtargets(F: Any, g: Any, out: Any, logits: Any, targets: Any, axis: int = -1, reduction: str = "sum",
                 weight: Any = None, ignore_index: int = -100, label_smoothing: float = 0.0, ctx: Any = None) -> Any:
    """∂L/∂y = −ln softmax(logits) (× w(1 − ε) with class weights / smoothing; probability targets only)."""
    lsm, _, ax, n, scale, _ = ctx
    lsm = log_softmax(logits, axis=ax) if F.traced else lsm
    d = -lsm * _ce_upstream(F, g, n, ax, reduction)
    return d if scale is None else d * scale


def class_coefficients(targets: np.ndarray, shape: tuple[int, ...], ax: int, weight: Any, ignore_index: int,
                       label_smoothing: float, name: str) -> tuple[np.ndarray, float]:
    """For integer targets: the coefficients A (input's shape) with loss_i = −Σ_c A_ic·logp_ic, and the
    mean's denominator Σ_i w[y_i] over positions not ignored (PyTorch's semantics)."""
    n_classes = shape[ax]
    expected = shape[:ax] + shape[ax + 1:]
    if targets.shape != expected:
        raise ValueError(f"{name}: integer targets must have shape {expected} (logits {shape} without axis {ax}), "
                         f"got {targets.shape}")
    kept = targets != ignore_index
    bad = kept & ((targets < 0) | (targets >= n_classes))
    if bad.any():
        raise ValueError(f"{name}: class index out of range [0, {n_classes}): got {int(targets[bad].min())}.."
                         f"{int(targets[bad].max())}" + (f" (ignore_index={ignore_index})" if ignore_index != -100 else ""))
    w = _class_weight(weight, n_classes, name)
    safe = np.where(kept, targets, 0)
    picked = np.where(kept, w[safe], 0.0)
    A = np.zeros(shape)
    np.put_along_axis(A, np.expand_dims(safe, ax), np.expand_dims(picked * (1.0 - label_smoothing), ax), axis=ax)
    if label_smoothing:
        A += np.expand_dims(kept, ax) * (label_smoothing / n_classes) * w.reshape(_class_view(len(shape), ax, n_classes))
    return A, float(np.sum(picked))


def _class_weight(weight: Any, n_classes: int, name: str) -> np.ndarray:
    w = np.ones(n_classes) if weight is None else np.asarray(getattr(weight, "data", weight), dtype=np.float64)
    if w.shape != (n_classes,):
        raise ValueError(f"{name}: weight must have one entry per class, shape ({n_classes},), got {w.shape}")
    return w


def _class_view(ndim: int, ax: int, n_classes: int) -> tuple[int, ...]:
    return tuple(n_classes if k == ax else 1 for k in range(ndim))


@defop("cross_entropy", saves=(1,), rules=(_ce_dlogits, _ce_dtargets), ctx=True)
def cross_entropy(logits: Any, targets: Any, axis: int = -1, reduction: str = "sum", weight: Any = None,
                  ignore_index: int = -100, label_smoothing: float = 0.0) -> Any:
    """L = −Σ_k y_k ln softmax(logits)_k per position (eq 7), then reduced.

    ``targets`` are integer class indices (logits' shape without ``axis``) or
    one-hot / probability rows (logits' shape).
    ∂L/∂logits = softmax · Σ_k y_k − y  (= ŷ − y for one-hot or probability rows: eq 9);
    ∂L/∂y = −ln softmax (probability targets only).
    ``reduction``: ``"sum"`` (the default here: eq 7 sums) | ``"mean"`` | ``"none"``.

    PyTorch's options, with its semantics: ``weight`` (one per class) scales each position's loss by
    w[y] (probability targets: Σ_k w_k y_k ln softmax_k); ``ignore_index`` (integer targets) drops
    positions with that class; ``label_smoothing`` ε mixes the targets with the uniform distribution
    (y ← (1 − ε)y + ε/K).  With integer targets the ``"mean"`` divides by Σ w[y] over the positions
    kept (NaN if none is), with probability targets by the number of positions.
    """
    if reduction not in ("sum", "mean", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'sum', 'mean' or 'none', got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    logits = _floating(logits)
    targets = np.asarray(targets)
    if logits.ndim == 0:
        raise ValueError("cross_entropy: logits must have at least one axis (the classes)")
    ax = normalize_axis(axis, logits.ndim, "cross_entropy")
    n_classes = logits.shape[ax]
    lsm = _log_softmax(logits, ax)
    scale = shift = None
    options = weight is not None or label_smoothing != 0.0
    if targets.dtype.kind in "iu":
        if options or (targets == ignore_index).any():
            Y, denominator = class_coefficients(targets, logits.shape, ax, weight, ignore_index, label_smoothing,
                                                "cross_entropy")
            with np.errstate(invalid="ignore"):
                losses = -np.sum(np.where(Y != 0, Y * lsm, 0.0), axis=ax)
            n = losses.size if reduction == "none" else denominator
        else:
            expected = logits.shape[:ax] + logits.shape[ax + 1:]
            if targets.shape != expected:
                raise ValueError(
                    f"cross_entropy: integer targets must have shape {expected} (logits {logits.shape} "
                    f"without axis {axis}), got {targets.shape}"
                )
            if targets.size and (targets.min() < 0 or targets.max() >= n_classes):
                raise ValueError(
                    f"cross_entropy: class index out of range [0, {n_classes}): got values "
                    f"{int(targets.min())}..{int(targets.max())}"
                )
            Y = targets
            losses = -np.squeeze(np.take_along_axis(lsm, np.expand_dims(targets, ax), axis=ax), axis=ax)
            n = builtins.max(losses.size, 1)
    elif targets.dtype.kind == "f":
        if targets.shape != logits.shape:
            raise ValueError(
                f"cross_entropy: probability / one-hot targets must have the logits' shape {logits.shape}, "
                f"got {targets.shape}"
            )
        Y = targets
        if options:
            w = _class_weight(weight, n_classes, "cross_entropy").reshape(_class_view(logits.ndim, ax, n_classes))
            scale, shift = w * (1.0 - label_smoothing), w * (label_smoothing / n_classes)
            Y = targets * scale + shift
        prod = Y * lsm
        if np.isinf(lsm).any():  # masked (−inf) logits: 0 · (−inf) must count as 0, not NaN
            with np.errstate(invalid="ignore"):
                prod[np.broadcast_to(Y == 0, prod.shape)] = 0.0
        losses = -np.sum(prod, axis=ax)
        n = builtins.max(losses.size, 1)
    else:
        raise TypeError(f"cross_entropy: targets must be integer classes or float rows, got dtype {targets.dtype}")
    if reduction == "none":
        out = losses
    elif reduction == "sum":
        out = np.sum(losses)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.sum(losses) / n
    return out, (lsm, Y, ax, n, scale, shift)


# ============================================================================ linear algebra
def _check_inner(name: str, a: Any, b: Any) -> None:
    sa = a.shape if type(a) is np.ndarray else np.shape(a)  # (attributes: np.shape costs a dispatch)
    sb = b.shape if type(b) is np.ndarray else np.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"{name}: operands must be at least 1-D, got shapes {sa} and {sb} (use * for scalars)")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(f"{name}: shapes {sa} and {sb} do not align ({ka} != {kb})")


def _promote(F: Any, g: Any, a: Any, b: Any) -> tuple[Any, Any, Any]:
    """1-D operands as matrices (a row, b a column) and g with the matching unit axes."""
    na, nb = np.ndim(F.value(a)), np.ndim(F.value(b))
    a2 = F.reshape(a, (1,) + np.shape(F.value(a))) if na == 1 else a
    b2 = F.reshape(b, np.shape(F.value(b)) + (1,)) if nb == 1 else b
    if na > 1 and nb > 1:
        return g, a2, b2
    gs = np.shape(F.value(g))
    if nb == 1:  # first: for two vectors g is 0-d and becomes (1, 1)
        gs = gs + (1,)
    if na == 1:
        gs = gs[:-1] + (1,) + gs[-1:]
    return F.reshape(g, gs), a2, b2


def _matmul_da(F: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    """∂/∂a = g @ bᵀ (batch axes are summed by the engine's broadcasting step)."""
    if not F.traced and type(b) is np.ndarray and b.ndim == 2 and a.ndim >= 2:  # the common case: one product
        return _flat_matmul(g, b.T)
    g2, _, b2 = _promote(F, g, a, b)
    ga = F.matmul(g2, F.swapaxes(b2, -1, -2))
    return F.reshape(ga, np.shape(F.value(ga))[:-2] + np.shape(F.value(ga))[-1:]) if np.ndim(F.value(a)) == 1 else ga


def _matmul_db(F: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    """∂/∂b = aᵀ @ g  (for a stack a @ b with a 2-D b: the sum over the stack, as one product
    of the stacks flattened — one large matrix product instead of many small ones and a sum)."""
    if not F.traced and type(a) is np.ndarray and b.ndim == 2 and a.ndim >= 2:
        return _rows(a).T @ _rows(g)
    g2, a2, _ = _promote(F, g, a, b)
    gb = F.matmul(F.swapaxes(a2, -1, -2), g2)
    return F.reshape(gb, np.shape(F.value(gb))[:-1]) if np.ndim(F.value(b)) == 1 else gb


@defop("matmul", saves=(0, 1), rules=(_matmul_da, _matmul_db))
def matmul(a: Any, b: Any) -> Any:
    """a @ b with numpy ``matmul`` semantics (1-D operands, batched and broadcast stacks).
    ∂/∂a = g @ bᵀ, ∂/∂b = aᵀ @ g."""
    _check_inner("matmul", a, b)
    if type(a) is np.ndarray and type(b) is np.ndarray and b.ndim == 2 and a.ndim > 2:
        return _flat_matmul(a, b)
    return np.matmul(a, b)


def _flat_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A stack a (..., n, k) times a matrix b (k, m) as one 2-D product (one BLAS call for the
    whole stack, instead of one per matrix)."""
    if a.ndim == 2:
        return a @ b
    return (_rows(a) @ b).reshape(a.shape[:-1] + (b.shape[1],))


def _rows(x: np.ndarray) -> np.ndarray:
    """A stack (..., n, k) as one (N, k) matrix; the row count is spelled out, so zero-size
    stacks and k = 0 reshape too (``reshape(-1, 0)`` is ambiguous)."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


@defop("addmm", saves=(1, 2), rules=(lambda F, g, out, c, a, b: g,
                                     lambda F, g, out, c, a, b: _matmul_da(F, g, out, a, b),
                                     lambda F, g, out, c, a, b: _matmul_db(F, g, out, a, b)))
def addmm(c: Any, a: Any, b: Any) -> Any:
    """c + a @ b in one op (PyTorch's ``addmm``; numpy matmul semantics; c broadcasts to a @ b's shape).
    ∂/∂c = 1, ∂/∂a = g @ bᵀ, ∂/∂b = aᵀ @ g.  One record where ``+`` after ``@`` makes two: an RNN
    step ``tanh(addmm(u_t, h, Wᵀ))`` records 2 ops instead of 3."""
    _check_inner("addmm", a, b)
    prod = _flat_matmul(a, b) if type(a) is np.ndarray and type(b) is np.ndarray and b.ndim == 2 and a.ndim > 2 \
        else np.matmul(a, b)
    if type(prod) is np.ndarray and type(c) is np.ndarray and c.shape == prod.shape and prod.dtype == c.dtype:
        prod += c  # in the product's fresh buffer
        return prod
    if np.broadcast_shapes(np.shape(c), np.shape(prod)) != np.shape(prod):
        raise ValueError(f"addmm: c of shape {np.shape(c)} must broadcast to the shape of a @ b, {np.shape(prod)} "
                         "(as PyTorch's addmm); write c + a @ b for the other way round")
    return np.add(prod, c)


@defop("dot", saves=(0, 1), rules=(_matmul_da, _matmul_db))
def dot(a: Any, b: Any) -> Any:
    """numpy ``dot`` for 1-D and 2-D operands (vector·vector, matrix·vector, matrix·matrix).
    The attention score of eq 2, A_{t,i} = h_i · h_t, is ``dot`` of two vectors."""
    if np.ndim(a) not in (1, 2) or np.ndim(b) not in (1, 2):
        raise ValueError(
            f"dot: only 1-D and 2-D operands are supported, got shapes {np.shape(a)} and {np.shape(b)}; "
            "use tg.matmul for batched operands"
        )
    _check_inner("dot", a, b)
    return np.matmul(a, b)


# ============================================================================ shape ops
@defop("reshape", saves=(), rules=(lambda F, g, out, x, shape=(): F.reshape(g, np.shape(F.value(x))),))
def reshape(x: Any, *, shape: tuple[int, ...]) -> Any:
    """Same elements, new shape.   The gradient is reshaped back."""
    return np.reshape(np.asarray(x), shape)


def _transpose_rule(F: Any, g: Any, out: Any, x: Any, axes: Any = None) -> Any:
    nd = np.ndim(F.value(x))
    return F.transpose(g, None if axes is None else tuple(np.argsort([a % nd for a in axes])))


@defop("transpose", saves=(), rules=(_transpose_rule,))
def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Any:
    """Permute axes (all reversed if ``axes`` is None).   The gradient is permuted back."""
    return np.transpose(np.asarray(x), axes)


@defop("broadcast_to", saves=(), rules=(_grad,))
def broadcast_to(x: Any, *, shape: tuple[int, ...]) -> Any:
    """Repeat along broadcast axes.   The gradient is summed back — by the engine's single
    unbroadcasting step, so this rule is the identity."""
    return np.broadcast_to(x, shape)


def _is_advanced(index: Any) -> bool:
    """Integer-array indexing (repeated positions must accumulate)?  Any index part that is not
    an int, slice, None or Ellipsis counts (arrays, lists, tuples); boolean masks never repeat."""
    parts = index if type(index) is tuple else (index,)
    for p in parts:
        if isinstance(p, (int, np.integer, slice, type(None), type(Ellipsis))):
            continue
        if np.asarray(p).dtype != np.bool_:
            return True
    return False


def _getitem_rule(F: Any, g: Any, out: Any, x: Any, index: Any = None) -> Any:
    xv = F.value(x)
    return F.scatter(g, index, xv.shape, xv.dtype, _is_advanced(index))


@defop("getitem", saves=(), rules=(_getitem_rule,))
def getitem(x: Any, *, index: Any) -> Any:
    """x[index]: slices, integers, integer arrays, boolean masks.

    ∂/∂x scatters ``g`` back into zeros (the op ``scatter``); with integer-array indices repeated
    positions **accumulate**.  In first-order backward the scatter is a :class:`SparseGrad`, which
    the walk adds into x's gradient in place instead of allocating zeros of x's shape.
    """
    x = np.asarray(x)
    out = x[index]
    return np.array(out) if not isinstance(out, np.ndarray) else out


@defop("scatter", saves=(), rules=(lambda F, g, out, v, index=None, shape=(), advanced=True: F.getitem(g, index),))
def scatter(v: Any, *, index: Any, shape: tuple[int, ...], advanced: bool = True) -> Any:
    """zeros(shape) with v added at ``index`` (repeats accumulate): the gradient of ``getitem``
    as an op, so that indexing has a second derivative.   ∂/∂v = g[index]."""
    v = np.asarray(v)
    out = np.zeros(shape, dtype=v.dtype if v.dtype.kind == "f" else np.float64)
    if advanced:
        np.add.at(out, index, v)
    else:
        out[index] += v
    return out


def _slicer(axis: int, ndim: int, piece: Any) -> Any:
    return (slice(None),) * axis + (piece,) + (slice(None),) * (ndim - axis - 1)


def _stack_rule(F: Any, g: Any, out: Any, *xs: Any, axis: int = 0, i: int = 0) -> Any:
    nd = np.ndim(F.value(out))
    return F.getitem(g, _slicer(axis % nd, nd, i))


def _concatenate_rule(F: Any, g: Any, out: Any, *xs: Any, axis: int = 0, i: int = 0) -> Any:
    nd = np.ndim(F.value(out))
    ax = axis % nd
    start = builtins.sum(np.shape(F.value(x))[ax] for x in xs[:i])
    return F.getitem(g, _slicer(ax, nd, slice(start, start + np.shape(F.value(xs[i]))[ax])))


@defop("stack", saves=(), rules=(_stack_rule,))
def _stack(*xs: Any, axis: int = 0) -> Any:
    """Stack equal-shaped arrays along a new ``axis``.   Input i's gradient is ``g`` at index i."""
    return np.stack(xs, axis=axis)


@defop("concatenate", saves=(), rules=(_concatenate_rule,))
def _concatenate(*xs: Any, axis: int = 0) -> Any:
    """Join arrays along an existing ``axis``.   Input i's gradient is its slice of ``g``."""
    return np.concatenate(xs, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Any:
    """``np.stack`` for tensors: join along a new axis."""
    if len(tensors) == 0:
        raise ValueError("stack: need at least one tensor")
    return _stack(*tensors, axis=axis)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Any:
    """``np.concatenate`` for tensors: join along an existing axis."""
    if len(tensors) == 0:
        raise ValueError("concatenate: need at least one tensor")
    return _concatenate(*tensors, axis=axis)
