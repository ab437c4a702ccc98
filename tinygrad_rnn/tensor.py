"""`Tensor`: a numpy array plus the information autodiff needs.

Gradient semantics (the same as PyTorch):

- ``x.grad`` of a **leaf** (a tensor you created with ``requires_grad=True``) is a
  numpy array that **accumulates** over ``backward()`` calls.  Reset it with
  ``x.zero_grad()`` (sets it to ``None``), ``x.grad = None``, or an optimizer's
  ``zero_grad()``.
- Intermediate (non-leaf) tensors keep no ``.grad`` unless ``retain_grad()`` was called.
- ``backward()`` frees the graph it walks; a second ``backward()`` through the same
  graph is an error unless the first used ``retain_graph=True``.
- While a live graph saved a tensor's data (for its backward rules), that array is
  **read-only**: writing into ``x.data`` / ``x.numpy()`` / ``x.detach().data`` raises
  instead of making the coming gradient wrong.  ``backward()`` (or dropping the graph)
  makes it writable again.  See :mod:`tinygrad_rnn.tape`.
- ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` compare elementwise and give boolean
  tensors (no gradient), as in numpy and PyTorch; tensors still hash by identity.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from . import inplace as _inplace
from . import interop as _interop
from . import ops
from . import tracing as _tracing
from .backward import _seed, traced_walk
from .backward import backward as _backward
from .op import register_tensor_type
from .saved import describe_saved
from .tape import Record, tape_of

__all__ = ["Tensor"]

_SCALARS = (int, float, np.number, bool, np.bool_)


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    Parameters
    ----------
    data: array-like (numpy array, nested lists, scalar, or another Tensor); copied.
    requires_grad: record ops on this tensor and give it a ``.grad`` in ``backward``.
        Only floating-point tensors can require grad.
    dtype: numpy dtype.  By default floats keep their precision (Python floats and
        lists of them become float64; float32 arrays stay float32); integers and
        booleans stay integers and booleans.
    name: optional label shown by ``repr``, error messages and graph drawings.
    """

    __slots__ = ("_data", "grad", "requires_grad", "record", "name", "retains_grad", "__weakref__")

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> None:
        """See the class docstring."""
        if isinstance(data, Tensor):
            data = data.data
        try:
            arr = np.array(data, dtype=dtype, copy=True)
        except (ValueError, TypeError) as e:
            raise TypeError(f"Tensor: cannot make an array from {type(data).__name__}: {e}") from e
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"Tensor: unsupported dtype {arr.dtype} (use a float, integer or bool dtype)")
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(
                f"Tensor: only floating-point tensors can require grad, got dtype {arr.dtype}; "
                "pass dtype=np.float64 (or float data)"
            )
        self._data: np.ndarray = arr
        self.grad: np.ndarray | None = None
        self.requires_grad: bool = bool(requires_grad)
        self.record: Record | None = None
        self.name = name
        self.retains_grad = False

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool, record: Record | None) -> "Tensor":
        """Fast constructor used by ops: no copy, no checks."""
        t = object.__new__(cls)
        t._data = data
        t.grad = None
        t.requires_grad = requires_grad
        t.record = record
        t.name = None
        t.retains_grad = False
        return t

    # ------------------------------------------------------------------ the data
    @property
    def data(self) -> np.ndarray:
        """The numpy array (not a copy; read-only while a live graph saved it).

        Assigning ``t.data = array`` is refused while it would change a gradient (see
        :mod:`tinygrad_rnn.inplace`): on an intermediate whose graph is alive, on data a live graph
        saved, and as a change of shape or dtype of a tensor that requires grad."""
        if _tracing.active:
            _tracing.refuse_value("t.data", self._label())
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        _inplace.set_data(self, value)

    # ------------------------------------------------------------------ basic facts
    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return self._data.shape

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return self._data.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return self._data.size

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype."""
        return self._data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op."""
        return self.record is None

    @property
    def op(self) -> str | None:
        """Name of the op rule that produced this tensor (``None`` for a leaf)."""
        return None if self.record is None else self.record.op.name

    def numpy(self) -> np.ndarray:
        """The underlying array (not a copy; read-only while a live graph saved it)."""
        if _tracing.active:
            _tracing.refuse_value("t.numpy()", self._label())
        return self._data

    def copy(self) -> "Tensor":
        """A new leaf with a copy of the data (no history, ``requires_grad=False``), free to modify."""
        if _tracing.active:
            _tracing.refuse_value("t.copy()", self._label())
        t = Tensor._make(self._data.copy(), False, None)
        t.name = self.name
        return t

    def is_saved(self) -> str | None:
        """If a live recorded graph saved this tensor's data (so it is read-only), why; else None."""
        return describe_saved(self._data, self.name, collect=True)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if _tracing.active:
            _tracing.refuse_value("t.item() (or float(t), bool(t), int(t))", self._label())
        if self._data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, this one has shape {self.shape}")
        return self._data.item()

    def tolist(self) -> Any:
        """The values as nested Python lists (numpy's ``tolist``)."""
        if _tracing.active:
            _tracing.refuse_value("t.tolist()", self._label())
        return self._data.tolist()

    def __len__(self) -> int:
        """Length of the first axis (an error for a 0-d tensor)."""
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self) -> Iterator["Tensor"]:
        """The sub-tensors along the first axis (each a recorded ``getitem``)."""
        for i in range(len(self)):
            yield self[i]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The data as a numpy array (``np.asarray(t)``), for a tensor that does not require grad.

        A tensor that requires grad refuses, as in PyTorch: numpy calls this for every Tensor
        inside a list (``np.sum([t, u])``, ``np.array([t, u])``), and a plain array there would
        silently leave the graph.  Use ``t.detach().numpy()`` (or ``t.data``) to leave it on purpose,
        ``tg.stack`` / ``tg.sum`` to stay in it."""
        if _tracing.active:
            _tracing.refuse_value("np.asarray(t) (numpy handed a Tensor)", self._label())
        if self.requires_grad:
            raise TypeError(
                f"numpy was handed {self._label()} that requires grad (np.asarray(t), or a Tensor inside a list "
                "given to a numpy function such as np.sum([t, u]) or np.array([t, u])); a plain array would drop "
                "it from the graph. Stack first (tg.stack([t, u])) to stay in the graph, or pass t.detach().numpy() "
                "to leave it"
            )
        if copy:
            return np.array(self._data, dtype=dtype, copy=True)
        return self._data if dtype is None else self._data.astype(dtype)

    def _label(self) -> str:
        """How messages name this tensor."""
        return f"the Tensor '{self.name}'" if self.name else f"a Tensor of shape {self.shape}"

    def __float__(self) -> float:
        """The value of a one-element tensor as a float."""
        return float(self.item())

    def __bool__(self) -> bool:
        """The truth of a one-element tensor (an error for more elements)."""
        if _tracing.active:
            _tracing.refuse_value("bool(t) (an if or while on a tensor)", self._label())
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() / .all() "
                "on .numpy(), or compare one element"
            )
        return bool(self.item())

    def __format__(self, spec: str) -> str:
        """``f"{loss:.3f}"`` formats a one-element tensor like its number."""
        if not spec:
            return str(self)
        if _tracing.active:
            _tracing.refuse_value(f"format(t, {spec!r})", self._label())
        if self._data.size == 1:
            return format(self._data.item(), spec)
        raise TypeError(f"format: only one-element tensors take a format spec ('{spec}'); this one has shape {self.shape}")

    def __repr__(self) -> str:
        """``Tensor([...], op='tanh', name='h_1')``."""
        body = np.array2string(self._data, precision=4, threshold=12, edgeitems=2, separator=", ",
                               prefix="Tensor(")
        parts = [body]
        if self.dtype != np.float64:
            parts.append(f"dtype={self.dtype}")
        if self.name:
            parts.append(f"name={self.name!r}")
        if self.record is not None:
            parts.append(f"op={self.record.op.name!r}")
        elif self.requires_grad:
            parts.append("requires_grad=True")
        return f"Tensor({', '.join(parts)})"

    # ------------------------------------------------------------------ autodiff
    def backward(self, grad: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) · grad into every leaf's ``.grad``.

        ``grad`` may be omitted for a one-element output (it is then 1).  The graph is
        freed as it is walked unless ``retain_graph=True``.  With ``create_graph=True`` the
        backward pass is recorded too (PyTorch's semantics): every ``.grad`` it touches becomes a
        Tensor with history, which can be differentiated again; the graph is kept.
        """
        if _tracing.active and _tracing.current() is not None:
            raise _tracing.TraceError(
                f"tg.compile: backward() inside the function being traced ({_tracing.current().name}, at "
                f"{_tracing.user_frame()}); tg.compile(fn) runs the backward pass itself: return the loss instead"
            )
        if create_graph:
            traced_walk(self, seed_tensor(self, grad))
            return
        _backward(self, grad.data if isinstance(grad, Tensor) else grad, retain_graph)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``.grad = None``)."""
        self.grad = None

    def retain_grad(self) -> "Tensor":
        """Keep ``.grad`` on this intermediate tensor during backward (leaves always do)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        self.retains_grad = True
        return self

    def detach(self) -> "Tensor":
        """A new leaf sharing this data, cut off from the graph (``requires_grad=False``)."""
        if _tracing.active:
            _tracing.refuse_value("t.detach()", self._label())
        t = Tensor._make(self._data, False, None)
        t.name = self.name
        return t

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place on a leaf; returns self."""
        if self.record is not None:
            raise RuntimeError(f"requires_grad_: only leaves can change requires_grad (this one is from '{self.op}')")
        if flag and self.dtype.kind != "f":
            raise TypeError(f"requires_grad_: only floating-point tensors can require grad, got dtype {self.dtype}")
        self.requires_grad = bool(flag)
        return self

    def history(self) -> list["Tensor"]:
        """The non-leaf tensors this one depends on (itself included), in tape order.
        Each has ``.record`` naming its op rule, inputs, output shape and scope."""
        return tape_of(self)

    # ------------------------------------------------------------------ operators
    def __add__(self, other: Any) -> "Tensor":
        """``self + other`` (``tg.add``; numpy broadcasting)."""
        return ops.add(self, other)

    def __radd__(self, other: Any) -> "Tensor":
        """``other + self``."""
        return ops.add(other, self)

    def __sub__(self, other: Any) -> "Tensor":
        """``self - other`` (``tg.sub``)."""
        return ops.sub(self, other)

    def __rsub__(self, other: Any) -> "Tensor":
        """``other - self``."""
        return ops.sub(other, self)

    def __mul__(self, other: Any) -> "Tensor":
        """``self * other``, elementwise (``tg.mul``)."""
        return ops.mul(self, other)

    def __rmul__(self, other: Any) -> "Tensor":
        """``other * self``."""
        return ops.mul(other, self)

    def __truediv__(self, other: Any) -> "Tensor":
        """``self / other`` (``tg.div``)."""
        return ops.div(self, other)

    def __rtruediv__(self, other: Any) -> "Tensor":
        """``other / self``."""
        return ops.div(other, self)

    def __pow__(self, other: Any) -> "Tensor":
        """``self ** other`` (``tg.pow``)."""
        return ops.pow(self, other)

    def __rpow__(self, other: Any) -> "Tensor":
        """``other ** self``."""
        return ops.pow(other, self)

    def __neg__(self) -> "Tensor":
        """``-self`` (``tg.neg``)."""
        return ops.neg(self)

    def __matmul__(self, other: Any) -> "Tensor":
        """``self @ other`` (``tg.matmul``)."""
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> "Tensor":
        """``other @ self``."""
        return ops.matmul(other, self)

    # in-place updates: numpy's in place when nothing is recorded, PyTorch's error for a leaf that
    # requires grad while recording, otherwise recorded out of place (see tinygrad_rnn.inplace)
    def __iadd__(self, other: Any) -> "Tensor":
        """``self += other``: in place under ``no_grad`` (or with no graph); see :mod:`tinygrad_rnn.inplace`."""
        return _inplace.update(self, other, np.add, ops.add, "+=")

    def __isub__(self, other: Any) -> "Tensor":
        """``self -= other`` (``with tg.no_grad(): p -= lr * p.grad`` updates ``p`` in place)."""
        return _inplace.update(self, other, np.subtract, ops.sub, "-=")

    def __imul__(self, other: Any) -> "Tensor":
        """``self *= other``; see :meth:`__iadd__`."""
        return _inplace.update(self, other, np.multiply, ops.mul, "*=")

    def __itruediv__(self, other: Any) -> "Tensor":
        """``self /= other``; see :meth:`__iadd__`."""
        return _inplace.update(self, other, np.true_divide, ops.div, "/=")

    def __ipow__(self, other: Any) -> "Tensor":
        """``self **= other``; see :meth:`__iadd__`."""
        return _inplace.update(self, other, np.power, ops.pow, "**=")

    def __imatmul__(self, other: Any) -> "Tensor":
        """``self @= other`` (the product must keep ``self``'s shape); see :meth:`__iadd__`."""
        return _inplace.update(self, other, np.matmul, ops.matmul, "@=")

    def __setitem__(self, index: Any, value: Any) -> None:
        """``self[index] = value``: numpy's assignment into the data when nothing is recorded
        (``with tg.no_grad(): W[0] = 0``); refused while recording (write ``tg.where`` instead)."""
        _inplace.setitem(self, _plain_index(index), value)

    def __getitem__(self, index: Any) -> "Tensor":
        """``self[index]``: slices, integers, integer arrays (repeats accumulate), masks (``getitem``)."""
        return ops.getitem(self, index=_plain_index(index))

    # comparisons give boolean tensors (no gradient); hashing stays by identity
    __hash__ = object.__hash__

    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        """Elementwise ``==``: a boolean tensor, no gradient (tensors still hash by identity)."""
        if _tracing.active:
            _tracing.refuse_value("a comparison (t == ...; it gives a constant mask, not an op)", self._label())
        return Tensor._make(np.asarray(self._data == _raw(other)), False, None)

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        """Elementwise ``!=``: a boolean tensor."""
        if _tracing.active:
            _tracing.refuse_value("a comparison (t != ...; it gives a constant mask, not an op)", self._label())
        return Tensor._make(np.asarray(self._data != _raw(other)), False, None)

    def __lt__(self, other: Any) -> "Tensor":
        """Elementwise ``<``: a boolean tensor."""
        if _tracing.active:
            _tracing.refuse_value("a comparison (t < ...; it gives a constant mask, not an op)", self._label())
        return Tensor._make(np.asarray(self._data < _raw(other)), False, None)

    def __le__(self, other: Any) -> "Tensor":
        """Elementwise ``<=``: a boolean tensor."""
        if _tracing.active:
            _tracing.refuse_value("a comparison (t <= ...; it gives a constant mask, not an op)", self._label())
        return Tensor._make(np.asarray(self._data <= _raw(other)), False, None)

    def __gt__(self, other: Any) -> "Tensor":
        """Elementwise ``>``: a boolean tensor."""
        if _tracing.active:
            _tracing.refuse_value("a comparison (t > ...; it gives a constant mask, not an op)", self._label())
        return Tensor._make(np.asarray(self._data > _raw(other)), False, None)

    def __ge__(self, other: Any) -> "Tensor":
        """Elementwise ``>=``: a boolean tensor."""
        if _tracing.active:
            _tracing.refuse_value("a comparison (t >= ...; it gives a constant mask, not an op)", self._label())
        return Tensor._make(np.asarray(self._data >= _raw(other)), False, None)

    # ------------------------------------------------------------------ numpy interoperation
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """``np.tanh(t)``, ``ndarray + t``: recorded as the engine's op (see :mod:`tinygrad_rnn.interop`)."""
        return _interop.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        """``np.sum(t)``, ``np.stack([a, b])``: recorded as the engine's op, or a clear error."""
        return _interop.array_function(func, args, kwargs)

    # ------------------------------------------------------------------ methods: elementwise
    def tanh(self) -> "Tensor":
        """tanh, elementwise (``tg.tanh``)."""
        return ops.tanh(self)

    def exp(self) -> "Tensor":
        """eˣ, elementwise (``tg.exp``)."""
        return ops.exp(self)

    def log(self) -> "Tensor":
        """Natural logarithm, elementwise (``tg.log``)."""
        return ops.log(self)

    def sigmoid(self) -> "Tensor":
        """σ(x) = 1/(1 + e⁻ˣ), stable (``tg.sigmoid``)."""
        return ops.sigmoid(self)

    def relu(self) -> "Tensor":
        """max(x, 0) (``tg.relu``)."""
        return ops.relu(self)

    def sqrt(self) -> "Tensor":
        """√x (``tg.sqrt``)."""
        return ops.sqrt(self)

    def abs(self) -> "Tensor":
        """|x| (``tg.abs``)."""
        return ops.abs(self)

    def square(self) -> "Tensor":
        """x² (``tg.square``)."""
        return ops.square(self)

    def sign(self) -> "Tensor":
        """sign x, gradient 0 (``tg.sign``)."""
        return ops.sign(self)

    def log1p(self) -> "Tensor":
        """ln(1 + x) (``tg.log1p``)."""
        return ops.log1p(self)

    def expm1(self) -> "Tensor":
        """eˣ − 1 (``tg.expm1``)."""
        return ops.expm1(self)

    def sin(self) -> "Tensor":
        """sin x (``tg.sin``)."""
        return ops.sin(self)

    def cos(self) -> "Tensor":
        """cos x (``tg.cos``)."""
        return ops.cos(self)

    def softplus(self, beta: float = 1.0) -> "Tensor":
        """ln(1 + e^{βx})/β, stable (``tg.softplus``)."""
        return ops.softplus(self, beta=beta)

    def logsigmoid(self) -> "Tensor":
        """ln σ(x), stable (``tg.logsigmoid``)."""
        return ops.logsigmoid(self)

    def leaky_relu(self, negative_slope: float = 0.01) -> "Tensor":
        """x for x > 0, else slope·x (``tg.leaky_relu``)."""
        return ops.leaky_relu(self, negative_slope=negative_slope)

    def elu(self, alpha: float = 1.0) -> "Tensor":
        """x for x > 0, else α(eˣ − 1) (``tg.elu``)."""
        return ops.elu(self, alpha=alpha)

    def gelu(self) -> "Tensor":
        """GELU, tanh form (``tg.gelu``)."""
        return ops.gelu(self)

    def silu(self) -> "Tensor":
        """x·σ(x) (``tg.silu``)."""
        return ops.silu(self)

    def tan(self) -> "Tensor":
        """tan x (``tg.tan``)."""
        return ops.tan(self)

    def arcsin(self) -> "Tensor":
        """arcsin x (``tg.arcsin``)."""
        return ops.arcsin(self)

    def arccos(self) -> "Tensor":
        """arccos x (``tg.arccos``)."""
        return ops.arccos(self)

    def arctan(self) -> "Tensor":
        """arctan x (``tg.arctan``)."""
        return ops.arctan(self)

    def sinh(self) -> "Tensor":
        """sinh x (``tg.sinh``)."""
        return ops.sinh(self)

    def cosh(self) -> "Tensor":
        """cosh x (``tg.cosh``)."""
        return ops.cosh(self)

    def arcsinh(self) -> "Tensor":
        """arsinh x (``tg.arcsinh``)."""
        return ops.arcsinh(self)

    def arccosh(self) -> "Tensor":
        """arcosh x (``tg.arccosh``)."""
        return ops.arccosh(self)

    def arctanh(self) -> "Tensor":
        """artanh x (``tg.arctanh``)."""
        return ops.arctanh(self)

    def exp2(self) -> "Tensor":
        """2ˣ (``tg.exp2``)."""
        return ops.exp2(self)

    def log2(self) -> "Tensor":
        """log₂ x (``tg.log2``)."""
        return ops.log2(self)

    def log10(self) -> "Tensor":
        """log₁₀ x (``tg.log10``)."""
        return ops.log10(self)

    def cbrt(self) -> "Tensor":
        """∛x (``tg.cbrt``)."""
        return ops.cbrt(self)

    def reciprocal(self) -> "Tensor":
        """1/x (``tg.reciprocal``)."""
        return ops.reciprocal(self)

    def astype(self, dtype: Any) -> "Tensor":
        """Converted to ``dtype``; recorded between floating dtypes (``tg.astype``)."""
        return ops.astype(self, dtype)

    def maximum(self, other: Any) -> "Tensor":
        """Elementwise max with ``other`` (``tg.maximum``; ties share the gradient)."""
        return ops.maximum(self, other)

    def minimum(self, other: Any) -> "Tensor":
        """Elementwise min with ``other`` (``tg.minimum``)."""
        return ops.minimum(self, other)

    def clip(self, lo: Any = None, hi: Any = None) -> "Tensor":
        """Limit to [lo, hi] (``tg.clip``)."""
        return ops.clip(self, lo=lo, hi=hi)

    def isfinite(self) -> "Tensor":
        """Elementwise finiteness, a boolean tensor (``tg.isfinite``)."""
        return ops.isfinite(self)

    def isnan(self) -> "Tensor":
        """Elementwise NaN test, a boolean tensor (``tg.isnan``)."""
        return ops.isnan(self)

    # ------------------------------------------------------------------ methods: reductions
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        """Σ over ``axis`` (an int, a tuple, or None: all) (``tg.sum``)."""
        return ops.sum(self, axis=_axis(axis), keepdims=keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        """Mean over ``axis`` (``tg.mean``)."""
        return ops.mean(self, axis=_axis(axis), keepdims=keepdims)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        """Maximum over ``axis`` (an int, a tuple or None); gradient to the first arg-max (``tg.max``)."""
        return ops.max(self, axis=_axis(axis), keepdims=keepdims)

    def min(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        """Minimum over ``axis``; gradient to the first arg-min (``tg.min``)."""
        return ops.min(self, axis=_axis(axis), keepdims=keepdims)

    def prod(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        """Π over ``axis``, exact at zeros (``tg.prod``)."""
        return ops.prod(self, axis=_axis(axis), keepdims=keepdims)

    def var(self, axis: int | Sequence[int] | None = None, ddof: int = 0, keepdims: bool = False) -> "Tensor":
        """Variance over ``axis``, ``ddof=0`` by default as numpy (``tg.var``)."""
        return ops.var(self, axis=_axis(axis), ddof=ddof, keepdims=keepdims)

    def std(self, axis: int | Sequence[int] | None = None, ddof: int = 0, keepdims: bool = False) -> "Tensor":
        """Standard deviation over ``axis`` (``tg.std``)."""
        return ops.std(self, axis=_axis(axis), ddof=ddof, keepdims=keepdims)

    def logsumexp(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        """ln Σ eˣ over ``axis``, stable (``tg.logsumexp``)."""
        return ops.logsumexp(self, axis=_axis(axis), keepdims=keepdims)

    def cumsum(self, axis: int | None = None) -> "Tensor":
        """Running sum along ``axis`` (None: flattened) (``tg.cumsum``)."""
        return ops.cumsum(self, axis=axis)

    def cumprod(self, axis: int | None = None) -> "Tensor":
        """Running product along ``axis`` (None: flattened), exact at zeros (``tg.cumprod``)."""
        return ops.cumprod(self, axis=axis)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> "Tensor":
        """Index of the first maximum; no gradient (``tg.argmax``)."""
        return ops.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> "Tensor":
        """Index of the first minimum; no gradient (``tg.argmin``)."""
        return ops.argmin(self, axis=axis, keepdims=keepdims)

    def any(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        """Any element non-zero?  A boolean tensor (``tg.any``)."""
        return ops.any(self, axis=_axis(axis), keepdims=keepdims)

    def all(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        """All elements non-zero?  A boolean tensor (``tg.all``)."""
        return ops.all(self, axis=_axis(axis), keepdims=keepdims)

    def softmax(self, axis: int = -1) -> "Tensor":
        """e^{x_i} / Σ e^{x_k} along ``axis``, stable (``tg.softmax``; eqs 3 and 6)."""
        return ops.softmax(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> "Tensor":
        """ln softmax along ``axis``, stable (``tg.log_softmax``)."""
        return ops.log_softmax(self, axis=axis)

    # ------------------------------------------------------------------ methods: shape and indexing
    def reshape(self, *shape: Any) -> "Tensor":
        """Same elements, new shape: ``t.reshape(2, 3)`` or ``t.reshape((2, 3))``; -1 infers one size."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape=tuple(int(s) for s in shape))

    def transpose(self, *axes: Any) -> "Tensor":
        """Permute axes (all reversed if none given) (``tg.transpose``)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes=tuple(axes) if axes else None)

    @property
    def T(self) -> "Tensor":
        """All axes reversed (numpy ``.T``)."""
        return ops.transpose(self, axes=None)

    def broadcast_to(self, *shape: Any) -> "Tensor":
        """Repeat along broadcast axes to ``shape`` (``tg.broadcast_to``)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.broadcast_to(self, shape=tuple(int(s) for s in shape))

    def squeeze(self, axis: int | Sequence[int] | None = None) -> "Tensor":
        """Drop axes of size 1 (``tg.squeeze``)."""
        return ops.squeeze(self, axis)

    def unsqueeze(self, axis: int) -> "Tensor":
        """A new axis of size 1 at ``axis`` (``tg.unsqueeze``, numpy's ``expand_dims``)."""
        return ops.expand_dims(self, axis)

    expand_dims = unsqueeze

    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> "Tensor":
        """Merge axes ``start_axis..end_axis`` into one (``tg.flatten``)."""
        return ops.flatten(self, start_axis, end_axis)

    def flip(self, axis: int | Sequence[int] | None = None) -> "Tensor":
        """Reverse along ``axis`` (None: all) (``tg.flip``)."""
        return ops.flip(self, axis=tuple(axis) if isinstance(axis, list) else axis)

    def repeat(self, repeats: int, axis: int | None = None) -> "Tensor":
        """Each element ``repeats`` times along ``axis`` (numpy's ``repeat``; ``tg.repeat``)."""
        return ops.repeat(self, repeats, axis)

    def tile(self, reps: Any) -> "Tensor":
        """Whole copies along each axis (numpy's ``tile``; ``tg.tile``)."""
        return ops.tile(self, reps)

    def split(self, indices_or_sections: Any, axis: int = 0) -> list["Tensor"]:
        """numpy's ``split`` (``tg.split``)."""
        return ops.split(self, indices_or_sections, axis)

    def chunk(self, chunks: int, axis: int = 0) -> list["Tensor"]:
        """PyTorch's ``chunk`` (``tg.chunk``)."""
        return ops.chunk(self, chunks, axis)

    def roll(self, shift: Any, axis: Any = None) -> "Tensor":
        """Cyclic shift along ``axis`` (None: flattened), numpy's ``roll`` (``tg.roll``)."""
        return ops.roll(self, shift=shift, axis=axis)

    def ravel(self) -> "Tensor":
        """The elements as one axis (``tg.ravel``)."""
        return ops.ravel(self)

    def tril(self, k: int = 0) -> "Tensor":
        """Lower triangle of the last two axes (``tg.tril``)."""
        return ops.tril(self, k)

    def triu(self, k: int = 0) -> "Tensor":
        """Upper triangle of the last two axes (``tg.triu``)."""
        return ops.triu(self, k)

    def swapaxes(self, axis1: int, axis2: int) -> "Tensor":
        """Exchange two axes (``tg.swapaxes``)."""
        return ops.swapaxes(self, axis1, axis2)

    def moveaxis(self, source: Any, destination: Any) -> "Tensor":
        """Move axes to new positions (``tg.moveaxis``)."""
        return ops.moveaxis(self, source, destination)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> "Tensor":
        """The diagonal, as the last axis (``tg.diagonal``)."""
        return ops.diagonal(self, offset=offset, axis1=axis1, axis2=axis2)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> "Tensor":
        """Σ of the diagonal (``tg.trace``)."""
        return ops.trace(self, offset, axis1, axis2)

    def gather(self, axis: int, index: Any) -> "Tensor":
        """PyTorch's ``gather`` (``tg.gather``)."""
        return ops.gather(self, axis, index)

    def take_along_axis(self, indices: Any, axis: int) -> "Tensor":
        """numpy's ``take_along_axis`` (``tg.take_along_axis``)."""
        return ops.take_along_axis(self, indices, axis)

    # ------------------------------------------------------------------ methods: linear algebra
    def dot(self, other: Any) -> "Tensor":
        """numpy's ``dot`` (``tg.dot``)."""
        return ops.dot(self, other)

    def matmul(self, other: Any) -> "Tensor":
        """``self @ other`` with numpy's matmul semantics (``tg.matmul``)."""
        return ops.matmul(self, other)

    def outer(self, other: Any) -> "Tensor":
        """Outer product of the flattened tensors (``tg.outer``)."""
        return ops.outer(self, other)


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _axis(axis: Any) -> Any:
    if isinstance(axis, list):
        return tuple(axis)
    return axis


_BASIC = (int, slice, type(None), type(Ellipsis))


def _plain_index(index: Any) -> Any:
    """A static copy of an index: Tensors, lists and nested tuples inside it become numpy arrays
    (copies, so changing the caller's index array later cannot change the recorded gradient)."""
    if type(index) is tuple:
        for p in index:
            if type(p) not in _BASIC:
                return tuple(p if type(p) in _BASIC else _index_part(p) for p in index)
        return index  # the common case: slices and ints
    if type(index) in _BASIC:
        return index
    return _index_part(index)


def _index_part(p: Any) -> Any:
    if isinstance(p, Tensor):
        p = p.data
    if isinstance(p, (list, tuple)) and len(p) == 0:
        return np.array(p, dtype=np.intp)  # numpy: an empty list indexes as an empty integer array
    if isinstance(p, (list, tuple, np.ndarray)):
        return np.array(p)
    return p


def seed_tensor(root: Tensor, grad: Any) -> Tensor:
    """The starting gradient of a recorded walk: a Tensor (kept as given if it is one)."""
    if isinstance(grad, Tensor):
        if grad.shape != root.shape:
            raise ValueError(f"backward: grad has shape {grad.shape} but the output has shape {root.shape}")
        return grad
    return Tensor(_seed(root, grad))


register_tensor_type(Tensor)
