"""The tape: what gets recorded, the per-thread recording state, and saved-data protection.

Every differentiable op that runs while recording is on appends one :class:`Record`
to the tape.  Records carry a strictly increasing sequence number ``seq`` (their
position on the tape), so *the tape order is the execution order* and walking it
in reverse is a valid backward order: every consumer of a value was recorded after
its producer.  No recursion and no topological sort are needed; ``tape_of`` only
collects the records a given tensor depends on and orders them by ``seq``.

Recording state (changed by the context managers below) is **per thread** (and per
asyncio task): it lives in a :class:`contextvars.ContextVar`, so one thread's
``no_grad()`` never drops ops from another thread's graph.  A new thread starts with
the defaults (recording on, no scope, no tags, anomaly mode off).

- ``no_grad()``          nothing is recorded inside;
- ``scope(name)``        every record made inside carries ``name`` (nested scopes
                         join with ``/``), e.g. ``"t=3"``; viz clusters by scope;
- ``tag(**labels)``      free-form labels on every record made inside
                         (e.g. ``tag(eq=1)``); the engine never interprets them;
- ``detect_anomaly()``   check each op's output (NaN) and each gradient (NaN/inf).

**Saved data is read-only while a graph needs it.**  A record's VJP rules read the
arrays the forward saw (its inputs and its output).  Changing one of them in place
between the forward and the backward would make ``backward()`` return the gradient of
a function that was never computed, silently.  So every array a record saves is made
read-only (``flags.writeable = False``) for as long as a live record saves it; writing
into it raises numpy's ``ValueError: assignment destination is read-only`` at the
offending line (optimizers raise a fuller message: :func:`describe_saved`).  When the
backward pass frees the record, or the graph is garbage, the array is writable again,
so ``loss.backward(); opt.step()`` works with no copies.  Arrays that were read-only
before are left alone.  Limit: a view of the data you took *before* the forward
(``v = x.data[:]``) keeps its own writeable flag; write through ``x.data`` instead.

This module does not know the ``Tensor`` class: records reach their inputs through
``parents`` (the inputs that get a gradient), which only need ``record``, ``data``
and the gradient fields.
"""

from __future__ import annotations

import contextvars
import itertools
import operator
import threading
import weakref
from contextlib import ContextDecorator
from typing import Any, Callable, Mapping, Protocol

import numpy as np

__all__ = [
    "Record",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "scope",
    "tag",
    "current_scope",
    "detect_anomaly",
    "is_anomaly_enabled",
    "tape_of",
    "graph_of",
    "Stub",
    "describe_saved",
    "AnomalyError",
]


class AnomalyError(FloatingPointError):
    """Raised inside :func:`detect_anomaly` at the first non-finite value."""


# ----------------------------------------------------------------------------- per-thread state
class State:
    """An immutable snapshot of the recording state; context managers install a new one."""

    __slots__ = ("grad_enabled", "scope_name", "tags", "anomaly", "prev", "owner")

    def __init__(self, grad_enabled: bool, scope_name: str, tags: Mapping[str, Any], anomaly: bool) -> None:
        self.grad_enabled = grad_enabled
        self.scope_name = scope_name  # the "/"-joined scope names ('' outside any scope)
        self.tags = tags
        self.anomaly = anomaly
        self.prev: State | None = None  # the state this one replaced, and the context that installed it
        self.owner: Any = None


_STATE: contextvars.ContextVar[State] = contextvars.ContextVar(
    "tinygrad_rnn_state", default=State(True, "", {}, False)
)
state = _STATE.get  # the calling thread's (or task's) current State; hot path: one C call
_COUNTER = itertools.count()  # process-wide, so seq is strictly increasing in every graph (next() is atomic)


