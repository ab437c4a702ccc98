"""Input conventions shared by the engine model and the closed forms.

``xs``: (T, D) for one sequence, or batch-first (B, T, D).
``ys``: integer classes (T,) / (B, T), or one-hot / probability rows (T, K) / (B, T, K).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_batch(xs: Any, ys: Any, input_size: int, output_size: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate ``xs``/``ys`` and return ``(X (B,T,D) float64, Y (B,T,K) float64 rows, batched)``.

    Raises ``ValueError`` naming the argument and the expected shape.
    """
    X = np.asarray(xs.data if hasattr(xs, "data") and not isinstance(xs, np.ndarray) else xs)
    if X.dtype.kind not in "fiu":
        raise ValueError(f"xs: expected a float array, got dtype {X.dtype}")
    if X.ndim not in (2, 3):
        raise ValueError(f"xs: expected shape (T, {input_size}) or (B, T, {input_size}), got {X.shape}")
    batched = X.ndim == 3
    if not batched:
        X = X[None]
    B, T, D = X.shape
    if D != input_size:
        raise ValueError(f"xs: last axis must be input_size={input_size}, got shape {np.shape(xs)}")
    if T == 0 or B == 0:
        raise ValueError(f"xs: empty sequence (shape {np.shape(xs)}); need at least one time step")
    if not np.isfinite(X).all():
        raise ValueError("xs: contains NaN or inf")
    X = X.astype(np.float64)
    if ys is None:
        return X, np.zeros((B, T, output_size)), batched
    Y = np.asarray(ys.data if hasattr(ys, "data") and not isinstance(ys, np.ndarray) else ys)
    lead = (B, T) if batched else (T,)
    if Y.dtype.kind in "iu":
        if Y.shape != lead:
            raise ValueError(f"ys: integer classes must have shape {lead} to match xs {np.shape(xs)}, got {Y.shape}")
        if Y.min() < 0 or Y.max() >= output_size:
            raise ValueError(
                f"ys: class index out of range [0, {output_size}): got values {int(Y.min())}..{int(Y.max())}"
            )
        Y = np.eye(output_size)[Y.reshape(B, T)]
    elif Y.dtype.kind == "f":
        if Y.shape != lead + (output_size,):
            raise ValueError(
                f"ys: one-hot / probability rows must have shape {lead + (output_size,)}, got {Y.shape}"
            )
        if not np.isfinite(Y).all():
            raise ValueError("ys: contains NaN or inf")
        Y = Y.reshape(B, T, output_size).astype(np.float64)
    else:
        raise ValueError(f"ys: expected integer classes or float rows, got dtype {Y.dtype}")
    return X, Y, batched
