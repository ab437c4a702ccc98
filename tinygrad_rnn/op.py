"""Defining ops: a forward function and one named backward rule per input.

An op is a plain numpy function wrapped by :func:`defop`, with its **rules**: one
vector-Jacobian product (VJP) per positional input, ``rule(F, g, out, *inputs) = g · ∂out/∂input_i``
(``g`` has the output's shape), ``None`` for an input that never gets a gradient (an index, a
mask).  The rule is written with Python operators and the functions of ``F``
(:mod:`tinygrad_rnn.funcs`), so the same rule runs on numpy arrays in ``backward()`` and on
Tensors when the backward pass is recorded (second and higher derivatives).

Example, the whole ``tanh`` op (d/dx tanh x = 1 − tanh² x)::

    @defop("tanh", rules=(lambda F, g, y, x: g * (1.0 - y * y),))
    def tanh(x):
        return np.tanh(x)

The engine does the rest: it records the op on the tape under its name (``"tanh"``),
routes gradients during backward, undoes numpy broadcasting (in exactly one place,
:func:`tinygrad_rnn.backward.fit_gradient`) and checks every gradient's shape.

**The closure form** is sugar over this: the forward returns ``(out, (vjp_0, ...))`` with
``vjp_i(g)`` closures over the forward's values (``return y, (lambda g: g * (1 - y * y),)``).
:class:`ClosureRule` turns each closure into a rule, the one place that knows the form; its
first derivative goes through every API, and differentiating it again is a clear error.

**The contract for rules** (checked, so a mistake is an error, never a wrong number):

- return a new array (or ``g`` itself); never write into ``g``: the walk hands rules a
  read-only ``g``, so an in-place write raises an error naming the rule;
- never write into the saved inputs or output: they are read-only while the graph lives
  (``defop(name, saves=...)`` says which ones the rules read; by default all);
- the gradient may have the *broadcast* shape; anything else is a ``GradientShapeError``.

**Inputs and static arguments.**  The function's parameters without a default value are
its *inputs* (Tensors, arrays or scalars; a ``*args`` parameter takes any number of
them); parameters with a default value, and keyword-only ones, are *static* (``axis``,
``shape``, ...): never differentiated, stored on the record and passed to the rules.  Static
arguments may be passed by keyword or positionally after the inputs (``tg.sum(x, 0)``); one that
has no sensible default takes :data:`REQUIRED` (``def reshape(x, shape=REQUIRED)``).
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Callable, Generic, ParamSpec

import numpy as np

from . import tracing as _tracing
from .recording import AnomalyError, state
from .saved import foreign_memory, protect
from .tape import Record

if TYPE_CHECKING:  # for annotations only, never run: tensor.py is above this module
    from .tensor import Tensor

__all__ = ["Op", "defop", "REQUIRED", "OpDefinitionError", "GradientShapeError", "ClosureRule", "rule_array"]

P = ParamSpec("P")  # an op's parameters are its forward's: editors and type checkers see them

_TENSOR: Any = None  # the Tensor class, registered by tensor.py (this module does not import it)
_new = object.__new__
_ndarray = np.ndarray


class OpDefinitionError(TypeError):
    """An op's forward function broke the ``defop`` contract (see the module docstring)."""


class GradientShapeError(RuntimeError):
    """A backward rule produced a gradient that cannot belong to its input."""


def register_tensor_type(cls: type) -> None:
    """Called once by :mod:`tinygrad_rnn.tensor`, which is above this module (its methods are
    ops): the class ops receive and return.  Handing the class down keeps the imports one-way."""
    global _TENSOR
    _TENSOR = cls


def constant(values: Any) -> Tensor:
    """``values`` as a Tensor that records nothing and gets no gradient (argmax, isfinite, ...)."""
    return _TENSOR._make(np.asarray(values), False, None)


class _Required:
    """The default of a static parameter that must be given: ``def reshape(x, shape=REQUIRED)``.
    A parameter with a default is static (not an input), so it may be passed positionally after
    the inputs (``tg.reshape(x, (2, 3))``) and type checkers see it that way; leaving it out is an
    error naming it."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class Op(Generic[P]):
    """A named op: calling it runs the forward and, when recording, puts a
    :class:`~tinygrad_rnn.tape.Record` on the tape.  Its type, ``Op[P]``, carries the forward's
    parameters ``P``, so ``tg.tanh(x, 3, foo=5)`` is a type error and every call gives a Tensor."""

    def __init__(self, name: str, fn: Callable[P, Any], saves: tuple[int | str, ...] | None = None,
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
        self.required = tuple(p.name for p in inspect.signature(fn).parameters.values() if p.default is REQUIRED)
        if self.rules is not None and n_inputs is not None and len(self.rules) != n_inputs:
            raise ValueError(f"defop '{name}': {len(self.rules)} rule(s) for {n_inputs} input(s); give one per input")


    def __repr__(self) -> str:
        return f"<op {self.name!r}>"

    @property
    def rules_per_call(self) -> bool:
        """True if each call's forward returns that call's own rules (the closure form: ``(out,
        (vjp_0, ...))``, each used as :class:`ClosureRule` does on arrays, ``vjp_i(g)``); False if
        the rules are fixed (``self.rules``).  ``tg.compile``'s replay asks this, not the form."""
        return self.rules is None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Tensor:
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
        if self.required:
            _check_required(self, kwargs)
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
            if self.rules is None:  # the closure form, as rules (the one place that knows it)
                where = rec.where()
                rec.vjps = tuple([None if v is None else ClosureRule(v, k, where) for k, v in enumerate(vjps)])
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
        if _tracing.active:  # tg.compile is tracing (in some thread): report the call
            tracer = _tracing.current()
            if tracer is not None:
                tracer.op(self, args, kwargs, arrays, t, vjps, ctx)
        return t

    def forward(self, *arrays: Any, **static: Any) -> np.ndarray:
        """The forward's output alone on raw ``arrays`` (no recording), whatever form the op's
        forward returns: ``out``, ``(out, ctx)`` or ``(out, closures)``."""
        result = self.fn(*arrays, **static)
        if self.rules is None or self.has_ctx:
            result = result[0]
        return np.asarray(result)

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


