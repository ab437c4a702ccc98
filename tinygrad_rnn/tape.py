"""The tape: what gets recorded, and the recorded history of a tensor.

Every differentiable op that runs while recording is on appends one :class:`Record`
to the tape.  Records carry a strictly increasing sequence number ``seq`` (their
position on the tape), so *the tape order is the execution order* and walking it
in reverse is a valid backward order: every consumer of a value was recorded after
its producer.  No recursion and no topological sort are needed; ``tape_of`` only
collects the records a given tensor depends on and orders them by ``seq``.

What a record saves stays unchanged while it is alive (:mod:`tinygrad_rnn.saved`); whether ops
are recorded, and the scope and tags they get, is per thread (:mod:`tinygrad_rnn.recording`).

This module does not know the ``Tensor`` class: records reach their inputs through
``parents`` (the inputs that get a gradient), which only need ``record``, ``data``
and the gradient fields.
"""

from __future__ import annotations

import itertools
import operator
from typing import Any, Callable, Protocol

import numpy as np

from . import saved as _saved
from .recording import State

__all__ = ["Record", "Stub", "OpLike", "tape_of", "graph_of", "freed_error"]

_ndarray = np.ndarray
_COUNTER = itertools.count()  # process-wide, so seq is strictly increasing in every graph (next() is atomic)


# ----------------------------------------------------------------------------- records
class OpLike(Protocol):
    """What the tape needs of an op (:class:`tinygrad_rnn.op.Op`, which is above this module)."""

    name: str  # the rule's name, shown in errors and drawings
    n_inputs: int | None  # None: the op takes any number of inputs (its rules then get ``i=``)


class Record:
    """One entry on the tape: an op application.

    Attributes
    ----------
    op:      the :class:`~tinygrad_rnn.op.Op` that ran (``op.name`` is the rule's name).
    inputs:  the positional inputs as given: tensors, or raw values (Python scalars,
             numpy arrays) that are constants.
    parents: ``(i, tensor)`` for each input ``i`` that gets a gradient (requires grad).
    kwargs:  the static arguments (``axis=...`` and the like).
    vjps:    one vector-Jacobian-product function per input (``None`` for inputs that
             get no gradient); dropped when a backward pass frees the record.
    shape:   of the output.
    scope:   the ``/``-joined scope names active when the op ran ('' if none).
    tags:    labels from :func:`tag` active when the op ran.
    seq:     position on the tape (strictly increasing in execution order).
    saved:   the shared arrays this record keeps read-only (see :func:`protect`).
    out:     the output, if this record made it read-only.
    """

    __slots__ = ("op", "inputs", "parents", "kwargs", "vjps", "shape", "scope", "tags", "seq", "saved", "out",
                 "out_name", "kept", "guard", "arrays", "ctx", "plain", "walkers", "__weakref__")

    def __init__(
        self,
        op: OpLike,
        inputs: tuple[Any, ...],
        parents: tuple[tuple[int, Any], ...],
        kwargs: dict[str, Any],
        vjps: tuple[Callable[[Any], Any] | None, ...],
        shape: tuple[int, ...],
        st: State,
    ) -> None:
        self.op = op
        self.inputs = inputs
        self.parents = parents
        self.kwargs = kwargs
        self.vjps: tuple[Callable[[Any], Any] | None, ...] | None = vjps
        self.shape = shape
        self.scope = st.scope_name
        self.tags = st.tags
        self.seq = next(_COUNTER)
        self.saved: Any = ()  # arrays counted in the registry
        self.out: np.ndarray | None = None  # the output, if this record made it read-only
        self.out_name: str | None = None  # after free(): the output tensor's name
        self.kept: Any = None  # after free(): the output tensor, if it asked to keep its grad
        self.guard: Any = None  # a weak reference whose callback releases `saved` if the record dies unfreed
        self.arrays: tuple[Any, ...] | None = None  # the raw inputs the rules get (None once freed)
        self.ctx: Any = None  # constants a differentiable rule needs (from the forward)
        self.plain = False  # a differentiable rule with no static arguments, ctx or *args: rule(F, g, out, *arrays)
        self.walkers = 0  # backward walks through this record now: n > 0 that keep it, -1 one that frees it

    @property
    def name(self) -> str:
        """The op rule's name, e.g. ``"tanh"``."""
        return self.op.name

    @property
    def freed(self) -> bool:
        """True once a backward pass (without ``retain_graph``) has released this record."""
        return self.vjps is None

    def vjp(self, i: int, F: Any, g: Any, out: Any, ins: Any) -> Any:
        """Input ``i``'s gradient from this record's rule: ``g · ∂out/∂input_i``.

        Differentiable rules get ``F`` (numpy or traced functions), the output and all inputs
        (arrays, or Tensors when the backward pass is being recorded)."""
        rule = self.vjps[i]
        kw = self.kwargs
        if self.ctx is not None:
            kw = {**kw, "ctx": self.ctx}
        if self.op.n_inputs is None:
            kw = {**kw, "i": i}
        return rule(F, g, out, *ins, **kw) if kw else rule(F, g, out, *ins)

    def free(self, output: Any = None) -> None:
        """Drop the rules and saved values; saved arrays become writable again.

        What stays is the graph's *skeleton*, so a freed graph can still be drawn: ``inputs``
        now hold the producing :class:`Record` of each intermediate input, the leaf tensor of
        each input that requires grad, and a :class:`Stub` (shape, name, values if tiny) of
        each constant; no intermediate array survives.  ``output`` (the tensor this record
        made) leaves its name, and itself if it asked to keep its gradient (``retain_grad``)."""
        self.vjps = None
        self.arrays = None
        self.ctx = None
        self.plain = False
        self.inputs = tuple([_skeleton(x) for x in self.inputs])
        self.parents = ()
        if output is not None:
            self.out_name = output.name
            if output.retains_grad:
                self.kept = output
        _saved.release(self)

    def where(self) -> str:
        """Short human-readable location used in error messages."""
        place = f"'{self.op.name}' (tape #{self.seq}"
        if self.scope:
            place += f", scope '{self.scope}'"
        return place + ")"

    def __repr__(self) -> str:
        ins = ", ".join(_describe(x) for x in self.inputs)
        extra = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        where = f" @{self.scope}" if self.scope else ""
        tags = f" {dict(self.tags)}" if self.tags else ""
        return f"#{self.seq} {self.op.name}({ins}{extra}) -> {self.shape}{where}{tags}"


