"""The two function sets backward rules are written with, so that one rule serves both orders.

A built-in rule is written once, as ``rule(F, g, out, *inputs, **static)``, with Python operators
(``+ - * / @``, unary ``-``) and the functions of ``F``:

- ``F = NP`` (first-order ``backward()``): numpy arrays in, numpy arrays out — the fast path;
- ``F = TG`` (``backward(create_graph=True)``, ``tg.grad``, ``tg.hessian``, ...): Tensors in, engine
  ops out, so the backward pass is itself recorded and can be differentiated again.

This is HIPS autograd's trick (gradients written with functions that work on raw and traced
values), with the two sets spelled out.  ``F.value(x)`` gives the raw array of either (for masks
and indices, which are constants: their derivative is 0 almost everywhere).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops  # the traced set records engine ops

__all__ = ["NP", "TG", "SparseGrad"]


class SparseGrad:
    """A gradient that is zero except at ``index`` (``values`` there).

    Indexing rules return one instead of ``zeros(shape)`` with the values scattered in, so the
    walk can add it into an existing gradient in place: slicing x[:, t] for every t of a
    (B, T, H) tensor then costs O(B·H) per step instead of O(B·T·H).  Integer-array indices
    (``advanced=True``) accumulate repeated positions (``np.add.at``).
    """

    __slots__ = ("index", "values", "shape", "dtype", "advanced")

    def __init__(self, index: Any, values: Any, shape: tuple[int, ...], dtype: Any, advanced: bool) -> None:
        self.index = index
        self.values = values
        self.shape = shape
        self.dtype = dtype
        self.advanced = advanced

    def add_into(self, arr: np.ndarray) -> None:
        """arr[index] += values (repeated integer indices accumulate)."""
        if self.advanced:
            np.add.at(arr, self.index, self.values)
        else:
            arr[self.index] += self.values

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=self.dtype)
        self.add_into(out)
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The dense gradient, so ``np.asarray`` (and every check of a rule's result) takes one."""
        out = self.dense()
        return out if dtype is None else out.astype(dtype)


def _op_named(name: str) -> Any:
    """The engine's public op or function called ``name`` (:data:`tinygrad_rnn.ops.PUBLIC`), or None."""
    return ops.PUBLIC.get(name)


class _Numpy:
    """Rules on numpy arrays (first-order backward)."""

    traced = False

    def __getattr__(self, name: str) -> Any:
        """Any other op, as its numpy forward (``F.cos`` is the forward of the ``cos`` op), else
        numpy's function of that name; looked up once."""
        op = _op_named(name)
        fn = getattr(op, "fn", None)
        if fn is not None:
            f = (lambda *a, **k: fn(*a, **k)[0]) if op.has_ctx else fn
        elif hasattr(np, name):
            f = getattr(np, name)
        else:
            raise AttributeError(f"NP has no function {name!r}")
        setattr(self, name, f)
        return f

    @staticmethod
    def value(x: Any) -> Any:
        return x

    where = staticmethod(np.where)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    matmul = staticmethod(np.matmul)
    reshape = staticmethod(np.reshape)
    transpose = staticmethod(np.transpose)
    broadcast_to = staticmethod(np.broadcast_to)

    @staticmethod
    def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def swapaxes(x: Any, a: int, b: int) -> Any:
        return np.swapaxes(x, a, b)

    @staticmethod
    def spread(g: Any, keep: tuple[int, ...], shape: tuple[int, ...], dtype: Any, scale: float = 1.0) -> Any:
        """g (of the reduced shape ``keep``) copied back over the reduced axes: a fresh writable
        array (faster than reshape + broadcast_to + copy)."""
        out = np.empty(shape, dtype=dtype)
        kept = np.reshape(g, keep)
        out[...] = kept if scale == 1.0 else kept * scale
        return out

    @staticmethod
    def scatter(g: Any, index: Any, shape: tuple[int, ...], dtype: Any, advanced: bool) -> Any:
        """zeros(shape) with g added at index (repeats accumulate): sparse, added in place by the walk."""
        return SparseGrad(index, g, shape, dtype, advanced)

    @staticmethod
    def getitem(x: Any, index: Any) -> Any:
        return x[index]

    @staticmethod
    def softmax(x: Any, axis: int) -> Any:
        y = np.exp(x - x.max(axis=axis, keepdims=True))
        return y / y.sum(axis=axis, keepdims=True)


class _Traced:
    """Rules on Tensors (higher-order): every function records an engine op."""

    traced = True

    def __getattr__(self, name: str) -> Any:
        """Any other op or function of the engine, by name (``F.cos`` records ``cos``)."""
        f = _op_named(name)
        if f is None:
            raise AttributeError(f"TG has no op {name!r}")
        setattr(self, name, f)
        return f

    @staticmethod
    def value(x: Any) -> Any:
        return getattr(x, "data", x)

    @staticmethod
    def where(c: Any, a: Any, b: Any) -> Any:
        return ops.where(np.asarray(getattr(c, "data", c)), a, b)

    @staticmethod
    def exp(x: Any) -> Any:
        return ops.exp(x)

    @staticmethod
    def log(x: Any) -> Any:
        return ops.log(x)

    @staticmethod
    def matmul(a: Any, b: Any) -> Any:
        return ops.matmul(a, b)

    @staticmethod
    def reshape(x: Any, shape: Any) -> Any:
        return ops.reshape(x, shape=tuple(shape))

    @staticmethod
    def transpose(x: Any, axes: Any = None) -> Any:
        return ops.transpose(x, axes=None if axes is None else tuple(int(a) for a in axes))

    @staticmethod
    def broadcast_to(x: Any, shape: Any) -> Any:
        return ops.broadcast_to(x, shape=tuple(shape))

    @staticmethod
    def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return ops.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def swapaxes(x: Any, a: int, b: int) -> Any:
        nd = len(x.shape)
        perm = list(range(nd))
        a, b = ops.normalize_axis(a, nd, "swapaxes"), ops.normalize_axis(b, nd, "swapaxes")
        perm[a], perm[b] = perm[b], perm[a]
        return ops.transpose(x, axes=tuple(perm))

    @staticmethod
    def spread(g: Any, keep: tuple[int, ...], shape: tuple[int, ...], dtype: Any, scale: float = 1.0) -> Any:
        out = ops.broadcast_to(ops.reshape(g, shape=tuple(keep)), shape=tuple(shape))
        return out if scale == 1.0 else out * scale

    @staticmethod
    def scatter(g: Any, index: Any, shape: tuple[int, ...], dtype: Any, advanced: bool) -> Any:
        return ops.scatter(g, index=index, shape=tuple(shape), advanced=advanced)

    @staticmethod
    def getitem(x: Any, index: Any) -> Any:
        return ops.getitem(x, index=index)

    @staticmethod
    def softmax(x: Any, axis: int) -> Any:
        return ops.softmax(x, axis=axis)


NP = _Numpy()
TG = _Traced()