class _Installed(ContextDecorator):
    """A ``with`` block (or decorator) that installs ``change(current state, arg)`` as this thread's
    recording state on entry — computed at entry, so a context made earlier, or a decorated
    function, applies to the state of the moment — and restores the previous one on exit, even on
    error.  A plain class rather than a generator-based context manager: models open one per tagged
    op (``with tg.tag(eq=1):``), so it is on a hot path.

    The object keeps nothing between entry and exit: the state it installs remembers the state it
    replaced and which object installed it, so one object may be entered again inside itself, or by
    several threads at once, and each exit restores its own thread's previous state.  As a decorator
    of a generator function (or ``async def``), the state holds while the generator body runs (each
    ``next``/``send``), not only while the generator object is made."""

    __slots__ = ("change", "arg")

    def __init__(self, change: Callable[[State, Any], State], arg: Any = None) -> None:
        self.change = change
        self.arg = arg

    def __enter__(self) -> Any:
        old = _STATE.get()
        new = self.change(old, self.arg)
        new.prev = old
        new.owner = self
        _STATE.set(new)
        return new.scope_name if self.change is _with_scope else None

    def __exit__(self, *exc: Any) -> bool:
        current = _STATE.get()
        if current.owner is not self:
            raise RuntimeError(
                "tinygrad_rnn: recording contexts (no_grad, scope, tag, ...) were exited out of order in this "
                "thread; exit the innermost first"
            )
        _STATE.set(current.prev)
        return False

    def _recreate_cm(self) -> "_Installed":  # nothing is kept on the object: it can be reused as it is
        return self

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        import functools
        import inspect

        if inspect.isasyncgenfunction(func):
            raise TypeError(f"{func.__name__}: decorating an async generator with a recording context is not "
                            "supported; use a `with` block inside it")
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def generator(*args: Any, **kwargs: Any) -> Any:
                return _run_generator(self, func(*args, **kwargs))
            return generator
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def coroutine(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)
            return coroutine
        return super().__call__(func)


def _run_generator(cm: _Installed, gen: Any) -> Any:
    """Drive ``gen`` with ``cm`` entered around each step of its body (PyTorch does the same)."""
    with cm:
        try:
            value = next(gen)
        except StopIteration as stop:
            return stop.value
    while True:
        try:
            sent = yield value
        except GeneratorExit:
            with cm:
                gen.close()
            raise
        except BaseException as err:  # thrown into us: throw it into gen, inside the context
            with cm:
                try:
                    value = gen.throw(err)
                except StopIteration as stop:
                    return stop.value
        else:
            with cm:
                try:
                    value = gen.send(sent)
                except StopIteration as stop:
                    return stop.value


def _without_grad(old: State, _: Any) -> State:
    return State(False, old.scope_name, old.tags, old.anomaly)


def _with_grad(old: State, _: Any) -> State:
    return State(True, old.scope_name, old.tags, old.anomaly)


def _with_scope(old: State, name: str) -> State:
    return State(old.grad_enabled, f"{old.scope_name}/{name}" if old.scope_name else name, old.tags, old.anomaly)


def _with_tags(old: State, labels: dict[str, Any]) -> State:
    return State(old.grad_enabled, old.scope_name, {**old.tags, **labels}, old.anomaly)