class Stub:
    """What a freed record keeps of a constant input: its shape, name and (if ≤ 4 elements) values."""

    __slots__ = ("shape", "name", "value")
    requires_grad = False
    grad = None
    record = None

    def __init__(self, x: Any) -> None:
        arr = np.asarray(getattr(x, "data", x))
        self.shape = arr.shape
        self.name = getattr(x, "name", None)
        self.value = arr.copy() if arr.size <= 4 else None

    def __repr__(self) -> str:
        return f"Stub{self.shape}"


def _skeleton(x: Any) -> Any:
    """The part of a record's input that a freed graph keeps (see :meth:`Record.free`)."""
    if type(x) is _ndarray:
        return Stub(x)
    rec = getattr(x, "record", None)  # an intermediate tensor: its record
    if rec is not None:
        return rec
    if getattr(x, "requires_grad", False):
        return x  # a leaf that gets a gradient: the user's parameter, kept for its .grad
    if hasattr(x, "shape"):
        return Stub(x)
    return x  # a Python scalar


def graph_of(tensor: Any) -> list[tuple[Record, Any]]:
    """Every record in ``tensor``'s history in tape order, each with its output tensor where one
    is known: always while the graph is alive; after ``backward()`` freed it, only outputs that
    called ``retain_grad()`` (``None`` for the others).  Unlike :func:`tape_of` this works on a
    freed graph (its skeleton), which is what drawing after ``backward()`` needs."""
    root = tensor.record
    if root is None:
        return []
    found: dict[int, tuple[Record, Any]] = {id(root): (root, tensor)}
    stack = [root]
    while stack:
        for x in stack.pop().inputs:
            if type(x) is Record:
                rec, out = x, x.kept
            else:
                rec, out = getattr(x, "record", None), x
                if rec is None:
                    continue
            if id(rec) not in found:
                found[id(rec)] = (rec, out)
                stack.append(rec)
    return sorted(found.values(), key=lambda pair: pair[0].seq)


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    if shape is None:
        return repr(x)
    name = getattr(x, "name", None)
    return f"{name}{tuple(shape)}" if name else f"{tuple(shape)}"


# ----------------------------------------------------------------------------- the tape of a tensor
def tape_of(tensor: Any) -> list[Any]:
    """The recorded history of ``tensor``: every non-leaf tensor it depends on, itself
    included, in tape (execution) order.  Each has ``.record``.

    Found with an explicit stack over ``record.parents`` (no recursion), so 100 000-op
    chains are fine.  Raises ``RuntimeError`` if part of the history was freed by an
    earlier backward.
    """
    rec = tensor.record
    if rec is None:
        return []
    seen = {id(rec)}
    stack = [tensor]
    found = []
    while stack:
        t = stack.pop()
        rec = t.record
        if rec.vjps is None:
            raise freed_error(rec)
        found.append(t)
        for _, x in rec.parents:
            r = x.record
            if r is not None and id(r) not in seen:
                seen.add(id(r))
                stack.append(x)
    found.sort(key=_SEQ)
    return found


def freed_error(rec: Record) -> RuntimeError:
    """The error for a walk that reaches a record an earlier backward() freed."""
    return RuntimeError(
        f"backward: the graph through {rec.where()} was already freed by an earlier "
        "backward(); pass retain_graph=True to the first backward() to go through it twice"
    )


_SEQ = operator.attrgetter("record.seq")  # C-level key: sorting 100 000 records stays cheap
