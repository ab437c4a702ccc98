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

__all__ = ["backward", "fit_gradient", "GradientShapeError", "SparseGrad"]


class GradientShapeError(RuntimeError):
    """A backward rule produced a gradient that cannot belong to its input."""


class SparseGrad:
    """A gradient that is zero except at ``index`` (``values`` there).

    Indexing rules return one instead of ``zeros(shape)`` with the values scattered in, so the
    walk can add it into an existing gradient in place: slicing x[:, t] for every t of a
    (B, T, H) tensor then costs O(B·H) per step instead of O(B·T·H).  Integer-array indices
    (``advanced=True``) accumulate repeated positions (``np.add.at``).
    """

    __slots__ = ("index", "values", "shape", "dtype", "advanced")

    def __init__(self, index: Any, values: Any, shape: tuple[int, ...], dtype: Any, advanced: bool) -> None:
        self.index = index
        self.values = values
        self.shape = shape
        self.dtype = dtype
        self.advanced = advanced

    def add_into(self, arr: np.ndarray) -> None:
        """arr[index] += values (repeated integer indices accumulate)."""
        if self.advanced:
            np.add.at(arr, self.index, self.values)
        else:
            arr[self.index] += self.values

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=self.dtype)
        self.add_into(out)
        return out


def fit_gradient(g: Any, shape: tuple[int, ...], dtype: Any, rec: Record, i: int) -> np.ndarray:
    """Undo numpy broadcasting: sum ``g`` down to ``shape``.  **The only place that does it.**

    If the forward broadcast input ``i`` from ``shape`` to the output shape, its
    gradient is the sum of ``g`` over the broadcast axes: leading axes that were
    added, and axes where ``shape`` has size 1.  Anything else is a bug in the rule,
    reported with the rule's name and both shapes.
    """
    if isinstance(g, SparseGrad):
        g = g.dense()
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
    owned: set["Tensor"] = set()  # whose pending array the walk allocated itself (safe to add into in place)
    anomaly = STATE.anomaly
    ndarray = np.ndarray
    for t in reversed(order):
        g = pending.pop(t, None)
        owned.discard(t)
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
                if type(gx) is SparseGrad:
                    _add_sparse(x, gx, pending, owned, rec, i, anomaly)
                    continue
                if type(gx) is not ndarray or gx.dtype is not xd.dtype or gx.shape != xd.shape:  # fast path
                    gx = fit_gradient(gx, xd.shape, xd.dtype, rec, i)
                if anomaly:
                    _check_finite(gx, rec, i, x)
                if x.record is None:
                    if x.grad is None or x.grad.shape != xd.shape:
                        _accumulate_leaf(x, gx, rec)
                    else:
                        x.grad += gx
                else:
                    prev = pending.get(x)
                    if prev is None:
                        pending[x] = gx  # may alias g or a view: not ours to modify
                    elif x in owned:
                        prev += gx  # an ndarray we made (even 0-d), so this is truly in place
                    else:
                        total = prev + gx  # 0-d + 0-d gives a numpy scalar: keep an ndarray
                        pending[x] = total if type(total) is ndarray else np.asarray(total)
                        owned.add(x)
        if not retain_graph:
            rec.vjps = None
            rec.inputs = ()


def _check_finite(g: np.ndarray, rec: Record, i: int, x: "Tensor") -> None:
    if not np.isfinite(g).all():
        raise AnomalyError(
            f"backward rule {rec.where()} produced a non-finite gradient for input {i} of shape {x.shape}"
        )


def _add_sparse(x: "Tensor", gx: SparseGrad, pending: dict, owned: set, rec: Record, i: int, anomaly: bool) -> None:
    """Add an indexing rule's gradient into x's gradient without materialising zeros."""
    if gx.shape != x.shape:
        raise GradientShapeError(
            f"backward rule {rec.where()} returned a sparse gradient for shape {gx.shape} for input {i} of shape {x.shape}"
        )
    if anomaly:
        _check_finite(np.asarray(gx.values), rec, i, x)
    if x.record is None:
        if x.grad is None or x.grad.shape != x.shape:
            _accumulate_leaf(x, gx.dense(), rec)
        else:
            gx.add_into(x.grad)
        return
    prev = pending.get(x)
    if prev is None:
        pending[x] = gx.dense()
    else:
        if x not in owned:
            prev = pending[x] = prev.copy()
        gx.add_into(prev)
    owned.add(x)
