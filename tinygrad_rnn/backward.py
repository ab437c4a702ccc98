"""The backward walk: the tape in reverse, one rule per record.

``backward(root, grad)`` computes ∂root/∂x for every leaf ``x`` that requires grad,
contracted with ``grad`` (a vector-Jacobian product), and **adds** it to ``x.grad``.

1. ``tape_of(root)`` gives root's history in tape order (no recursion).
2. Walk it in reverse.  Each record's output gradient is complete when its turn
   comes, because every consumer of that output was recorded later.
3. Apply the record's VJP rule for each parent (input that requires grad): the accumulator
   runs it, undoes broadcasting (:func:`fit_gradient`, the one place), checks the shape, and
   adds the result to that parent's pending gradient (or ``.grad`` for a leaf).
4. Unless ``retain_graph=True``, free the record as soon as it is used: its saved
   values and its input links are dropped (and its saved arrays become writable again),
   so memory returns during the walk.

There is **one walk** (:func:`walk`, a dozen lines) for every order; what differs is the
accumulator it is given: :class:`Gradients` (numpy rules, ``.grad`` arrays: ``backward()``),
:class:`Observed` (the same, reporting each step: the step-through page) and :class:`Traced`
(rules on Tensors, so the backward pass is recorded: ``create_graph=True``, ``tg.grad``).  How
gradients are added up (a leaf's ``.grad``, a pending array the walk may or may not own, a
sparse gradient from indexing) lives in :meth:`Gradients.add`.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .funcs import NP, TG, SparseGrad
from .op import GradientShapeError, rule_array
from .recording import AnomalyError, scope, state, tag
from .tape import Record, freed_error, tape_of

__all__ = ["backward", "traced_walk", "walk", "fit_gradient", "checked_gradient", "Gradients", "Observed", "Traced",
           "GradientShapeError", "SparseGrad"]

_ndarray = np.ndarray


def fit_gradient(g: Any, shape: tuple[int, ...], rec: Record | None, i: int, F: Any = NP) -> Any:
    """Undo numpy broadcasting: sum ``g`` down to ``shape``.  **The only place that does it**, for
    every order: ``F = NP`` sums arrays, ``F = TG`` records the sums (``create_graph``).

    If the forward broadcast input ``i`` from ``shape`` to the output shape, its gradient is the
    sum of ``g`` over the broadcast axes: leading axes that were added, and axes where ``shape``
    has size 1.  Anything else is a bug in the rule, reported with the rule's name and both shapes.
    """
    given = tuple(g.shape)
    if given == shape:
        return g
    extra = len(given) - len(shape)
    if extra > 0:
        g = F.sum(g, axis=tuple(range(extra)))
    if extra >= 0:
        axes = tuple(k for k, n in enumerate(shape) if n == 1 and g.shape[k] != 1)
        if axes:
            g = F.sum(g, axis=axes, keepdims=True)
    if tuple(g.shape) != shape:
        raise GradientShapeError(
            f"backward rule {_where(rec)} returned a gradient of shape {given} for input {i} of shape {shape}; "
            "they are not broadcast-compatible"
        )
    return g


def checked_gradient(g: Any, shape: tuple[int, ...], dtype: Any, rec: Record | None, i: int) -> np.ndarray:
    """What a numpy rule returned, as input ``i``'s gradient: a real array (else a named error,
    :func:`~tinygrad_rnn.op.rule_array`), broadcasting undone (:func:`fit_gradient`), in the input's dtype."""
    g = fit_gradient(rule_array(g, shape, _where(rec), i), shape, rec, i)
    if type(g) is not _ndarray:  # a full sum gives a numpy scalar
        g = np.asarray(g)
    return g if g.dtype == dtype else g.astype(dtype)


