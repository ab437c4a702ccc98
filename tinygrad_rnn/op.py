"""Defining ops: a forward function that also returns its backward rule.

An op is a plain numpy function wrapped by :func:`defop`.  It receives numpy arrays
(or the raw Python values passed positionally) and returns two things:

1. the output array, and
2. a tuple with **one vector-Jacobian-product (VJP) function per positional input**:
   ``vjp_i(g) = g · ∂out/∂input_i`` (``g`` has the output's shape).  Use ``None`` for
   an input that never gets a gradient (an index, a mask, ...).

Example, the whole ``tanh`` op (d/dx tanh x = 1 − tanh² x)::

    @defop("tanh")
    def tanh(x):
        y = np.tanh(x)
        return y, (lambda g: g * (1.0 - y * y),)

The engine does the rest: it records the op on the tape under its name (``"tanh"``),
routes gradients during backward, undoes numpy broadcasting (in exactly one place,
:func:`tinygrad_rnn.backward.fit_gradient`) and checks every gradient's shape.  Rules
may return a gradient in the *broadcast* shape; they must not modify ``g`` in place.

Keyword arguments are static (``axis=...``): they are stored on the record and are
never differentiated.  Only positional :class:`Tensor` arguments that require grad
get gradients; raw positional values (Python scalars, numpy arrays) are constants.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from .tape import STATE, AnomalyError, Record

__all__ = ["Op", "defop"]

Rule = Callable[..., "tuple[Any, tuple[Callable[[Any], Any] | None, ...]]"]


class Op:
    """A named op: calling it runs the forward and, when recording, puts a
    :class:`~tinygrad_rnn.tape.Record` on the tape."""

    def __init__(self, name: str, fn: Rule) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"defop: an op needs a non-empty string name, got {name!r}")
        self.name = name
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<op {self.name!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> "Tensor":
        arrays = []
        needs_grad = False
        for a in args:
            if type(a) is Tensor or isinstance(a, Tensor):
                arrays.append(a.data)
                if a.requires_grad:
                    needs_grad = True
            else:
                arrays.append(a)
        try:
            out, vjps = self.fn(*arrays, **kwargs) if kwargs else self.fn(*arrays)  # ** of {} costs
        except (ValueError, IndexError, TypeError) as e:
            raise _with_context(self.name, e, arrays) from e
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if STATE.anomaly and out.dtype.kind == "f" and np.isnan(out).any():
            raise AnomalyError(
                f"{self.name}: output of shape {out.shape} contains NaN "
                f"(inputs {_shapes(arrays)}, scope '{STATE.scope_name}')"
            )
        t = _new_tensor(Tensor)  # Tensor._make, inlined: this is the hottest line of the engine
        t.data = out
        t.grad = None
        t.name = None
        t.retains_grad = False
        if needs_grad and STATE.grad_enabled and out.dtype.kind == "f":
            if len(vjps) != len(args):
                raise TypeError(
                    f"op '{self.name}' returned {len(vjps)} VJP rule(s) for {len(args)} positional input(s); "
                    "return exactly one per input (None for inputs without a gradient)"
                )
            t.requires_grad = True
            t.record = Record(self, args, kwargs, vjps, out.shape)
        else:
            t.requires_grad = False
            t.record = None
        return t


def defop(name: str) -> Callable[[Rule], Op]:
    """Decorator: turn ``fn(*arrays, **static) -> (out, vjps)`` into a recorded op.

    See the module docstring for the contract.  The returned :class:`Op` is called with
    Tensors, numpy arrays or scalars, and returns a :class:`Tensor`.
    """

    def wrap(fn: Rule) -> Op:
        return Op(name, fn)

    return wrap


def _shapes(arrays: list[Any]) -> str:
    return ", ".join(str(np.shape(a)) if not callable(a) else "?" for a in arrays)


def _with_context(name: str, err: Exception, arrays: list[Any]) -> Exception:
    """Re-raise a forward error with the op name and input shapes in front."""
    msg = str(err)
    if not msg.startswith(f"{name}:"):
        msg = f"{name}: {msg} (input shapes {_shapes(arrays)})"
    try:
        return type(err)(msg)
    except Exception:  # exception types with unusual constructors
        return ValueError(msg)


from .tensor import Tensor  # noqa: E402  (tensor.py needs Op defined first)

_new_tensor = object.__new__
