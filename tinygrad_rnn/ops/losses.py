"""Losses: cross_entropy (eq 7's loss, with PyTorch's options), mse_loss, nll_loss, binary cross-entropy.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from ..op import defop
from .axes import _floating, normalize_axis
from .reductions import _log_softmax, log_softmax


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
    A, denominator = class_coefficients(targets, logp.shape, ax, weight, ignore_index, 0.0, "nll_loss")
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