def _with_anomaly(old: State, _: Any) -> State:
    return State(old.grad_enabled, old.scope_name, old.tags, True)


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
        self.arrays: tuple[Any, ...] | None = None  # the raw inputs, for differentiable rules (None: closures)
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
        (arrays, or Tensors when the backward pass is being recorded); closure rules get ``g``."""
        rule = self.vjps[i]
        if self.arrays is None:  # a closure rule (the recorded walk calls these itself: backward._closure_gradient)
            return rule(g)
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
        if self.guard is not None:  # freed now: its guard has nothing left to do
            _GUARDS.pop(self.guard, None)
            self.guard = None
        if self.out is not None:
            self.out.setflags(write=True)
            self.out = None
        if self.saved:
            _release(self.saved)
            self.saved = ()

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


# ----------------------------------------------------------------------------- saved-data protection
# id(array) -> [number of live records saving it, the array, "who saved it" for messages]
_SAVED: dict[int, list[Any]] = {}
_DEFERRED: list[np.ndarray] = []  # views whose base was still protected when they were released
_LOCK = threading.RLock()  # re-entrant: a release can run from garbage collection inside a protect
_ndarray = np.ndarray


def protect(rec: Record, out: np.ndarray, arrays: Any, inputs: Any = ()) -> None:
    """Keep what ``rec``'s rules read from changing while ``rec`` is alive and not freed.

    - The **output**, a fresh array, is made read-only by its own record (no bookkeeping):
      every later record that reads it holds this record alive through its inputs, and a
      backward pass frees consumers before producers.
    - **Other arrays** (a leaf's data, a raw numpy constant, the memory a view points into)
      may be shared by many graphs, so they are counted in a registry and made writable again
      only when their last keeper goes: an entry is
      ``[keepers, array, (op, seq, scope) of the first keeper, seq of the last keeper]``.
    """
    if out.base is None and out.flags.writeable:
        for a in inputs:
            if a is out:  # an op that returns an input unchanged: count it instead
                arrays = (*arrays, out)
                break
        else:
            out.setflags(write=False)
            rec.out = out
            if not arrays:
                _guard(rec, out, ())
                return
    else:
        arrays = (*arrays, out)  # a view: count it, and (below) the memory it points into
    kept: list[np.ndarray] = []
    seq = rec.seq
    info = None
    saved = _SAVED
    _LOCK.acquire()
    try:
        for a in arrays:
            while type(a) is _ndarray:
                entry = saved.get(id(a))
                if entry is None:
                    if a.flags.writeable:
                        a.setflags(write=False)
                        if info is None:
                            info = (rec.op.name, seq, rec.scope)
                        saved[id(a)] = [1, a, info, seq]
                        kept.append(a)
                    # else: read-only already (an op's output, a broadcast view, a frozen array): not ours
                elif entry[3] != seq:  # (the same array twice in one record, x * x, counts once)
                    entry[0] += 1
                    entry[3] = seq
                    kept.append(a)
                a = a.base  # a view: the memory's owner must not change either
    finally:
        _LOCK.release()
    if kept:
        rec.saved = kept
    if kept or rec.out is not None:
        _guard(rec, rec.out, kept)


# The guards of live records.  A record dropped without a backward (``pred = model(x).numpy()``,
# a graph that dies in a reference cycle) makes what it protected writable again when it is
# collected, through a weak reference's callback.  The weak references live here, not on the
# record: CPython skips the callback of a weak reference that is itself garbage, which it would be
# if only the dying record (or the cycle it dies in) held it.  weakref -> (output or None, kept).
_GUARDS: dict[Any, tuple[Any, Any]] = {}


def _restore(ref: Any) -> None:
    """A guarded record died unfreed: its output and its saved arrays become writable again."""
    out, kept = _GUARDS.pop(ref, (None, None))
    if out is not None:
        out.setflags(write=True)
    if kept:
        _release(kept)


def _guard(rec: Record, out: np.ndarray | None, kept: Any) -> None:
    ref = weakref.ref(rec, _restore)
    _GUARDS[ref] = (out, kept)
    rec.guard = ref


def collect_dead_graphs() -> None:
    """Run the cycle collector, so graphs that died in reference cycles release what they
    protected; called before a refusal that says an array is saved, so it is never a stale one."""
    import gc

    gc.collect()


def _release(kept: list[np.ndarray]) -> None:
    """One keeper fewer for each array in ``kept`` (then emptied, so a second call does nothing);
    arrays whose last keeper this was become writable again."""
    registry = _SAVED
    restored = False
    _LOCK.acquire()
    try:
        for a in kept:
            entry = registry.get(id(a))
            if entry is None or entry[1] is not a:  # pragma: no cover - defensive
                continue
            if entry[0] == 1:
                del registry[id(a)]
                restored |= _make_writable(a)
            else:
                entry[0] -= 1
        kept.clear()
        while restored and _DEFERRED:  # a base became writable: retry the views waiting on it
            waiting = _DEFERRED[:]
            _DEFERRED.clear()
            restored = False
            for a in waiting:
                if id(a) not in registry:
                    restored |= _make_writable(a)
    finally:
        _LOCK.release()


def _make_writable(a: np.ndarray) -> bool:
    try:
        a.setflags(write=True)
        return True
    except ValueError:  # a view of an array that a live record still protects
        _DEFERRED.append(a)
        return False


def describe_saved(array: np.ndarray, name: str | None = None, collect: bool = False) -> str | None:
    """Why ``array`` is read-only, if a live graph saved it: a one-line explanation that names
    the op and tape position that saved it and what to do; ``None`` if no live record saves it.
    ``collect=True``: first let graphs that died in reference cycles go (see :func:`collect_dead_graphs`)."""
    if collect and _saved_entry(array) is not None:
        collect_dead_graphs()
    with _LOCK:
        entry = _saved_entry(array)
        if entry is None:
            return None
        count, _, (op, seq, scope), _ = entry
    who = f"'{name}'" if name else "this tensor's data"
    where = f"op '{op}' (tape #{seq}" + (f", scope '{scope}'" if scope else "") + ")"
    return (
        f"{who} is saved by {count} live recorded op(s), first by {where}, and is read-only until that graph "
        "is freed: call backward() first (without retain_graph=True), or drop the graph (del the output), "
        "or compute it under tg.no_grad(); to change a copy, use x.detach().copy()"
    )


def _saved_entry(array: Any) -> Any:
    """The registry entry of ``array``, or of the array it is a view of; None if neither is saved."""
    entry = _SAVED.get(id(array))
    if entry is not None and entry[1] is array:
        return entry
    base = getattr(array, "base", None)
    entry = _SAVED.get(id(base)) if base is not None else None
    return entry if entry is not None and entry[1] is base else None


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


def foreign_memory(a: np.ndarray) -> bool:
    """True if ``a``'s memory belongs to something that is not a numpy array (``np.frombuffer``
    over a bytearray, a view of one): that owner can change it behind numpy's read-only flag."""
    base = a.base
    while type(base) is _ndarray:
        base = base.base
    return base is not None


