"""The backward walk: the tape in reverse, one rule per record.

``backward(root, grad)`` computes ∂root/∂x for every leaf ``x`` that requires grad,
contracted with ``grad`` (a vector-Jacobian product), and **adds** it to ``x.grad``.

1. ``tape_of(root)`` gives root's history in tape order (no recursion).
2. Walk it in reverse.  Each record's output gradient is complete when its turn
   comes, because every consumer of that output was recorded later.
3. Apply the record's VJP rule for each parent (input that requires grad) and hand the
   result to :class:`Gradients`, which undoes broadcasting (:func:`fit_gradient`),
   checks the shape and adds it to that parent's pending gradient (or ``.grad`` for a leaf).
4. Unless ``retain_graph=True``, free the record as soon as it is used: its saved
   values and its input links are dropped (and its saved arrays become writable again),
   so memory returns during the walk.

The walk is :func:`backward`'s loop, a dozen lines; everything about *how* gradients are
added up (three cases: a leaf's ``.grad``, a pending dense array the walk may or may not
own, a sparse gradient from indexing) lives in :meth:`Gradients.add`.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .funcs import NP, TG, SparseGrad
from .op import defop
from .tape import AnomalyError, Record, freed_error, state, tape_of

__all__ = ["backward", "traced_walk", "fit_gradient", "Gradients", "Observed", "GradientShapeError", "SparseGrad"]

_ndarray = np.ndarray


class GradientShapeError(RuntimeError):
    """A backward rule produced a gradient that cannot belong to its input."""


def fit_gradient(g: Any, shape: tuple[int, ...], dtype: Any, rec: Record, i: int) -> np.ndarray:
    """Undo numpy broadcasting: sum ``g`` down to ``shape``.  **The only place that does it.**

    If the forward broadcast input ``i`` from ``shape`` to the output shape, its
    gradient is the sum of ``g`` over the broadcast axes: leading axes that were
    added, and axes where ``shape`` has size 1.  Anything else is a bug in the rule,
    reported with the rule's name and both shapes.
    """
    if isinstance(g, SparseGrad):
        g = g.dense()
    if g is None or isinstance(g, (str, bytes)) or not hasattr(g, "__array__") and not isinstance(g, (int, float)):
        raise GradientShapeError(
            f"backward rule {rec.where()} returned {type(g).__name__} for input {i} of shape {shape}; "
            "a rule must return an array (use None in the rules tuple for inputs without a gradient)"
        )
    g = np.asarray(g)
    if g.dtype.kind not in "fiub":
        raise GradientShapeError(
            f"backward rule {rec.where()} returned a gradient of dtype {g.dtype} for input {i} of shape {shape}; "
            "expected a real floating-point array"
        )
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
        g = reduced if type(reduced) is _ndarray else np.asarray(reduced)  # a full sum gives a numpy scalar
    if g.dtype != dtype:
        g = g.astype(dtype)
    return g


def backward(root: Any, grad: Any = None, retain_graph: bool = False, observer: Any = None) -> None:
    """Back-propagate from ``root``; see the module docstring (and :class:`Observed` for ``observer``)."""
    g = _seed(root, grad)
    grads = Gradients(state().anomaly) if observer is None else Observed(state().anomaly, observer)
    if root.record is None:  # a leaf: d root / d root = identity
        grads.add(root, g, None, 0)
        return
    order = tape_of(root)  # raises before any gradient is touched if the graph was freed
    claim(order, exclusive=not retain_graph)
    try:
        _walk(order, root, g, grads, retain_graph)
    finally:
        release(order, exclusive=not retain_graph)


def _walk(order: list[Any], root: Any, g: np.ndarray, grads: "Gradients", retain_graph: bool) -> None:
    """The loop itself: each record in reverse tape order, its rules, then (usually) freeing it."""
    grads.pending[id(root.record)] = g
    for t in reversed(order):
        rec = t.record
        g = grads.pop(rec)
        if g is not None:
            if t.retains_grad:
                _add_to_grad(t, g, rec)
            g.setflags(write=False)  # rules must not write into g (it may be shared)
            for i, x in rec.parents:
                rule = rec.vjps[i]
                if rule is not None:
                    try:  # (the common case first: a rule with nothing but the arrays)
                        gx = rule(NP, g, t._data, *rec.arrays) if rec.plain else rec.vjp(i, NP, g, t._data, rec.arrays)
                    except Exception as e:
                        raise _rule_error(e, g, rec, i, x) from e
                    grads.add(x, gx, rec, i)
        if not retain_graph:
            rec.free(t)


class Gradients:
    """The walk's bookkeeping: gradients waiting for their record's turn, and how to add one.

    ``pending`` maps a record (by identity) to the gradient of its output so far.  The walk may
    add into a pending array in place only if it allocated that array itself (``owned``): an array
    a rule returned may alias the upstream gradient of another input (``add`` hands the same ``g``
    to both) or a saved value, so the first sum with it makes a fresh array instead.  The three
    cases: a leaf's ``.grad`` (:func:`_add_to_grad`), a dense pending array (owned or not), and a
    sparse gradient from indexing (:meth:`_add_sparse`, copy-on-write).
    """

    __slots__ = ("pending", "owned", "anomaly")

    def __init__(self, anomaly: bool) -> None:
        self.pending: dict[int, np.ndarray] = {}
        self.owned: set[int] = set()
        self.anomaly = anomaly

    def pop(self, rec: Record) -> np.ndarray | None:
        self.owned.discard(id(rec))
        return self.pending.pop(id(rec), None)

    def add(self, x: Any, gx: Any, rec: Record | None, i: int) -> None:
        """Add ``gx`` (dense, broadcast or :class:`SparseGrad`) to input ``x``'s gradient."""
        xd = x._data
        if type(gx) is SparseGrad:
            return self._add_sparse(x, gx, rec, i)
        if type(gx) is not _ndarray or gx.dtype is not xd.dtype or gx.shape != xd.shape:  # fast path
            gx = fit_gradient(gx, xd.shape, xd.dtype, rec, i)
        if self.anomaly:
            _check_finite(gx, rec, i, x)
        if x.record is None:  # a leaf: add to .grad
            _add_to_grad(x, gx, rec)
            return
        key = id(x.record)
        prev = self.pending.get(key)
        if prev is None:
            self.pending[key] = gx  # may alias g, another pending array or a saved value: not ours
        elif key in self.owned:
            prev += gx  # an ndarray we made (even 0-d), so this is truly in place
        else:
            total = prev + gx  # 0-d + 0-d gives a numpy scalar: keep an ndarray
            self.pending[key] = total if type(total) is _ndarray else np.asarray(total)
            self.owned.add(key)

    def _add_sparse(self, x: Any, gx: SparseGrad, rec: Record | None, i: int) -> None:
        """The same for an indexing rule's sparse gradient: scattered in place, never densified
        into a full array unless it is the first gradient to arrive."""
        if gx.shape != x.data.shape:
            raise GradientShapeError(
                f"backward rule {_where(rec)} returned a sparse gradient for shape {gx.shape} "
                f"for input {i} of shape {x.data.shape}"
            )
        if self.anomaly:
            _check_finite(gx.values, rec, i, x)
        if x.record is None:
            _add_to_grad(x, gx, rec)
            return
        key = id(x.record)
        prev = self.pending.get(key)
        if prev is None:
            self.pending[key] = gx.dense()
        elif key in self.owned:
            gx.add_into(prev)
        else:
            prev = self.pending[key] = prev.copy()  # copy-on-write: prev may be shared with another input
            gx.add_into(prev)
        self.owned.add(key)


