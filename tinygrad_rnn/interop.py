"""numpy functions and ufuncs called on Tensors: recorded as the matching op, or a clear error.

``np.tanh(t)``, ``np.sum(t, axis=0)``, ``np.stack([a, b])``, ``ndarray + t``: numpy hands the call
to the Tensor (``__array_ufunc__`` / ``__array_function__``), which records the engine's op, so
the result is a Tensor with history, exactly as ``tg.tanh(t)`` would be.  A numpy function the
engine does not have never returns a plain array that silently drops the graph: if any Tensor
argument requires grad it raises ``TypeError`` naming the call and what to do; if none does
(no gradient to lose), it runs on the plain arrays.  Functions that only look at shapes or
compare values (``np.shape``, ``np.allclose``, ...) always run on the plain arrays.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import ops
from .op import constant

__all__ = ["array_ufunc", "array_function"]


def _cmp(f: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda a, b: constant(f(getattr(a, "data", a), getattr(b, "data", b)))


UFUNCS: dict[Any, Callable[..., Any]] = {
    np.add: ops.add, np.subtract: ops.sub, np.multiply: ops.mul, np.true_divide: ops.div, np.power: ops.pow,
    np.negative: ops.neg, np.positive: lambda x: x, np.tanh: ops.tanh, np.exp: ops.exp, np.log: ops.log,
    np.sqrt: ops.sqrt, np.absolute: ops.abs, np.matmul: ops.matmul, np.maximum: ops.maximum, np.minimum: ops.minimum,
    np.sin: ops.sin, np.cos: ops.cos, np.log1p: ops.log1p, np.expm1: ops.expm1, np.logaddexp: ops.logaddexp,
    np.sign: ops.sign, np.square: ops.square, np.isfinite: ops.isfinite, np.isnan: ops.isnan,
    np.tan: ops.tan, np.arcsin: ops.arcsin, np.arccos: ops.arccos, np.arctan: ops.arctan, np.arctan2: ops.arctan2,
    np.sinh: ops.sinh, np.cosh: ops.cosh, np.arcsinh: ops.arcsinh, np.arccosh: ops.arccosh, np.arctanh: ops.arctanh,
    np.exp2: ops.exp2, np.log2: ops.log2, np.log10: ops.log10, np.cbrt: ops.cbrt, np.reciprocal: ops.reciprocal,
    np.logaddexp2: ops.logaddexp2,
    np.equal: _cmp(np.equal), np.not_equal: _cmp(np.not_equal), np.less: _cmp(np.less),
    np.less_equal: _cmp(np.less_equal), np.greater: _cmp(np.greater), np.greater_equal: _cmp(np.greater_equal),
}
_TG_NAME = {np.true_divide: "div", np.subtract: "sub", np.multiply: "mul", np.absolute: "abs", np.negative: "neg",
            np.power: "pow"}


def _no_extras(name: str, kwargs: dict[str, Any], allowed: tuple[str, ...] = ()) -> None:
    extra = [k for k, v in kwargs.items() if k not in allowed and v is not None and v is not np._NoValue]
    if extra:
        raise TypeError(f"np.{name} on a Tensor: the argument(s) {', '.join(extra)}= are not supported "
                        f"(the engine computes in the tensor's dtype and never writes into out=); use tg.{name}")


def _reduction(f: Callable[..., Any], name: str) -> Callable[..., Any]:
    def call(a: Any, axis: Any = None, *args: Any, keepdims: Any = np._NoValue, **kwargs: Any) -> Any:
        if args:
            raise TypeError(f"np.{name} on a Tensor: pass axis and keepdims by keyword; use tg.{name}")
        _no_extras(name, kwargs)
        extra = {} if keepdims is np._NoValue else {"keepdims": bool(keepdims)}
        return f(a, axis=tuple(axis) if isinstance(axis, list) else axis, **extra)
    return call


def _var_like(f: Callable[..., Any], name: str) -> Callable[..., Any]:
    def call(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
             keepdims: Any = np._NoValue, **kwargs: Any) -> Any:
        _no_extras(name, {"dtype": dtype, "out": out, **kwargs})
        return f(a, axis=axis, ddof=ddof, keepdims=False if keepdims is np._NoValue else bool(keepdims))
    return call


def _pad(a: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0, **kwargs: Any) -> Any:
    if mode != "constant" or kwargs or np.ndim(constant_values) != 0:
        raise TypeError("np.pad on a Tensor: only mode='constant' with one constant value is supported; use tg.pad")
    return ops.pad(a, pad_width, float(constant_values))


def _clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kwargs: Any) -> Any:
    _no_extras("clip", {"out": out, **kwargs})
    return ops.clip(a, getattr(a_min, "data", a_min), getattr(a_max, "data", a_max))


def _reshape(a: Any, *args: Any, shape: Any = None, newshape: Any = None, order: str = "C", copy: Any = None) -> Any:
    """``np.reshape(t, (2, 3))``, ``np.reshape(t, shape=(2, 3))`` (numpy ≥ 2.1), ``newshape=`` (older)."""
    if order != "C":
        raise TypeError("np.reshape on a Tensor: only order='C' is supported")
    given = [x for x in (shape, newshape) if x is not None]
    if len(args) + len(given) != 1:
        raise TypeError("np.reshape on a Tensor: give the new shape once (positionally, or as shape=)")
    target = args[0] if args else given[0]
    size = np.shape(getattr(a, "_data", a))
    return ops.reshape(a, shape=tuple(np.empty(size, dtype=bool).reshape(target).shape))


def _einsum(*operands: Any, out: Any = None, optimize: Any = False, **kwargs: Any) -> Any:
    """``np.einsum``: the subscript string form, and numpy's sublist form
    ``np.einsum(a, [0, 1], b, [1], [0])`` (axes as integers, Ellipsis allowed)."""
    _no_extras("einsum", {"out": out, **kwargs})
    if operands and isinstance(operands[0], str):
        return ops.einsum(*operands)
    pairs = operands if len(operands) % 2 == 0 else operands[:-1]
    result = operands[-1] if len(operands) % 2 == 1 else None  # an odd count: the output sublist last
    ops_, subs = list(pairs[0::2]), list(pairs[1::2])

    def letters(sub: Any) -> str:
        out = ""
        for k in sub:
            if k is Ellipsis:
                out += "..."
            elif isinstance(k, (int, np.integer)) and 0 <= int(k) < 52:
                out += ops.linalg._LETTERS[int(k)]
            else:
                raise TypeError(f"np.einsum on a Tensor: a sublist holds integers in [0, 52) or Ellipsis, got {k!r}")
        return out

    spec = ",".join(letters(sub) for sub in subs) + ("" if result is None else "->" + letters(result))
    return ops.einsum(spec, *ops_)


FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.sum: _reduction(ops.sum, "sum"), np.mean: _reduction(ops.mean, "mean"),
    np.max: _reduction(ops.max, "max"), np.amax: _reduction(ops.max, "max"),
    np.min: _reduction(ops.min, "min"), np.amin: _reduction(ops.min, "min"),
    np.prod: _reduction(ops.prod, "prod"), np.any: _reduction(ops.any, "any"), np.all: _reduction(ops.all, "all"),
    np.var: _var_like(ops.var, "var"), np.std: _var_like(ops.std, "std"),
    np.cumsum: lambda a, axis=None, dtype=None, out=None: (_no_extras("cumsum", {"dtype": dtype, "out": out})
                                                           or ops.cumsum(a, axis)),
    np.argmax: lambda a, axis=None, out=None, **k: (_no_extras("argmax", {"out": out}) or ops.argmax(a, axis, **k)),
    np.argmin: lambda a, axis=None, out=None, **k: (_no_extras("argmin", {"out": out}) or ops.argmin(a, axis, **k)),
    np.reshape: _reshape,
    np.transpose: lambda a, axes=None: ops.transpose(a, axes=None if axes is None else tuple(axes)),
    np.swapaxes: ops.swapaxes, np.moveaxis: ops.moveaxis, np.squeeze: ops.squeeze, np.expand_dims: ops.expand_dims,
    np.flip: lambda a, axis=None: ops.flip(a, axis), np.pad: _pad, np.repeat: ops.repeat, np.tile: ops.tile,
    np.split: ops.split, np.tril: ops.tril, np.triu: ops.triu, np.diagonal: ops.diagonal, np.trace: ops.trace,
    np.take_along_axis: ops.take_along_axis, np.stack: lambda arrays, axis=0: ops.stack(list(arrays), axis),
    np.concatenate: lambda arrays, axis=0: ops.concatenate(list(arrays), axis),
    np.where: lambda c, a, b: ops.where(np.asarray(getattr(c, "data", c)), a, b),
    np.dot: ops.dot, np.outer: ops.outer, np.tensordot: ops.tensordot, np.einsum: _einsum,
    np.clip: _clip,
    np.cumprod: lambda a, axis=None, dtype=None, out=None: (_no_extras("cumprod", {"dtype": dtype, "out": out})
                                                            or ops.cumprod(a, axis)),
    np.roll: lambda a, shift, axis=None: ops.roll(a, shift, axis), np.ravel: lambda a, order="C": (
        ops.ravel(a) if order == "C" else _no_extras("ravel", {"order": order})),
    np.atleast_1d: ops.atleast_1d, np.atleast_2d: ops.atleast_2d, np.atleast_3d: ops.atleast_3d,
    np.linalg.norm: lambda x, ord=None, axis=None, keepdims=False: ops.linalg.norm(x, ord, axis, keepdims),
    np.broadcast_to: lambda a, shape: ops.broadcast_to(a, shape=tuple(np.atleast_1d(shape).tolist())),
}
# functions that only read shapes or compare values: always run on the plain arrays
PLAIN = {np.shape, np.ndim, np.size, np.allclose, np.isclose, np.array_equal, np.array_equiv, np.result_type,
         np.array2string, np.array_repr, np.array_str, np.zeros_like, np.ones_like, np.full_like, np.empty_like,
         np.copyto}


def _raw(x: Any) -> Any:
    if hasattr(x, "record") and hasattr(x, "data"):
        return x.data
    if isinstance(x, (list, tuple)):
        return type(x)(_raw(v) for v in x)
    if isinstance(x, dict):
        return {k: _raw(v) for k, v in x.items()}
    return x


def _needs_grad(x: Any) -> bool:
    if hasattr(x, "record") and hasattr(x, "requires_grad"):
        return bool(x.requires_grad)
    if isinstance(x, (list, tuple)):
        return any(_needs_grad(v) for v in x)
    if isinstance(x, dict):
        return any(_needs_grad(v) for v in x.values())
    return False


def _name(f: Any) -> str:
    module = getattr(f, "__module__", "") or ""
    sub = module.split(".")[1] + "." if module.startswith("numpy.") and module.split(".")[1] in ("linalg", "fft") else ""
    return "np." + sub + getattr(f, "__name__", repr(f))


def array_ufunc(ufunc: Any, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``Tensor.__array_ufunc__``: a ufunc call on Tensors records the engine's op."""
    if method == "__call__" and ufunc in UFUNCS:
        if kwargs:
            raise TypeError(f"np.{ufunc.__name__} on a Tensor: keyword arguments ({', '.join(kwargs)}=) are not "
                            f"supported; call tg.{_TG_NAME.get(ufunc, ufunc.__name__)}(...) or use operators")
        return UFUNCS[ufunc](*inputs)
    if method == "reduce" and ufunc in (np.add, np.maximum, np.minimum, np.multiply):
        extra = [k for k, v in kwargs.items() if k not in ("axis", "keepdims") and v is not None
                 and v is not np._NoValue]
        if extra:  # where=, initial=, dtype=, out=: refused rather than ignored (they change the value)
            raise TypeError(f"np.{ufunc.__name__}.reduce on a Tensor: {', '.join(k + '=' for k in extra)} "
                            "not supported; reduce with tg ops (tg.where, then tg.sum)")
        f = {np.add: ops.sum, np.maximum: ops.max, np.minimum: ops.min, np.multiply: ops.prod}[ufunc]
        return f(inputs[0], axis=kwargs.get("axis", 0), keepdims=bool(kwargs.get("keepdims", False)))
    call = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if _needs_grad(inputs) or _needs_grad(kwargs):
        raise TypeError(f"{call} on a Tensor that requires grad would return a plain array and drop it from the "
                        "graph; use the tg op of the same name if there is one (see help(tinygrad_rnn)), or call it "
                        "on t.detach().numpy() if you mean to leave the graph")
    return getattr(ufunc, method)(*_raw(inputs), **_raw(kwargs))


def array_function(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``Tensor.__array_function__``: a numpy function on Tensors records the engine's op(s)."""
    if func in FUNCTIONS:
        try:
            return FUNCTIONS[func](*args, **kwargs)
        except TypeError as e:
            if str(e).startswith("np."):
                raise
            raise TypeError(f"{_name(func)} on a Tensor: {e}") from None
    if func in PLAIN or not (_needs_grad(args) or _needs_grad(kwargs)):
        return func(*_raw(args), **_raw(kwargs))
    raise TypeError(f"{_name(func)} on a Tensor that requires grad would return a plain array and drop it from the "
                    "graph; write it with tg ops (help(tinygrad_rnn) lists them), or call it on t.detach().numpy() "
                    "if you mean to leave the graph")
