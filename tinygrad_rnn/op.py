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
:func:`tinygrad_rnn.backward.fit_gradient`) and checks every gradient's shape.

**The contract for rules** (checked, so a mistake is an error, never a wrong number):

- return a new array (or ``g`` itself); never write into ``g``: the walk hands rules a
  read-only ``g``, so an in-place write raises an error naming the rule;
- never write into the saved inputs or output: they are read-only while the graph lives
  (``defop(name, saves=...)`` says which ones the rules read; by default all);
- the gradient may have the *broadcast* shape; anything else is a ``GradientShapeError``.

**Inputs and static arguments.**  The function's parameters without a default value are
its *inputs* (Tensors, arrays or scalars; a ``*args`` parameter takes any number of
them); parameters with a default value, and keyword-only ones, are *static* (``axis``,
``shape``, ...): never differentiated, stored on the record.  Static arguments may be
passed by keyword or positionally after the inputs (``tg.sum(x, 0)``).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np

from .recording import AnomalyError, state
from .saved import foreign_memory, protect
from .tape import Record

__all__ = ["Op", "defop", "OpDefinitionError"]

Rule = Callable[..., "tuple[Any, tuple[Callable[[Any], Any] | None, ...]]"]

_TENSOR: Any = None  # the Tensor class, registered by tensor.py (this module does not import it)
_new = object.__new__
_ndarray = np.ndarray


class OpDefinitionError(TypeError):
    """An op's forward function broke the ``defop`` contract (see the module docstring)."""


def register_tensor_type(cls: type) -> None:
    """Called once by :mod:`tinygrad_rnn.tensor`, which is above this module (its methods are
    ops): the class ops receive and return.  Handing the class down keeps the imports one-way."""
    global _TENSOR
    _TENSOR = cls


def constant(values: Any) -> Any:
    """``values`` as a Tensor that records nothing and gets no gradient (argmax, isfinite, ...)."""
    return _TENSOR._make(np.asarray(values), False, None)


