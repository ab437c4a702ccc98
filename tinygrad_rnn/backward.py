"""The backward walk: the tape in reverse, one rule per record.

``backward(root, grad)`` computes ∂root/∂x for every leaf ``x`` that requires grad,
contracted with ``grad`` (a vector-Jacobian product), and **adds** it to ``x.grad``.

1. ``tape_of(root)`` gives root's history in tape order (no recursion).
2. Walk it in reverse.  Each record's output gradient is complete when its turn
   comes, because every consumer of that output was recorded later.
3. Apply the record's VJP rule for each input that requires grad, pass the result
   through :func:`fit_gradient` (undo broadcasting, check the shape), and add it
   to that input's pending gradient (or to ``.grad`` for a leaf).
4. Unless ``retain_graph=True``, free the record as soon as it is used: its saved
   values and its input links are dropped, so memory returns during the walk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .tape import STATE, AnomalyError, Record, tape_of

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor

__all__ = ["backward", "fit_gradient", "GradientShapeError"]


class GradientShapeError(RuntimeError):
    """A backward rule produced a gradient that cannot belong to its input."""


def fit_gradient(g: Any, shape: tuple[int, ...], dtype: Any, rec: Record, i: int) -> np.ndarray:
    """Undo numpy broadcasting: sum ``g`` down to ``shape``.  **The only place that does it.**

    If the forward broadcast input ``i`` from ``shape`` to the output shape, its
    gradient is the sum of ``g`` over the broadcast axes: leading axes that were
    added, and axes where ``shape`` has size 1.  Anything else is a bug in the rule,
    reported with the rule's name and both shapes.
    """
    g = np.asarray(g)
    if g.shape != shape:
        extra = g.ndim - len(shape)
        reduced = g.sum(axis=tuple(range(extra))) if extra > 0 else g
        if extra >= 0:
            axes = tuple(k for k, n in enumerate(shape) if n == 1 and reduced.shape[k] != 1)
            if axes:
                reduced = reduced.sum(axis=axes, keepdims=True)
        if reduced.shape != shape:
            raise GradientShapeError(
                f"backward rule {rec.where()} returned a gradient of shape {g.shape} "
                f"for input {i} of shape {shape}; they are not broadcast-compatible"
            )
        g = reduced
    if g.dtype != dtype:
        g = g.astype(dtype)
    return g


def _accumulate_leaf(x: "Tensor", g: np.ndarray, rec: Record | None) -> None:
    if x.grad is None:
        x.grad = np.array(g, dtype=x.dtype, copy=True)
    elif np.shape(x.grad) != x.shape:
        where = rec.where() if rec is not None else "backward"
        raise GradientShapeError(
            f"{where}: existing .grad of shape {np.shape(x.grad)} does not match its tensor of shape {x.shape}"
        )
    else:
        x.grad += g


def backward(root: "Tensor", grad: Any = None, retain_graph: bool = False) -> None:
    """Back-propagate from ``root``; see the module docstring."""
    from .tensor import Tensor

    if not root.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no recorded history "
            "(was it computed inside no_grad(), or from inputs without requires_grad=True?)"
        )
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward: a gradient can only be implied for a scalar output; this output has shape "
                f"{root.shape}. Call backward(grad) with an array of shape {root.shape}, or reduce first (e.g. .sum())"
            )
        g = np.ones_like(root.data)
    else:
        g = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.dtype)
        if g.shape != root.shape:
            raise ValueError(f"backward: grad has shape {g.shape} but the output has shape {root.shape}")
    if root.record is None:  # a leaf: d root / d root = identity
        _accumulate_leaf(root, g, None)
        return

    order = tape_of(root)  # raises before any gradient is touched if the graph was freed
    pending: dict["Tensor", np.ndarray] = {root: g}  # tensors hash by identity
    anomaly = STATE.anomaly
    ndarray = np.ndarray
    for t in reversed(order):
        g = pending.pop(t, None)
        rec = t.record
        if g is not None:
            if t.retains_grad:
                _accumulate_leaf(t, g, rec)
            i = -1
            for x, vjp in zip(rec.inputs, rec.vjps):
                i += 1
                if vjp is None or not (type(x) is Tensor or isinstance(x, Tensor)) or not x.requires_grad:
                    continue
                try:
                    gx = vjp(g)
                except Exception as e:  # a bug or bad value inside a rule: say which rule
                    raise RuntimeError(
                        f"backward rule {rec.where()} failed for input {i} of shape {x.shape} "
                        f"with upstream gradient of shape {np.shape(g)}: {e}"
                    ) from e
                xd = x.data
                if type(gx) is not ndarray or gx.shape != xd.shape or gx.dtype != xd.dtype:
                    gx = fit_gradient(gx, xd.shape, xd.dtype, rec, i)
                if anomaly and not np.isfinite(gx).all():
                    raise AnomalyError(
                        f"backward rule {rec.where()} produced a non-finite gradient for input {i} of shape {x.shape}"
                    )
                if x.record is None:
                    if x.grad is None or x.grad.shape != xd.shape:
                        _accumulate_leaf(x, gx, rec)
                    else:
                        x.grad += gx
                else:
                    prev = pending.get(x)
                    pending[x] = gx if prev is None else prev + gx
        if not retain_graph:
            rec.vjps = None
            rec.inputs = ()
