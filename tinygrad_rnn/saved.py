"""Saved data is read-only while a graph needs it.

A record's VJP rules read the arrays the forward saw (its inputs and its output).  Changing one of
them in place between the forward and the backward would make ``backward()`` return the gradient of
a function that was never computed, silently.  So every array a record saves is made read-only
(``flags.writeable = False``) for as long as a live record saves it; writing into it raises
numpy's ``ValueError: assignment destination is read-only`` at the offending line (in-place
operators and optimizers raise a fuller message: :func:`describe_saved`).  When the backward pass
frees the record, or the graph is garbage, the array is writable again, so
``loss.backward(); opt.step()`` works with no copies.  Arrays that were read-only before are left
alone.  Limit: a view of the data you took *before* the forward (``v = x.data[:]``) keeps its own
writeable flag; write through ``x.data`` instead.

This module knows records only by the fields it reads and writes (``seq``, ``op.name``,
``scope``, ``out``, ``saved``, ``guard``): it imports nothing of the engine.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

__all__ = ["protect", "release", "describe_saved", "collect_dead_graphs", "foreign_memory"]

_ndarray = np.ndarray


# id(array) -> [number of live records saving it, the array, "who saved it" for messages]
_SAVED: dict[int, list[Any]] = {}
_DEFERRED: list[np.ndarray] = []  # views whose base was still protected when they were released
_LOCK = threading.RLock()  # re-entrant: a release can run from garbage collection inside a protect


def protect(rec: Any, out: np.ndarray, arrays: Any, inputs: Any = ()) -> None:
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


def _guard(rec: Any, out: np.ndarray | None, kept: Any) -> None:
    ref = weakref.ref(rec, _restore)
    _GUARDS[ref] = (out, kept)
    rec.guard = ref


def release(rec: Any) -> None:
    """``rec`` is freed (its rules dropped): what it protected becomes writable again, now."""
    if rec.guard is not None:  # its guard has nothing left to do
        _GUARDS.pop(rec.guard, None)
        rec.guard = None
    if rec.out is not None:
        rec.out.setflags(write=True)
        rec.out = None
    if rec.saved:
        _release(rec.saved)
        rec.saved = ()


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


def foreign_memory(a: np.ndarray) -> bool:
    """True if ``a``'s memory belongs to something that is not a numpy array (``np.frombuffer``
    over a bytearray, a view of one): that owner can change it behind numpy's read-only flag."""
    base = a.base
    while type(base) is _ndarray:
        base = base.base
    return base is not None