class Observed(Gradients):
    """:class:`Gradients` that report to an ``observer`` what the walk does, as it does it — the
    numbers :func:`tinygrad_rnn.viz.explore` puts on its page are these, the walk's own.

    ``observer.arrive(rec, g)``: ``rec``'s turn has come; ``g`` is its output's complete gradient
    (``None`` if none arrived).  ``observer.added(rec, i, x, gx, total)``: the rule for input ``i``
    gave ``gx`` (broadcasting undone), and ``x``'s gradient so far is now ``total`` (its ``.grad``
    for a leaf).  Both arrays may be changed in place later by the walk: copy what you keep."""

    __slots__ = ("observer",)

    def __init__(self, anomaly: bool, observer: Any) -> None:
        super().__init__(anomaly)
        self.observer = observer

    def pop(self, rec: Record) -> np.ndarray | None:
        g = super().pop(rec)
        self.observer.arrive(rec, g)
        return g

    def add(self, x: Any, gx: Any, rec: Record | None, i: int) -> None:
        if type(gx) is not SparseGrad:
            gx = fit_gradient(gx, x.data.shape, x.data.dtype, rec, i)  # what add() would add
        super().add(x, gx, rec, i)
        total = x.grad if x.record is None else self.pending[id(x.record)]
        self.observer.added(rec, i, x, gx.dense() if type(gx) is SparseGrad else gx, total)


_GRAD_LOCK = threading.Lock()  # one accumulation into a .grad at a time, across threads
_WALK_LOCK = threading.Lock()  # guards Record.walkers