# ----------------------------------------------------------------------------- the walk
def backward(root: Any, grad: Any = None, retain_graph: bool = False, observer: Any = None) -> None:
    """Back-propagate from ``root`` into ``.grad``; see the module docstring (and
    :class:`Observed` for ``observer``)."""
    g = _seed(root, grad)
    anomaly = state().anomaly
    if anomaly and root.record is None:  # a leaf root: its seed is its gradient, checked like any other
        _check_finite(g, None, 0, root)
    walk(root, g, Gradients(anomaly) if observer is None else Observed(anomaly, observer), retain_graph)


def traced_walk(root: Any, g: Any, inputs: Any = None) -> dict[int, Any]:
    """The same walk with every rule run on Tensors (``F = TG``), so the backward pass is itself
    recorded and can be differentiated again (``backward(create_graph=True)``, ``tg.grad``, ...).
    See :class:`Traced` for what it records and where the gradients go; the graph is kept."""
    acc = Traced(inputs)
    walk(root, g, acc, retain_graph=True)
    return acc.found


def walk(root: Any, g: Any, acc: "Gradients", retain_graph: bool) -> None:
    """**The** backward walk, for every order: root's history in reverse tape order; each
    record's rules, whose results ``acc`` adds up (arrays, observed, or recorded Tensors); then,
    unless ``retain_graph``, the record is freed."""
    if root.record is None:  # a leaf: d root / d root = identity
        acc.add(root, g, None, 0)
        return
    order = tape_of(root)  # raises before any gradient is touched if the graph was freed
    claim(order, exclusive=not retain_graph)
    try:
        acc.pending[id(root.record)] = g
        for t in reversed(order):
            rec = t.record
            g = acc.arrive(t)
            if g is not None:
                for i, x in rec.parents:
                    if rec.vjps[i] is not None:
                        acc.add(x, acc.gradient(rec, i, g, t, x), rec, i)
            if not retain_graph:
                rec.free(t)
    finally:
        release(order, exclusive=not retain_graph)


class Gradients:
    """The walk's bookkeeping for ``backward()``: numpy rules, gradients added into ``.grad``.

    ``pending`` maps a record (by identity) to the gradient of its output so far.  The walk may
    add into a pending array in place only if it allocated that array itself (``owned``): an array
    a rule returned may alias the upstream gradient of another input (the same ``g`` goes to
    both) or a saved value, so the first sum with it makes a fresh array instead.  The three
    cases: a leaf's ``.grad`` (:func:`_add_to_grad`), a dense pending array (owned or not), and a
    sparse gradient from indexing (:meth:`_add_sparse`, copy-on-write).
    """

    __slots__ = ("pending", "owned", "anomaly")

    def __init__(self, anomaly: bool) -> None:
        self.pending: dict[int, Any] = {}
        self.owned: set[int] = set()
        self.anomaly = anomaly

    def arrive(self, t: Any) -> Any:
        """``t``'s record's turn: its output's complete gradient (None if none arrived)."""
        key = id(t.record)
        self.owned.discard(key)
        g = self.pending.pop(key, None)
        if g is not None:
            if t.retains_grad:
                _add_to_grad(t, g, t.record)
            g.setflags(write=False)  # rules must not write into g (it may be shared)
        return g

    def gradient(self, rec: Record, i: int, g: Any, t: Any, x: Any) -> Any:
        """Input ``i``'s gradient from ``rec``'s rule (a failure named with the rule), fitted to ``x``."""
        try:  # (the common case first: a rule with nothing but the arrays)
            gx = rec.vjps[i](NP, g, t._data, *rec.arrays) if rec.plain else rec.vjp(i, NP, g, t._data, rec.arrays)
        except Exception as e:
            raise _rule_error(e, g, rec, i, x) from e
        xd = x._data
        if type(gx) is SparseGrad:
            if gx.shape != xd.shape:
                raise GradientShapeError(
                    f"backward rule {_where(rec)} returned a sparse gradient for shape {gx.shape} "
                    f"for input {i} of shape {xd.shape}"
                )
        elif type(gx) is not _ndarray or gx.dtype is not xd.dtype or gx.shape != xd.shape:  # fast path
            gx = checked_gradient(gx, xd.shape, xd.dtype, rec, i)
        if self.anomaly:
            _check_finite(gx.values if type(gx) is SparseGrad else gx, rec, i, x)
        return gx

    def add(self, x: Any, gx: Any, rec: Record | None, i: int) -> None:
        """Add ``gx`` (dense and fitted, or :class:`SparseGrad`), the gradient for input ``i`` of
        ``rec`` (None: the root, a leaf), to ``x``'s gradient."""
        if x.record is None:  # a leaf: add to .grad
            _add_to_grad(x, gx, rec)
            return
        if type(gx) is SparseGrad:
            return self._add_sparse(x, gx)
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

    def _add_sparse(self, x: Any, gx: SparseGrad) -> None:
        """The same for an indexing rule's sparse gradient: scattered in place, never densified
        into a full array unless it is the first gradient to arrive."""
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

    def arrive(self, t: Any) -> Any:
        g = super().arrive(t)
        self.observer.arrive(t.record, g)
        return g

    def add(self, x: Any, gx: Any, rec: Record | None, i: int) -> None:
        super().add(x, gx, rec, i)
        total = x.grad if x.record is None else self.pending[id(x.record)]
        self.observer.added(rec, i, x, gx.dense() if type(gx) is SparseGrad else gx, total)


