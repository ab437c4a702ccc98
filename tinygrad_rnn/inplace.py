"""Changing a tensor in place: ``t -= v`` (and ``+= *= /= **= @=``), ``t[i] = v``, ``t.data = a``.

The rules follow PyTorch wherever it has one, and are **right or a clear error, never a third
answer** (a name silently rebound while the tensor it named stays unchanged):

1. **Nothing to record** — recording is off (``tg.no_grad()``), or neither side requires grad:
   the update is numpy's own, into ``t.data``: ``np.subtract(t.data, v, out=t.data)``.  Every
   name bound to ``t``, and every numpy view of ``t.data``, sees it, exactly as in numpy and
   PyTorch.  This is the manual SGD step::

       with tg.no_grad():
           p -= lr * p.grad

   Refused, with a message that names the tensor and the op that holds it, if ``t.data`` is
   read-only because a live graph saved it (the coming gradient would be wrong), or because ``t``
   is the output of a recorded op whose graph is alive.
2. **A leaf that requires grad, while recording**: refused (PyTorch: "a leaf Variable that
   requires grad is being used in an in-place operation"), with the ``no_grad`` spelling.
3. **Any other tensor, while recording** (an intermediate, or a constant updated by a tensor that
   requires grad): the op is recorded out of place and the *name* is rebound to the result —
   ``h += 1`` is ``h = h + 1``, so ``loss += term`` in a BPTT loop records one ``add`` per step.
   The one difference from PyTorch (documented in the README): another name bound to the old
   ``h`` keeps the old value.  Refused instead, because PyTorch would write through to the base
   tensor and this engine cannot, when ``h`` is a recorded *view* (``x[:2]``, ``x.T``,
   ``x.reshape(...)``): slices are copies here.  Also refused: a result whose shape or dtype is
   not the target's (numpy cannot broadcast into the left-hand side either).

``t[index] = v`` follows rule 1 (numpy's assignment into ``t.data``) and refuses rules 2 and 3
with the out-of-place spelling (``tg.where``).  ``t.data = array`` is refused while it would
change a gradient: on an intermediate whose graph is alive (its rules read the output), on data a
live graph saved, and as a change of shape or dtype of a tensor that requires grad.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .recording import state
from .saved import describe_saved, foreign_memory

__all__ = ["update", "setitem", "set_data", "why_read_only"]


def _label(t: Any) -> str:
    return f"'{t.name}'" if t.name else f"a tensor of shape {tuple(t.shape)}"


def why_read_only(t: Any) -> str | None:
    """Why ``t.data`` may not be written now, as one sentence naming ``t`` and the op; None if it may."""
    why = describe_saved(t._data, t.name, collect=True)
    if why is not None:
        return why
    rec = t.record
    if rec is not None and not rec.freed:
        return (f"{_label(t)} is the output of recorded op {rec.where()}, whose graph is alive and may read it in "
                "backward(): call backward() first, compute it under tg.no_grad(), or change a copy "
                "(t.detach().copy())")
    if not t._data.flags.writeable:
        return f"{_label(t)}'s data array is read-only (a broadcast view or a frozen array); change a copy (t.copy())"
    return None


def _recording(t: Any, other: Any) -> bool:
    if not state().grad_enabled:
        return False
    return bool(t.requires_grad or getattr(other, "requires_grad", False))


def update(t: Any, other: Any, ufunc: Any, op: Callable[[Any, Any], Any], symbol: str) -> Any:
    """``t <symbol> other`` (e.g. ``-=``): the rules of the module docstring.  Returns what the name
    is bound to: ``t`` itself (changed in place), or the recorded result (rule 3)."""
    if not _recording(t, other):
        why = why_read_only(t)
        if why is not None:
            raise RuntimeError(f"{symbol}: cannot update {_label(t)} in place: {why}")
        value = getattr(other, "_data", other)
        try:
            if ufunc is np.matmul:
                res = np.matmul(t._data, value)
                if res.shape != t.shape:
                    raise ValueError(f"the product has shape {res.shape}")
                np.copyto(t._data, res, casting="same_kind")
            else:
                ufunc(t._data, value, out=t._data, casting="same_kind")
        except (ValueError, TypeError) as e:  # numpy's broadcast and casting errors, in one line
            raise ValueError(
                f"{symbol}: cannot update {_label(t)} (shape {tuple(t.shape)}, dtype {t.dtype}) in place with "
                f"{_describe(other)}: {str(e).splitlines()[0]}"
            ) from None
        return t
    if t.record is None and t.requires_grad:
        raise RuntimeError(
            f"{symbol}: {_label(t)} is a leaf tensor that requires grad; updating it in place while recording "
            f"would leave the update out of its graph (PyTorch refuses too). For a parameter update write "
            f"`with tg.no_grad(): p {symbol} ...`; for a new recorded value write `x = x {symbol[:-1]} ...`"
        )
    if t.record is not None and t._data.base is not None:
        raise RuntimeError(
            f"{symbol}: {_label(t)} is a view recorded by op {t.record.where()}; in this engine views and slices "
            "are copies in the graph, so an in-place update could not reach the tensor it came from (PyTorch's "
            f"would). Write it out of place: `y = y {symbol[:-1]} ...`, or build the whole new tensor "
            "(tg.where, tg.concatenate)"
        )
    res = op(t, other)
    if res.shape != t.shape or res.dtype != t.dtype:
        raise ValueError(
            f"{symbol}: the result has shape {tuple(res.shape)} and dtype {res.dtype}, but the updated tensor "
            f"{_label(t)} has shape {tuple(t.shape)} and dtype {t.dtype}; an in-place update cannot change them "
            f"(numpy refuses too): write `x = x {symbol[:-1]} ...`"
        )
    res.name = t.name
    return res


def setitem(t: Any, index: Any, value: Any) -> None:
    """``t[index] = value``: numpy's assignment into ``t.data`` when nothing is recorded (rule 1)."""
    if _recording(t, value):
        kind = "a leaf tensor that requires grad" if t.record is None and t.requires_grad else (
            "recorded by op " + t.record.where() if t.record is not None else "a constant")
        raise RuntimeError(
            f"t[...] = v: cannot assign into {_label(t)} ({kind}) while recording: the assignment would not be "
            "part of the graph. For a parameter write `with tg.no_grad(): p[...] = v`; for a recorded value build "
            "it out of place, e.g. `x = tg.where(mask, v, x)`"
        )
    why = why_read_only(t)
    if why is not None:
        raise RuntimeError(f"t[...] = v: cannot assign into {_label(t)}: {why}")
    try:
        t._data[index] = getattr(value, "_data", value)
    except (ValueError, TypeError, IndexError) as e:
        shape = f" of shape {tuple(t.shape)}" if t.name else ""  # (an unnamed label gives the shape already)
        raise type(e)(f"t[...] = v: cannot assign {_describe(value)} into {_label(t)}{shape} at {index!r}: "
                      f"{str(e).splitlines()[0]}") from None