def claim(order: list[Any], exclusive: bool) -> None:
    """Register a walk through the records of ``order`` (a graph is walked by one freeing
    backward, or by any number that keep it, at a time): two threads calling ``backward()`` on one
    graph at once would otherwise free it under each other and return with gradients missing.
    Raises, touching nothing, if a record is freed or claimed the other way."""
    with _WALK_LOCK:
        for t in order:
            rec = t.record
            if rec.vjps is None:  # (freed by another thread since tape_of looked)
                raise freed_error(rec)
            if rec.walkers < 0 or (exclusive and rec.walkers > 0):
                raise RuntimeError(
                    f"backward: the graph through {rec.where()} is being walked by another backward() right now "
                    "(in another thread); a graph can be walked by one backward() that frees it, or by several "
                    "with retain_graph=True, but not both at once"
                )
        for t in order:
            rec = t.record
            rec.walkers = -1 if exclusive else rec.walkers + 1


def release(order: list[Any], exclusive: bool) -> None:
    """The end of a walk registered by :func:`claim` (also after an error)."""
    with _WALK_LOCK:
        for t in order:
            rec = t.record
            rec.walkers = 0 if exclusive else rec.walkers - 1


def _add_to_grad(x: Any, g: Any, rec: Record | None) -> None:
    """x.grad += g (x.grad is created as a fresh copy the first time).  Under a lock: numpy releases
    the GIL inside ``+=``, so two threads accumulating into one parameter would lose updates."""
    with _GRAD_LOCK:
        _accumulate(x, g, rec)


def _accumulate(x: Any, g: Any, rec: Record | None) -> None:
    if x.grad is None:
        x.grad = g.dense() if type(g) is SparseGrad else np.array(g, dtype=x.dtype, copy=True)
    elif np.shape(x.grad) != x.shape:
        raise GradientShapeError(
            f"{_where(rec)}: existing .grad of shape {np.shape(x.grad)} does not match its tensor of shape {x.shape}"
        )
    elif type(g) is SparseGrad:
        g.add_into(x.grad)
    else:
        x.grad += g


def _rule_error(e: Exception, g: Any, rec: Record, i: int, x: Any) -> RuntimeError:
    """A failure inside a rule (a bug, a bad value, an in-place write), as an error naming the rule."""
    if isinstance(e, ValueError) and "read-only" in str(e):
        return RuntimeError(
            f"backward rule {rec.where()} tried to write in place into its upstream gradient g or a saved "
            f"value (input {i} of shape {x.shape}); rules must return new arrays: {e}"
        )
    return RuntimeError(
        f"backward rule {rec.where()} failed for input {i} of shape {x.shape} "
        f"with upstream gradient of shape {np.shape(g)}: {e}"
    )


def _seed(root: Any, grad: Any) -> np.ndarray:
    """The gradient the walk starts from: ones for a one-element root, else a checked copy of ``grad``."""
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
        return np.ones_like(root.data)
    arr = np.asarray(grad)
    if arr.dtype.kind not in "fiub":
        raise TypeError(
            f"backward: grad must be a real numeric array of shape {root.shape}, got dtype {arr.dtype}"
            + (" (a None or non-number inside it?)" if arr.dtype.kind == "O" else "")
        )
    if arr.shape != root.shape:
        raise ValueError(f"backward: grad has shape {arr.shape} but the output has shape {root.shape}")
    return np.array(arr, dtype=root.dtype, copy=True)


def _where(rec: Record | None) -> str:
    return rec.where() if rec is not None else "backward"


def _check_finite(g: Any, rec: Record | None, i: int, x: Any) -> None:
    if not np.isfinite(g).all():
        raise AnomalyError(
            f"backward rule {_where(rec)} produced a non-finite gradient for input {i} of shape {x.shape}"
        )


# ----------------------------------------------------------------------------- the recorded walk
def traced_walk(root: Any, g: Any, inputs: Any = None) -> dict[int, Any]:
    """The same walk with every rule run on Tensors (``F = TG``), so the backward pass is itself
    recorded on the tape and can be differentiated again (higher-order gradients).

    ``g`` is a Tensor (it may require grad: the result is then differentiable in it too).  Each
    backward op is recorded in scope ``<forward scope>/backward`` with the forward record's tags
    plus ``grad_of="<rule name>"``, so drawings group and colour it like the forward op it came
    from.  The forward graph is kept (as ``retain_graph=True``).

    With ``inputs=None`` the gradients are *added* to every reached leaf's ``.grad`` (and to
    intermediates that called ``retain_grad()``), as ``backward(create_graph=True)`` does; ``.grad``
    becomes a Tensor with history.  With ``inputs`` (tensors, leaf or not) nothing is stored and the
    result maps ``id(input)`` to its gradient (missing: it does not depend on it)."""
    want = None if inputs is None else {id(x.record) if x.record is not None else id(x): x for x in inputs}
    found: dict[int, Any] = {}
    if root.record is None:  # a leaf: d root / d root = identity, g itself
        if want is None:
            _add_traced(root, g)
        elif id(root) in want:
            found[id(root)] = g
        return found
    order = tape_of(root)
    claim(order, exclusive=False)
    try:
        _traced_loop(order, root, g, want, found)
    finally:
        release(order, exclusive=False)
    return found


