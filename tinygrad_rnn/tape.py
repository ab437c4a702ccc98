"""The tape: what gets recorded, and the global recording state.

Every differentiable op that runs while recording is on appends one :class:`Record`
to the tape.  Records carry a strictly increasing sequence number ``seq`` (their
position on the tape), so *the tape order is the execution order* and walking it
in reverse is a valid backward order: every consumer of a value was recorded after
its producer.  No recursion and no topological sort are needed; ``tape_of`` only
collects the records a given tensor depends on and orders them by ``seq``.

The module also holds the recording state that context managers change:

- ``no_grad()``          nothing is recorded inside;
- ``scope(name)``        every record made inside carries ``name`` (nested scopes
                         join with ``/``), e.g. ``"t=3"``; viz clusters by scope;
- ``tag(**labels)``      free-form labels on every record made inside
                         (e.g. ``tag(eq=1)``); the engine never interprets them;
- ``detect_anomaly()``   check each op's output (NaN) and each gradient (NaN/inf).
"""

from __future__ import annotations

import itertools
import operator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from .op import Op
    from .tensor import Tensor

__all__ = [
    "Record",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "scope",
    "tag",
    "current_scope",
    "detect_anomaly",
    "tape_of",
    "AnomalyError",
]


class AnomalyError(FloatingPointError):
    """Raised inside :func:`detect_anomaly` at the first non-finite value."""


class _State:
    """Mutable recording state shared by the whole process (single-threaded)."""

    __slots__ = ("grad_enabled", "scopes", "scope_name", "tags", "anomaly", "counter")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.scopes: list[str] = []
        self.scope_name = ""  # "/".join(scopes), cached because every op reads it
        self.tags: Mapping[str, Any] = {}
        self.anomaly = False
        self.counter = itertools.count()


STATE = _State()


class Record:
    """One entry on the tape: an op application.

    Attributes
    ----------
    op:      the :class:`~tinygrad_rnn.op.Op` that ran (``op.name`` is the rule's name).
    inputs:  the positional inputs as given: :class:`Tensor` objects, or raw values
             (Python scalars, numpy arrays) that are constants.
    kwargs:  the static keyword arguments (``axis=...`` and the like).
    vjps:    one vector-Jacobian-product function per input (``None`` for inputs that
             get no gradient); dropped when a backward pass frees the record.
    shape:   of the output.
    scope:   the ``/``-joined scope names active when the op ran ('' if none).
    tags:    labels from :func:`tag` active when the op ran.
    seq:     position on the tape (strictly increasing in execution order).
    """

    __slots__ = ("op", "inputs", "kwargs", "vjps", "shape", "scope", "tags", "seq", "__weakref__")

    def __init__(
        self,
        op: "Op",
        inputs: tuple[Any, ...],
        kwargs: dict[str, Any],
        vjps: tuple[Callable[[Any], Any] | None, ...],
        shape: tuple[int, ...],
    ) -> None:
        self.op = op
        self.inputs = inputs
        self.kwargs = kwargs
        self.vjps: tuple[Callable[[Any], Any] | None, ...] | None = vjps
        self.shape = shape
        self.scope = STATE.scope_name
        self.tags = STATE.tags
        self.seq = next(STATE.counter)

    @property
    def name(self) -> str:
        """The op rule's name, e.g. ``"tanh"``."""
        return self.op.name

    @property
    def freed(self) -> bool:
        """True once a backward pass (without ``retain_graph``) has released this record."""
        return self.vjps is None

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


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    if shape is None:
        return repr(x)
    name = getattr(x, "name", None)
    return f"{name}{tuple(shape)}" if name else f"{tuple(shape)}"


def tape_of(tensor: "Tensor") -> list["Tensor"]:
    """The recorded history of ``tensor``: every non-leaf tensor it depends on, itself
    included, in tape (execution) order.  Each has ``.record``.

    Found with an explicit stack (no recursion), so 100 000-op chains are fine.
    Raises ``RuntimeError`` if part of the history was freed by an earlier backward.
    """
    from .tensor import Tensor  # local import: tensor.py imports this module

    if tensor.record is None:
        return []
    seen = {tensor}  # tensors hash by identity
    stack = [tensor]
    found = []
    while stack:
        t = stack.pop()
        rec = t.record
        if rec.vjps is None:
            raise RuntimeError(
                f"backward: the graph through {rec.where()} was already freed by an earlier "
                "backward(); pass retain_graph=True to the first backward() to go through it twice"
            )
        found.append(t)
        for x in rec.inputs:
            if isinstance(x, Tensor) and x.record is not None and x not in seen:
                seen.add(x)
                stack.append(x)
    found.sort(key=_SEQ)
    return found


_SEQ = operator.attrgetter("record.seq")  # C-level key: sorting 100 000 records stays cheap


# ----------------------------------------------------------------------------- contexts
@contextmanager
def no_grad() -> Iterator[None]:
    """Record nothing inside: results have ``requires_grad=False`` and no history."""
    old = STATE.grad_enabled
    STATE.grad_enabled = False
    try:
        yield
    finally:
        STATE.grad_enabled = old


@contextmanager
def enable_grad() -> Iterator[None]:
    """Turn recording back on inside a :func:`no_grad` block."""
    old = STATE.grad_enabled
    STATE.grad_enabled = True
    try:
        yield
    finally:
        STATE.grad_enabled = old


def is_grad_enabled() -> bool:
    """Whether ops are being recorded right now."""
    return STATE.grad_enabled


@contextmanager
def scope(name: str) -> Iterator[str]:
    """Tag every op recorded inside with ``name``; nested scopes join with ``/``.

    >>> with scope("t=1"):
    ...     with scope("attention"):
    ...         pass  # records made here have .scope == "t=1/attention"
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"scope: name must be a non-empty string, got {name!r}")
    STATE.scopes.append(name)
    old = STATE.scope_name
    STATE.scope_name = "/".join(STATE.scopes)
    try:
        yield STATE.scope_name
    finally:
        STATE.scopes.pop()
        STATE.scope_name = old


def current_scope() -> str:
    """The ``/``-joined active scope ('' outside any scope)."""
    return STATE.scope_name


@contextmanager
def tag(**labels: Any) -> Iterator[None]:
    """Attach labels (e.g. ``eq=1``) to every record made inside; inner labels win."""
    old = STATE.tags
    STATE.tags = {**old, **labels}
    try:
        yield
    finally:
        STATE.tags = old


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise :class:`AnomalyError` at the first op whose output contains NaN, or whose
    gradient (during backward) contains NaN or ±inf.

    ``-inf`` in a forward output is allowed (it is how causal masks are written);
    a NaN never is.  Costs one ``isfinite`` scan per op, so it is off by default.
    """
    old = STATE.anomaly
    STATE.anomaly = True
    try:
        yield
    finally:
        STATE.anomaly = old