def set_data(t: Any, value: Any) -> None:
    """``t.data = value``: replace the array, unless a live graph would then compute a wrong gradient."""
    arr = np.asarray(getattr(value, "_data", value))
    if type(arr) is not np.ndarray or foreign_memory(arr):
        arr = np.array(arr)  # np.memmap, np.matrix, a foreign buffer: a plain array of our own
    if arr.dtype.kind not in "fiub":
        raise TypeError(f".data = ...: {_label(t)} cannot hold dtype {arr.dtype} (use a float, integer or bool dtype)")
    rec = t.record
    if rec is not None and not rec.freed:
        raise RuntimeError(
            f".data = ...: {_label(t)} is the output of recorded op {rec.where()}, whose graph is alive and reads "
            "the output it computed; reassigning it would change the coming gradient. Call backward() first, or "
            "detach() it"
        )
    why = describe_saved(t._data, t.name, collect=True)
    if why is not None:
        raise RuntimeError(f".data = ...: cannot replace the data of {_label(t)}: {why}")
    if t.requires_grad and (arr.shape != t._data.shape or arr.dtype != t._data.dtype):
        raise ValueError(
            f".data = ...: {_label(t)} requires grad and has shape {t._data.shape}, dtype {t._data.dtype}; the new "
            f"array has shape {arr.shape}, dtype {arr.dtype}. A gradient of the old shape would be summed into the "
            "new one, so a change of shape or dtype is refused: make a new Tensor"
        )
    t._data = arr


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    if shape is None:
        return f"a {type(x).__name__}"
    return f"shape {tuple(shape)}, dtype {getattr(x, 'dtype', '?')}"