class Op:
    """A named op: calling it runs the forward and, when recording, puts a
    :class:`~tinygrad_rnn.tape.Record` on the tape."""

    def __init__(self, name: str, fn: Rule, saves: tuple[int | str, ...] | None = None,
                 rules: tuple[Any, ...] | None = None, ctx: bool = False) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"defop: an op needs a non-empty string name, got {name!r}")
        if saves is not None and not all(k == "out" or isinstance(k, int) for k in saves):
            raise ValueError(f"defop: saves must hold input positions and/or 'out', got {saves!r}")
        self.name = name
        self.fn = fn
        self.saves = None if saves is None else tuple(saves)
        self.rules = None if rules is None else tuple(rules)  # differentiable rules (None: closures)
        self.has_ctx = bool(ctx)
        self.input_saves: Any = None if saves is None else tuple(k for k in saves if k != "out")
        functools.update_wrapper(self, fn)
        n_inputs: int | None = 0
        static: list[str] = []
        for p in inspect.signature(fn).parameters.values():
            if p.kind is p.VAR_POSITIONAL:
                n_inputs = None
            elif p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty and n_inputs is not None and not static:
                n_inputs += 1
            elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                static.append(p.name)
        self.n_inputs = n_inputs  # None: any number (a *args forward)
        self.static = tuple(static)
        if self.rules is not None and n_inputs is not None and len(self.rules) != n_inputs:
            raise ValueError(f"defop '{name}': {len(self.rules)} rule(s) for {n_inputs} input(s); give one per input")


    def __repr__(self) -> str:
        return f"<op {self.name!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        n = self.n_inputs
        if n is not None and len(args) > n:
            args, kwargs = self._split_static(args, kwargs)
        Tensor = _TENSOR
        arrays = []
        parents = []  # (position, tensor) of inputs that get a gradient
        i = 0
        own = None
        for a in args:
            if type(a) is Tensor or isinstance(a, Tensor):
                arrays.append(a._data)
                if a.requires_grad:
                    parents.append((i, a))
            elif type(a) in _SCALARS or (type(a) is _ndarray and a.base is None):
                arrays.append(a)
            else:  # a list, an ndarray subclass (np.memmap), memory numpy does not own: a private copy
                a = _own_copy(a)
                arrays.append(a)
                if own is None:
                    own = list(args)
                own[i] = a
            i += 1
        if own is not None:
            args = tuple(own)
        if kwargs:
            for v in kwargs.values():
                if type(v) in _MUTABLE:
                    kwargs = {k: _frozen(v) for k, v in kwargs.items()}  # static arrays the rules may read
                    break
        try:
            result = self.fn(*arrays, **kwargs) if kwargs else self.fn(*arrays)  # ** of {} costs
        except (ValueError, IndexError, TypeError) as e:
            if isinstance(e, OpDefinitionError):
                raise
            raise _with_context(self.name, e, arrays) from e
        ctx = None
        if self.rules is not None:  # differentiable rules: the forward returns out, or (out, ctx)
            if self.has_ctx:
                out, ctx = result
            else:
                out = result
            vjps = self.rules if self.n_inputs is not None else self.rules * len(args)
        elif type(result) is not tuple or len(result) != 2 or type(result[1]) is not tuple:
            raise OpDefinitionError(_bad_result(self.name, result))
        else:
            out, vjps = result
        if type(out) is not _ndarray:
            out = np.asarray(out)
        st = state()
        if st.anomaly and out.dtype.kind == "f" and np.isnan(out).any():
            raise AnomalyError(
                f"{self.name}: output of shape {out.shape} contains NaN "
                f"(inputs {_shapes(arrays)}, scope '{st.scope_name}')"
            )
        t = _new(Tensor)  # Tensor._make, inlined: this is the hottest line of the engine
        t._data = out
        t.grad = None
        t.name = None
        t.retains_grad = False
        if parents and st.grad_enabled and out.dtype.kind == "f":
            if len(vjps) != len(args):
                raise OpDefinitionError(
                    f"op '{self.name}' returned {len(vjps)} VJP rule(s) for {len(args)} positional input(s); "
                    "return exactly one per input (None for inputs without a gradient)"
                )
            t.requires_grad = True
            t.record = rec = Record(self, args, tuple(parents), kwargs, vjps, out.shape, st)
            if self.rules is not None:
                rec.arrays = tuple(arrays)
                rec.ctx = ctx
                rec.plain = not kwargs and ctx is None and n is not None
            # keep what the rules read from changing (other ops' outputs are kept by their own records)
            saves = self.input_saves
            shared = []
            if saves != ():
                for k in range(len(args)) if saves is None else saves:
                    a = args[k]
                    if type(a) is _ndarray:
                        shared.append(a)
                    elif (type(a) is Tensor or isinstance(a, Tensor)) and a.record is None:
                        shared.append(a._data)
            protect(rec, out, shared, arrays)
        else:
            t.requires_grad = False
            t.record = None
        return t

    def _split_static(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``op(x, 0)`` → ``op(x, axis=0)``: positional arguments after the inputs are static ones."""
        n = self.n_inputs or 0
        extra = args[n:]
        if len(extra) > len(self.static):
            raise TypeError(
                f"{self.name}: takes {n} input(s) and at most {len(self.static)} static argument(s) "
                f"{self.static}, got {len(args)} positional arguments"
            )
        kwargs = dict(kwargs)
        for name, value in zip(self.static, extra):
            if name in kwargs:
                raise TypeError(f"{self.name}: got '{name}' both positionally and by keyword")
            kwargs[name] = value
        return args[:n], kwargs


_SCALARS = (float, int, bool, np.float64, np.float32)
_MUTABLE = (_ndarray, list)


def _own_copy(a: Any) -> Any:
    """An input that is not a Tensor, a scalar or an array owning its memory, as one the engine
    owns, so changing the caller's object later cannot change the recorded gradient: a list or
    tuple of numbers (``x * [1, 2]``), an ndarray subclass (``np.memmap``), an array over a buffer
    numpy does not own (``np.frombuffer``).  A view of an array is kept (its base is protected),
    as is anything numpy cannot make a number array of (the op's own error names it)."""
    if type(a) is _ndarray:
        return a.copy() if foreign_memory(a) else a
    if isinstance(a, (list, tuple, np.ndarray)):
        try:
            arr = np.array(a)
        except (ValueError, TypeError):
            return a
        return arr if arr.dtype.kind in "fiub" else a
    return a


def _frozen(v: Any) -> Any:
    """A static argument the rules may read later, as a value nobody can change: arrays are copied
    (and made read-only), lists become tuples."""
    if type(v) is _ndarray:
        v = v.copy()
        v.setflags(write=False)
        return v
    if type(v) is list:
        return tuple(_frozen(x) for x in v)
    return v


def defop(name: str, saves: tuple[int | str, ...] | None = None, rules: tuple[Any, ...] | None = None,
          ctx: bool = False) -> Callable[[Rule], Op]:
    """Decorator: turn ``fn(*arrays, **static) -> (out, vjps)`` into a recorded op.

    See the module docstring for the contract.  The returned :class:`Op` is called with
    Tensors, numpy arrays or scalars, and returns a :class:`Tensor`.

    ``saves`` names the inputs the rules read, so the engine keeps exactly those read-only while
    the graph lives (``mul``: ``(0, 1)``, ``add``: ``()``, ``tanh``: ``("out",)``, which only
    documents that it reads its output: the output is always kept).  The default, ``None``,
    keeps every array input: always safe; declare ``saves`` only to make an op cheaper, and
    test it (a wrong declaration lets a later in-place write change the gradient;
    ``tests/engine/test_trust.py`` shows how).

    **Differentiable rules** (higher-order gradients): instead of returning closures, give
    ``rules=(rule_0, rule_1, ...)``, one per input (``None`` for no gradient; one rule for all
    inputs of a ``*args`` op, called with ``i=``), each ``rule(F, g, out, *inputs, **static)``
    written with operators and the functions of ``F`` (see :mod:`tinygrad_rnn.funcs`); the forward
    then returns only the output, or ``(output, ctx)`` with ``ctx=True`` (constants the rules need,
    passed as ``ctx=``).  The same rule runs on numpy arrays in ``backward()`` and on Tensors in
    ``backward(create_graph=True)``.  An op defined with closures has first derivatives only;
    asking for more is a clear error.
    """

    def wrap(fn: Rule) -> Op:
        return Op(name, fn, saves, rules, ctx)

    return wrap


def _bad_result(name: str, result: Any) -> str:
    if type(result) is tuple and len(result) == 2:
        got = f"a {type(result[1]).__name__} as the rules"
    elif type(result) is tuple:
        got = f"a tuple of {len(result)} items"
    else:
        got = f"a {type(result).__name__}"
    return (
        f"op '{name}': the forward must return (output, vjps) with vjps a tuple of one rule per input, "
        f"e.g. `return y, (lambda g: g * dy_dx,)`; got {got}"
    )


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
