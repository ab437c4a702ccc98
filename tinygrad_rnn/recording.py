"""Per-thread recording state: whether ops are recorded, the scope and tags they get, anomaly mode.

The state (changed by the context managers below) is **per thread** (and per asyncio task): it
lives in a :class:`contextvars.ContextVar`, so one thread's ``no_grad()`` never drops ops from
another thread's graph.  A new thread starts with the defaults (recording on, no scope, no tags,
anomaly mode off).

- ``no_grad()``          nothing is recorded inside;
- ``scope(name)``        every record made inside carries ``name`` (nested scopes
                         join with ``/``), e.g. ``"t=3"``; viz clusters by scope;
- ``tag(**labels)``      free-form labels on every record made inside
                         (e.g. ``tag(eq=1)``); the engine never interprets them;
- ``detect_anomaly()``   check each op's output (NaN) and each gradient (NaN/inf).

This module imports nothing of the engine: it is the bottom layer.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from contextlib import ContextDecorator
from typing import Any, Callable, Mapping

__all__ = ["State", "state", "no_grad", "enable_grad", "is_grad_enabled", "scope", "tag", "current_scope",
           "detect_anomaly", "is_anomaly_enabled", "AnomalyError"]


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