def _add_traced(x: Any, gx: Any) -> None:
    with _GRAD_LOCK:
        x.grad = gx if x.grad is None else gx + x.grad


def _traced_loop(order: list[Any], root: Any, g: Any, want: Any, found: dict[int, Any]) -> None:
    from .tape import scope, tag

    pending: dict[int, Any] = {id(root.record): g}
    for t in reversed(order):
        rec = t.record
        gt = pending.pop(id(rec), None)
        if gt is None:
            continue
        if want is not None and id(rec) in want:
            found[id(want[id(rec)])] = gt  # complete: every consumer of t came later on the tape
        elif want is None and t.retains_grad:
            _add_traced(t, gt)
        where = f"{rec.scope}/backward" if rec.scope else "backward"
        with scope(where), tag(**{**rec.tags, "grad_of": rec.op.name}):
            for i, x in rec.parents:
                if rec.vjps[i] is None:
                    continue
                try:
                    if rec.arrays is None:  # a closure rule: numpy only
                        gx = _closure_gradient(rec, i, gt, x)
                    else:
                        gx = _fit_traced(rec.vjp(i, TG, gt, t, rec.inputs), x.shape, rec, i)
                except GradientShapeError:
                    raise
                except Exception as e:
                    raise _rule_error(e, gt, rec, i, x) from e
                if x.record is not None:
                    key = id(x.record)
                    pending[key] = gx if key not in pending else pending[key] + gx
                elif want is None:
                    _add_traced(x, gx)
                elif id(x) in want:
                    found[id(x)] = gx if id(x) not in found else found[id(x)] + gx


def _no_second_rule(where: str) -> Any:
    def rule(g: Any) -> Any:
        raise RuntimeError(
            f"op {where} has only a numpy backward rule (closures), so it has no higher-order "
            "gradient; define it with defop(name, rules=...) to differentiate its backward pass"
        )
    return rule


@defop("first_order_gradient")
def _first_order(*ins: Any, value: Any = None, where: str = "") -> Any:
    """The gradient a closure rule gave, as a recorded value that depends on the upstream gradient
    and the op's inputs, whose own backward is an error: so ``tg.grad`` and
    ``backward(create_graph=True)`` go through ops defined with closures, and only differentiating
    *that* gradient again fails, loudly, instead of treating it as a constant."""
    return value, tuple(_no_second_rule(where) for _ in ins)


def _closure_gradient(rec: Record, i: int, gt: Any, x: Any) -> Any:
    """Input ``i``'s gradient from ``rec``'s closure rule, for the recorded walk."""
    g = np.asarray(getattr(gt, "_data", gt)).view()
    g.setflags(write=False)  # rules must not write into g (a read-only view of it)
    value = fit_gradient(rec.vjps[i](g), x.shape, x.dtype, rec, i)
    return _first_order(gt, *[p for _, p in rec.parents], value=value, where=rec.where())


def _fit_traced(g: Any, shape: tuple[int, ...], rec: Record, i: int) -> Any:
    """:func:`fit_gradient` with engine ops, so undoing broadcasting is recorded too."""
    if not hasattr(g, "shape"):  # a rule that returned a Python number
        g = np.asarray(g, dtype=np.float64)
    if tuple(g.shape) == shape:
        return g
    given = tuple(g.shape)
    extra = len(g.shape) - len(shape)
    if extra > 0:
        g = TG.sum(g, axis=tuple(range(extra)))
    if extra >= 0:
        axes = tuple(k for k, n in enumerate(shape) if n == 1 and g.shape[k] != 1)
        if axes:
            g = TG.sum(g, axis=axes, keepdims=True)
    if tuple(g.shape) != shape:
        raise GradientShapeError(
            f"backward rule {rec.where()} returned a gradient of shape {given} for input {i} of shape {shape}; "
            "they are not broadcast-compatible"
        )
    return g
