"""Per-thread tracing state for :func:`tinygrad_rnn.compile` (imports nothing of the engine).

While a thread traces a function, every op call is reported to its :class:`Tracer`-like object
(``op(...)``), and reading a tensor's value (``.data``, ``.numpy()``, ``.item()``, ``float()``,
``bool()``, ``np.asarray``, ``tolist()``) is a :class:`TraceError` naming the user's line: a replay
runs the same ops on new values, so a graph that depended on a value read during the trace would be
silently wrong.  ``active`` counts traces in progress in any thread, so the eager path pays one
module-attribute test per op and nothing more.
"""

from __future__ import annotations

import contextvars
import os
import sys
from typing import Any

__all__ = ["TraceError", "active", "current", "refuse_value", "user_frame"]

active = 0  # traces in progress, any thread (the fast test on the hot path)
_current: contextvars.ContextVar[Any] = contextvars.ContextVar("tinygrad_rnn_trace", default=None)
_ENGINE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class TraceError(RuntimeError):
    """Something a compiled function did while being traced would make its replay wrong."""


def current() -> Any:
    """This thread's tracer, or None."""
    return _current.get() if active else None


def user_frame() -> str:
    """``file:line (function)`` of the innermost caller outside the engine package."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_ENGINE):
        f = f.f_back
    if f is None:
        return "<unknown>"
    return f"{f.f_code.co_filename}:{f.f_lineno} ({f.f_code.co_name})"


def refuse_value(what: str, label: str) -> None:
    """Raise if this thread is tracing: ``what`` (e.g. ``"t.item()"``) read the value of ``label``."""
    tracer = current()
    if tracer is None:
        return
    raise TraceError(
        f"tg.compile: {what} reads the value of {label} while tracing {tracer.name} at {user_frame()}; "
        "a replay runs the same ops on new values, so the function must not depend on values. "
        "Compute it outside the compiled function and pass it in, pass it as a static argument "
        "(a Python number or tuple), or use an op (tg.where instead of an if on a value)"
    )
