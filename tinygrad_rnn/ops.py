"""Every built-in op: its forward and its named backward rule, side by side.

Each rule is written as the VJP ``g ↦ g · ∂out/∂input`` (``g`` has the output's
shape).  Broadcasting is *not* undone here: the engine does it once, for all ops
(:func:`tinygrad_rnn.backward.fit_gradient`).  Learners adding an op: copy one of
these and see :mod:`tinygrad_rnn.op` for the contract.
"""

from __future__ import annotations

import builtins
from typing import Any, Sequence

import numpy as np

from .backward import SparseGrad
from .op import defop

# ============================================================================ elementwise
def _same(g: Any) -> Any:
    return g


def _negated(g: Any) -> Any:
    return -g


@defop("add", saves=())
def add(a: Any, b: Any) -> Any:
    """a + b.   ∂/∂a = 1, ∂/∂b = 1."""
    return np.add(a, b), (_same, _same)


@defop("sub", saves=())
def sub(a: Any, b: Any) -> Any:
    """a − b.   ∂/∂a = 1, ∂/∂b = −1."""
    return np.subtract(a, b), (_same, _negated)


@defop("mul", saves=(0, 1))
def mul(a: Any, b: Any) -> Any:
    """a ⊙ b.   ∂/∂a = b, ∂/∂b = a."""
    return np.multiply(a, b), (lambda g: g * b, lambda g: g * a)


@defop("div", saves=(1, "out"))
def div(a: Any, b: Any) -> Any:
    """a / b.   ∂/∂a = 1/b, ∂/∂b = −a/b²."""
    out = np.true_divide(a, b)
    return out, (lambda g: g / b, lambda g: -g * out / b)