_SEQ = operator.attrgetter("record.seq")  # C-level key: sorting 100 000 records stays cheap


# ----------------------------------------------------------------------------- contexts
def no_grad() -> _Installed:
    """Record nothing inside (this thread only): results have ``requires_grad=False``.
    A ``with`` block or a decorator."""
    return _Installed(_without_grad)


def enable_grad() -> _Installed:
    """Turn recording back on inside a :func:`no_grad` block (this thread only)."""
    return _Installed(_with_grad)


def is_grad_enabled() -> bool:
    """Whether ops are being recorded right now in this thread."""
    return state().grad_enabled


def scope(name: str) -> _Installed:
    """Tag every op recorded inside with ``name``; nested scopes join with ``/``
    (``with scope(name) as joined`` gives the joined name).

    >>> with scope("t=1"):
    ...     with scope("attention"):
    ...         pass  # records made here have .scope == "t=1/attention"
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"scope: name must be a non-empty string, got {name!r}")
    return _Installed(_with_scope, name)


def current_scope() -> str:
    """The ``/``-joined active scope ('' outside any scope)."""
    return state().scope_name


def tag(**labels: Any) -> _Installed:
    """Attach labels (e.g. ``eq=1``) to every record made inside; inner labels win."""
    return _Installed(_with_tags, labels)


def detect_anomaly() -> _Installed:
    """Raise :class:`AnomalyError` at the first op whose output contains NaN, or whose
    gradient (during backward) contains NaN or ±inf.

    ``-inf`` in a forward output is allowed (it is how causal masks are written);
    a NaN never is.  Costs one ``isfinite`` scan per op, so it is off by default.
    """
    return _Installed(_with_anomaly)


def is_anomaly_enabled() -> bool:
    """Whether :func:`detect_anomaly` is active in this thread."""
    return state().anomaly