def _check_required(op: Op[Any], kwargs: dict[str, Any]) -> None:
    missing = [k for k in op.required if k not in kwargs]
    if missing:
        raise TypeError(f"{op.name}: missing static argument(s) {', '.join(map(repr, missing))}")


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
          ctx: bool = False) -> Callable[[Callable[P, Any]], Op[P]]:
    """Decorator: turn a numpy forward into a recorded op (see the module docstring).

    ``rules=(rule_0, rule_1, ...)``: one per input (``None`` for no gradient; one rule for all
    inputs of a ``*args`` op, called with ``i=``), each ``rule(F, g, out, *inputs, **static)``.
    The forward returns the output, or ``(output, ctx)`` with ``ctx=True`` (constants the rules
    need, passed to them as ``ctx=``).  Without ``rules`` the forward returns ``(output,
    closures)``: the closure form (:class:`ClosureRule`), first derivatives only.

    ``saves`` names the inputs the rules read, so the engine keeps exactly those read-only while
    the graph lives (``mul``: ``(0, 1)``, ``add``: ``()``, ``tanh``: ``("out",)``, which only
    documents that it reads its output: the output is always kept).  The default, ``None``,
    keeps every array input: always safe; declare ``saves`` only to make an op cheaper, and
    test it (a wrong declaration lets a later in-place write change the gradient;
    ``tests/engine/test_saved_data.py`` shows how).

    The returned :class:`Op` is called with Tensors, numpy arrays or scalars, and returns a Tensor.
    """

    def wrap(fn: Callable[P, Any]) -> Op[P]:
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


# ----------------------------------------------------------------------------- the closure form, as rules
def rule_array(g: Any, shape: tuple[int, ...], where: str, i: int) -> np.ndarray:
    """What a numpy rule returned for input ``i`` (of ``shape``), as a real number array; anything
    else (None, a string, an object or complex array) is a :class:`GradientShapeError` naming the rule."""
    if g is None or isinstance(g, (str, bytes)) or not hasattr(g, "__array__") and not isinstance(g, (int, float)):
        raise GradientShapeError(
            f"backward rule {where} returned {type(g).__name__} for input {i} of shape {shape}; "
            "a rule must return an array (use None in the rules tuple for inputs without a gradient)"
        )
    g = np.asarray(g)
    if g.dtype.kind not in "fiub":
        raise GradientShapeError(
            f"backward rule {where} returned a gradient of dtype {g.dtype} for input {i} of shape {shape}; "
            "expected a real floating-point array"
        )
    return g


class ClosureRule:
    """An op written in the closure form (the forward returns ``(out, (vjp_0, vjp_1, ...))``), as
    the rules every other op has: ``rule(F, g, out, *inputs)`` for input ``i``.  This is the only
    place that knows the closure form; the tape and the walk see rules only.

    On arrays (``F = NP``: ``backward()``) the rule is the closure, ``vjp_i(g)``.  On Tensors
    (``F = TG``: ``tg.grad``, ``backward(create_graph=True)``) it runs the closure on g's values
    and records the result as ``first_order_gradient``, an op that depends on ``g`` and on the
    op's inputs and whose own backward is an error: the first derivative goes through every API,
    and differentiating it again fails loudly (a closure has no rule for its own derivative)
    instead of treating the gradient as a constant."""

    __slots__ = ("vjp", "i", "where")

    def __init__(self, vjp: Callable[[Any], Any], i: int, where: str) -> None:
        self.vjp = vjp
        self.i = i
        self.where = where  # the record's place, for messages (not the record: no reference cycle)

    def __call__(self, F: Any, g: Any, out: Any, *inputs: Any, **static: Any) -> Any:
        if not F.traced:
            return self.vjp(g)
        values = np.asarray(getattr(g, "_data", g)).view()
        values.setflags(write=False)  # rules must not write into g
        x = inputs[self.i]
        value = rule_array(self.vjp(values), x.shape, self.where, self.i)
        if value.dtype != x.dtype:
            value = value.astype(x.dtype)
        depends_on = [a for a in inputs if isinstance(a, _TENSOR) and a.requires_grad]
        return _first_order(g, *depends_on, value=value, where=self.where)


def _no_second_rule(where: str) -> Callable[[Any], Any]:
    def rule(g: Any) -> Any:
        raise RuntimeError(
            f"op {where} has only a numpy backward rule (closures), so it has no higher-order "
            "gradient; define it with defop(name, rules=...) to differentiate its backward pass"
        )
    return rule


@defop("first_order_gradient")
def _first_order(*ins: Any, value: Any = None, where: str = "") -> Any:
    """A closure rule's gradient ``value``, recorded as depending on ``ins`` (the upstream gradient
    and the op's inputs); its backward is an error (see :class:`ClosureRule`)."""
    return value, tuple(_no_second_rule(where) for _ in ins)