@defop("pow", saves=(0, 1, "out"))
def pow(a: Any, b: Any) -> Any:  # noqa: A001 (shadows builtin inside this module only)
    """a ** b.   ∂/∂a = b·a^(b−1), ∂/∂b = a^b · ln a  (real only for a > 0).

    Limits taken as PyTorch does: ∂/∂a = 0 where b = 0 (x⁰ = 1 for every x, even at 0),
    and ∂/∂b = 0 where a = 0 and b ≥ 0 (0^b is constant there), instead of 0·∞ = NaN.
    """
    out = np.power(a, b)

    def vjp_a(g: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            d = b * np.power(a, b - 1)
        return g * np.where(np.equal(b, 0), 0.0, d)

    def vjp_b(g: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            d = out * np.log(a)
        return g * np.where(np.logical_and(np.equal(a, 0), np.greater_equal(b, 0)), 0.0, d)

    return out, (vjp_a, vjp_b)


@defop("neg", saves=())
def neg(x: Any) -> Any:
    """−x.   ∂/∂x = −1."""
    return np.negative(x), (_negated,)


@defop("tanh", saves=("out",))
def tanh(x: Any) -> Any:
    """tanh x (Θ_h of eq 1).   ∂/∂x = 1 − tanh² x."""
    y = np.tanh(x)
    return y, (lambda g: g * (1.0 - y * y),)


@defop("exp", saves=("out",))
def exp(x: Any) -> Any:
    """eˣ.   ∂/∂x = eˣ."""
    y = np.exp(x)
    return y, (lambda g: g * y,)


@defop("log", saves=(0,))
def log(x: Any) -> Any:
    """ln x.   ∂/∂x = 1/x.  Non-positive x gives numpy's usual warning and nan/−inf."""
    return np.log(x), (lambda g: g / x,)


@defop("sigmoid", saves=("out",))
def sigmoid(x: Any) -> Any:
    """σ(x) = 1/(1+e⁻ˣ).   ∂/∂x = σ(1−σ).

    Computed as 1/(1+e⁻ˣ) for x ≥ 0 and eˣ/(1+eˣ) for x < 0: no overflow, and full relative
    precision for large negative x (σ(−40) ≈ 4.2e−18, not 0), so ln σ stays finite.
    """
    x = np.asarray(x)
    e = np.exp(-np.abs(x))  # ≤ 1: never overflows
    y = np.where(x >= 0, 1.0, e) / (1.0 + e)
    return y, (lambda g: g * y * (1.0 - y),)


@defop("relu", saves=(0,))
def relu(x: Any) -> Any:
    """max(x, 0).   ∂/∂x = 1 for x > 0, else 0 (we take the subgradient 0 at x = 0)."""
    return np.maximum(x, 0), (lambda g: g * (x > 0),)


@defop("sqrt", saves=("out",))
def sqrt(x: Any) -> Any:
    """√x.   ∂/∂x = 1/(2√x)."""
    y = np.sqrt(x)
    return y, (lambda g: g * 0.5 / y,)


@defop("abs", saves=(0,))
def abs(x: Any) -> Any:  # noqa: A001
    """|x|.   ∂/∂x = sign x (subgradient 0 at x = 0)."""
    return np.abs(x), (lambda g: g * np.sign(x),)


@defop("where", saves=(0,))
def where(cond: Any, a: Any, b: Any) -> Any:
    """cond ? a : b, elementwise.   ∂/∂a = [cond], ∂/∂b = [¬cond]; no gradient for cond.

    The unused branch gets an exact 0 (never 0·inf), so ``where(mask, scores, -inf)``
    before a softmax gives exact zeros and a NaN-free backward.
    """
    cond = np.asarray(cond)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: cond must be boolean, got dtype {cond.dtype}")
    return np.where(cond, a, b), (None, lambda g: np.where(cond, g, 0), lambda g: np.where(cond, 0, g))


# ============================================================================ reductions
def _keepdims_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """``shape`` with the reduced axes kept as 1 (what keepdims=True would give)."""
    if not shape:  # 0-d: numpy accepts axis 0 / -1 and returns the value itself
        return ()
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _spread(g: Any, x: np.ndarray, keep: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """g (reduced to shape ``keep``) copied back over the reduced axes: a fresh array of x's
    shape (faster than np.expand_dims + np.broadcast_to, and writable)."""
    out = np.empty(x.shape, dtype=x.dtype)
    kept = np.reshape(g, keep)
    out[...] = kept if scale == 1.0 else kept * scale
    return out


@defop("sum", saves=())
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Σ over ``axis``.   ∂/∂x_i = 1: the gradient is ``g`` copied back over the summed axes."""
    x = np.asarray(x)
    out = x.sum(axis=axis, keepdims=keepdims)  # first: numpy reports a bad axis
    keep = _keepdims_shape(x.shape, axis)
    return out, (lambda g: _spread(g, x, keep),)


@defop("mean", saves=())
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over ``axis``.   ∂/∂x_i = 1/n, n = number of averaged elements."""
    x = np.asarray(x)
    out = x.mean(axis=axis, keepdims=keepdims)
    n = x.size // builtins.max(np.size(out), 1) if x.size else 1
    keep = _keepdims_shape(x.shape, axis)
    return out, (lambda g: _spread(g, x, keep, 1.0 / n),)


def _extreme(x: Any, axis: Any, keepdims: bool, arg: Any, name: str) -> Any:
    """Shared by max and min: the value at the first arg-max (arg-min) and its rule."""
    x = np.asarray(x)
    if axis is not None and not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: axis must be an int or None, got {axis!r}")
    if x.size == 0:
        raise ValueError(f"{name}: a reduction over a zero-size array has no identity (shape {x.shape})")
    if axis is None or x.ndim == 0:
        if axis is not None and axis not in (0, -1):
            np.sum(x, axis=axis)  # raises numpy's AxisError
        where = np.unravel_index(int(arg(x)), x.shape)  # works for any memory layout (e.g. x.T)
        out = x[where]
        out = np.reshape(out, (1,) * x.ndim) if keepdims else np.asarray(out)

        def vjp_all(g: Any) -> Any:
            z = np.zeros(x.shape, dtype=np.result_type(x.dtype, np.float64) if x.dtype.kind != "f" else x.dtype)
            z[where] = np.reshape(g, ())
            return z

        return out, (vjp_all,)
    idx = arg(x, axis=axis, keepdims=True)
    out = np.take_along_axis(x, idx, axis=axis)
    if not keepdims:
        out = np.squeeze(out, axis=axis)

    def vjp(g: Any) -> Any:
        z = np.zeros_like(x)
        np.put_along_axis(z, idx, g if keepdims else np.expand_dims(g, axis), axis=axis)
        return z

    return out, (vjp,)


@defop("max", saves=())
def max(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Maximum over ``axis`` (an int or None).

    ∂/∂x_i = 1 at the arg-max, 0 elsewhere.  **Ties:** the whole gradient goes to the
    *first* maximal element (``np.argmax`` order, C order of the logical array) — a valid
    subgradient, deterministic.  (PyTorch splits it evenly among tied elements for a full
    reduction.)
    """
    return _extreme(x, axis, keepdims, np.argmax, "max")


@defop("min", saves=())
def min(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Minimum over ``axis`` (an int or None).   ∂/∂x_i = 1 at the *first* arg-min, 0 elsewhere."""
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


@defop("softmax", saves=("out",))
def softmax(x: Any, axis: int = -1) -> Any:
    """ŷ_i = e^{x_i − m} / Σ_k e^{x_k − m}, m = max_k x_k (stable; eqs 3 and 6).

    Jacobian ∂ŷ_i/∂x_j = ŷ_i(δ_ij − ŷ_j)  (the correct form of the seed's eq 8), so
    the VJP is  g ↦ ŷ ⊙ (g − Σ_j g_j ŷ_j).  Entries equal to −inf get exactly 0.
    """
    x = _floating(x)
    if x.ndim == 0:  # a single element: softmax is 1, its gradient 0
        np.empty(0).sum(axis=axis)  # raises numpy's AxisError for an axis other than 0 / -1
        return np.ones_like(x), (lambda g: np.zeros_like(x),)
    if x.shape[axis] == 0:  # nothing to normalise: the empty result, as numpy/PyTorch give
        return x.copy(), (lambda g: np.zeros_like(x),)
    y = x - x.max(axis=axis, keepdims=True)  # one buffer, reused in place below
    np.exp(y, out=y)
    y /= y.sum(axis=axis, keepdims=True)

    def vjp(g: Any) -> Any:
        out = g * y
        inner = out.sum(axis=axis, keepdims=True)
        out -= y * inner  # y ⊙ g − y ⊙ Σ_j g_j y_j
        return out

    return y, (vjp,)


@defop("log_softmax", saves=("out",))
def log_softmax(x: Any, axis: int = -1) -> Any:
    """ln softmax(x)_i = x_i − m − ln Σ_k e^{x_k − m}.

    ∂/∂x_j = δ_ij − softmax_j, so the VJP is  g ↦ g − softmax(x) · Σ_i g_i.
    """
    x = _floating(x)
    if x.ndim == 0:
        np.empty(0).sum(axis=axis)  # raises numpy's AxisError for an axis other than 0 / -1
        return np.zeros_like(x), (lambda g: np.zeros_like(x),)
    if x.shape[axis] == 0:
        return x.copy(), (lambda g: np.zeros_like(x),)
    out = _log_softmax(x, axis)
    return out, (lambda g: g - np.exp(out) * np.asarray(g).sum(axis=axis, keepdims=True),)


@defop("cross_entropy", saves=(1,))
def cross_entropy(logits: Any, targets: Any, axis: int = -1, reduction: str = "sum") -> Any:
    """L = −Σ_k y_k ln softmax(logits)_k per position (eq 7), then reduced.

    ``targets`` are integer class indices (logits' shape without ``axis``) or
    one-hot / probability rows (logits' shape).
    ∂L/∂logits = softmax · Σ_k y_k − y  (= ŷ − y for one-hot or probability rows: eq 9);
    ∂L/∂y = −ln softmax (probability targets only).
    ``reduction``: ``"sum"`` | ``"mean"`` (over positions) | ``"none"``.
    """
    if reduction not in ("sum", "mean", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'sum', 'mean' or 'none', got {reduction!r}")
    logits = _floating(logits)
    targets = np.asarray(targets)
    if logits.ndim == 0:
        raise ValueError("cross_entropy: logits must have at least one axis (the classes)")
    ax = axis % logits.ndim
    n_classes = logits.shape[ax]
    lsm = _log_softmax(logits, ax)
    if targets.dtype.kind in "iu":
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
        index = np.expand_dims(targets, ax)
        losses = -np.squeeze(np.take_along_axis(lsm, index, axis=ax), axis=ax)

        def dlogits_raw() -> Any:
            d = np.exp(lsm)
            np.put_along_axis(d, index, np.take_along_axis(d, index, axis=ax) - 1.0, axis=ax)
            return d
    elif targets.dtype.kind == "f":
        if targets.shape != logits.shape:
            raise ValueError(
                f"cross_entropy: probability / one-hot targets must have the logits' shape {logits.shape}, "
                f"got {targets.shape}"
            )
        prod = targets * lsm
        if np.isinf(lsm).any():  # masked (−inf) logits: 0 · (−inf) must count as 0, not NaN
            with np.errstate(invalid="ignore"):
                prod[targets == 0] = 0.0
        losses = -np.sum(prod, axis=ax)
        del prod

        def dlogits_raw() -> Any:
            d = np.exp(lsm)
            d *= np.sum(targets, axis=ax, keepdims=True)
            d -= targets
            return d
    else:
        raise TypeError(f"cross_entropy: targets must be integer classes or float rows, got dtype {targets.dtype}")

    n = losses.size
    out = losses if reduction == "none" else (np.sum(losses) if reduction == "sum" else np.sum(losses) / builtins.max(n, 1))

    def upstream(g: Any) -> Any:  # g broadcast to the per-position losses, with the class axis kept
        if reduction == "none":
            return np.expand_dims(g, ax)
        return g / n if reduction == "mean" else g

    def vjp_logits(g: Any) -> Any:
        d = dlogits_raw()
        d *= upstream(g)
        return d

    return out, (vjp_logits, lambda g: -lsm * upstream(g))


# ============================================================================ linear algebra
def _check_inner(name: str, a: Any, b: Any) -> None:
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"{name}: operands must be at least 1-D, got shapes {sa} and {sb} (use * for scalars)")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(f"{name}: shapes {sa} and {sb} do not align ({ka} != {kb})")


def _matmul_rule(a: Any, b: Any) -> Any:
    """Shared by matmul and dot.  out = a @ b;  ∂/∂a: g @ bᵀ,  ∂/∂b: aᵀ @ g,
    with 1-D operands promoted to matrices and the promotion undone afterwards
    (batch axes are summed by the engine's broadcasting step)."""
    a = np.asarray(a)
    b = np.asarray(b)
    out = np.matmul(a, b)

    def grads(g: Any) -> tuple[Any, Any]:
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = np.asarray(g)
        if b.ndim == 1:  # first: for two vectors g is 0-d and becomes (1, 1)
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        return g2, a2, b2

    def vjp_a(g: Any) -> Any:
        g2, _, b2 = grads(g)
        ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
        return ga[..., 0, :] if a.ndim == 1 else ga

    def vjp_b(g: Any) -> Any:
        g2, a2, _ = grads(g)
        gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
        return gb[..., :, 0] if b.ndim == 1 else gb

    return out, (vjp_a, vjp_b)


@defop("matmul", saves=(0, 1))
def matmul(a: Any, b: Any) -> Any:
    """a @ b with numpy ``matmul`` semantics (1-D operands, batched and broadcast stacks).
    ∂/∂a = g @ bᵀ, ∂/∂b = aᵀ @ g."""
    _check_inner("matmul", a, b)
    return _matmul_rule(a, b)


@defop("dot", saves=(0, 1))
def dot(a: Any, b: Any) -> Any:
    """numpy ``dot`` for 1-D and 2-D operands (vector·vector, matrix·vector, matrix·matrix).
    The attention score of eq 2, A_{t,i} = h_i · h_t, is ``dot`` of two vectors."""
    if np.ndim(a) not in (1, 2) or np.ndim(b) not in (1, 2):
        raise ValueError(
            f"dot: only 1-D and 2-D operands are supported, got shapes {np.shape(a)} and {np.shape(b)}; "
            "use tg.matmul for batched operands"
        )
    _check_inner("dot", a, b)
    return _matmul_rule(a, b)


# ============================================================================ shape ops
@defop("reshape", saves=())
def reshape(x: Any, *, shape: tuple[int, ...]) -> Any:
    """Same elements, new shape.   The gradient is reshaped back."""
    x = np.asarray(x)
    return np.reshape(x, shape), (lambda g: np.reshape(g, x.shape),)


@defop("transpose", saves=())
def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Any:
    """Permute axes (all reversed if ``axes`` is None).   The gradient is permuted back."""
    x = np.asarray(x)
    out = np.transpose(x, axes)
    inverse = None if axes is None else tuple(np.argsort([a % x.ndim for a in axes]))
    return out, (lambda g: np.transpose(g, inverse),)


@defop("broadcast_to", saves=())
def broadcast_to(x: Any, *, shape: tuple[int, ...]) -> Any:
    """Repeat along broadcast axes.   The gradient is summed back — by the engine's single
    unbroadcasting step, so this rule is the identity."""
    return np.broadcast_to(x, shape), (_same,)


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


@defop("getitem", saves=())
def getitem(x: Any, *, index: Any) -> Any:
    """x[index]: slices, integers, integer arrays, boolean masks.

    ∂/∂x scatters ``g`` back into zeros; with integer-array indices repeated
    positions **accumulate** (``np.add.at``).  The rule returns a :class:`SparseGrad`, which
    the walk adds into x's gradient in place instead of allocating zeros of x's shape.
    """
    x = np.asarray(x)
    out = x[index]

    advanced = _is_advanced(index)
    return np.array(out) if not isinstance(out, np.ndarray) else out, (
        lambda g: SparseGrad(index, g, x.shape, x.dtype, advanced),)


def _slicer(axis: int, ndim: int, piece: Any) -> Any:
    return (slice(None),) * axis + (piece,) + (slice(None),) * (ndim - axis - 1)


@defop("stack", saves=())
def _stack(*xs: Any, axis: int = 0) -> Any:
    """Stack equal-shaped arrays along a new ``axis``.   Input i's gradient is ``g`` at index i."""
    out = np.stack(xs, axis=axis)
    ax = axis % out.ndim
    return out, tuple((lambda g, i=i: g[_slicer(ax, g.ndim, i)]) for i in range(len(xs)))


@defop("concatenate", saves=())
def _concatenate(*xs: Any, axis: int = 0) -> Any:
    """Join arrays along an existing ``axis``.   Input i's gradient is its slice of ``g``."""
    out = np.concatenate(xs, axis=axis)
    ax = axis % out.ndim
    bounds = np.cumsum([0] + [np.shape(x)[ax] for x in xs])
    return out, tuple(
        (lambda g, s=int(s), e=int(e): g[_slicer(ax, g.ndim, slice(s, e))]) for s, e in zip(bounds[:-1], bounds[1:])
    )


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
