"""Results with no gradient (booleans, indices, one-hot codes): plain tensors that record nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..op import constant

if TYPE_CHECKING:  # for annotations only, never run: tensor.py is above the op set
    from ..tensor import Tensor


def _data(x: Any) -> Any:
    return getattr(x, "data", x)


def isfinite(x: Any) -> Tensor:
    """Elementwise finiteness (a boolean tensor, no gradient)."""
    return constant(np.isfinite(_data(x)))


def isnan(x: Any) -> Tensor:
    """Elementwise NaN test (a boolean tensor, no gradient)."""
    return constant(np.isnan(_data(x)))


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the first maximum (of the flattened array if ``axis`` is None); no gradient."""
    return constant(np.argmax(_data(x), axis=axis, keepdims=keepdims))


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the first minimum; no gradient."""
    return constant(np.argmin(_data(x), axis=axis, keepdims=keepdims))


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Is any element true (non-zero)?  A boolean tensor, no gradient."""
    return constant(np.any(_data(x), axis=axis, keepdims=keepdims))


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Are all elements true (non-zero)?  A boolean tensor, no gradient."""
    return constant(np.all(_data(x), axis=axis, keepdims=keepdims))


def one_hot(indices: Any, num_classes: int, dtype: Any = np.float64) -> Tensor:
    """Rows of the identity: out[..., c] = [indices == c] (a constant, no gradient)."""
    idx = np.asarray(_data(indices))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise ValueError(f"one_hot: index out of range [0, {num_classes}): got {int(idx.min())}..{int(idx.max())}")
    return constant((idx[..., None] == np.arange(num_classes)).astype(dtype))