class Traced(Gradients):
    """The walk's bookkeeping for a recorded backward pass: rules run on Tensors (``F = TG``).

    Each backward op is recorded in scope ``<forward scope>/backward`` with the forward record's
    tags plus ``grad_of="<rule name>"``, so drawings group and colour it like the forward op it
    came from.  With ``inputs=None`` the gradients are *added* to every reached leaf's ``.grad``
    (and to intermediates that called ``retain_grad()``), as ``backward(create_graph=True)`` does;
    ``.grad`` becomes a Tensor with history.  With ``inputs`` (tensors, leaf or not) nothing is
    stored and ``found`` maps ``id(input)`` to its gradient (missing: it does not depend on it)."""

    __slots__ = ("want", "found")

    def __init__(self, inputs: Any = None) -> None:
        super().__init__(False)
        self.want = None if inputs is None else {id(x.record) if x.record is not None else id(x): x for x in inputs}
        self.found: dict[int, Any] = {}

    def arrive(self, t: Any) -> Any:
        rec = t.record
        g = self.pending.pop(id(rec), None)
        if g is not None:
            if self.want is not None and id(rec) in self.want:
                self.found[id(self.want[id(rec)])] = g  # complete: every consumer of t came later on the tape
            elif self.want is None and t.retains_grad:
                _add_traced(t, g)
        return g

    def gradient(self, rec: Record, i: int, g: Any, t: Any, x: Any) -> Any:
        where = f"{rec.scope}/backward" if rec.scope else "backward"
        with scope(where), tag(**{**rec.tags, "grad_of": rec.op.name}):
            try:
                gx = rec.vjp(i, TG, g, t, rec.inputs)
            except GradientShapeError:  # (a result already checked and named: op.rule_array)
                raise
            except Exception as e:
                raise _rule_error(e, g, rec, i, x) from e
            if not hasattr(gx, "shape"):  # a rule that returned a Python number
                gx = np.asarray(gx, dtype=np.float64)
            return fit_gradient(gx, x.shape, rec, i, TG)

    def add(self, x: Any, gx: Any, rec: Record | None, i: int) -> None:
        want = self.want
        if x.record is not None:
            key = id(x.record)
            self.pending[key] = gx if key not in self.pending else self.pending[key] + gx
        elif want is None:
            _add_traced(x, gx)
        elif id(x) in want:
            self.found[id(x)] = gx if id(x) not in self.found else self.found[id(x)] + gx


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


def _add_traced(x: Any, gx: Any) -> None:
    """x.grad = x.grad + gx for a recorded walk (``.grad`` becomes a Tensor with history)."""
    with _GRAD_LOCK:
        x.grad = gx if x.grad is None else gx + x.grad


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
