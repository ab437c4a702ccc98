"""Initialisers, as PyTorch's ``torch.nn.init`` (same names, same distributions), each writing into
a parameter's array in place and drawing from ``generator`` (default: the library's default
generator, reseeded by ``tg.manual_seed``; :mod:`tinygrad_rnn.random`).

fan_in / fan_out of a weight of shape ``(out, in, *k)`` are ``in·Πk`` and ``out·Πk``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import random as _random
from ..tensor import Tensor

__all__ = ["uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_", "xavier_normal_",
           "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "calculate_gain", "fans"]


def _write(t: Tensor, values: np.ndarray, name: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"nn.init.{name}: expected a Tensor, got {type(t).__name__}")
    if not t.data.flags.writeable:
        raise RuntimeError(f"nn.init.{name}: cannot write into this tensor: {t.is_saved() or 'it is read-only'}")
    t.data[...] = values
    return t


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape`` (at least 2-D, as PyTorch requires)."""
    if len(shape) < 2:
        raise ValueError(f"nn.init: fan in and fan out need a tensor of at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """PyTorch's recommended gains: linear/sigmoid 1, tanh 5/3, relu √2, leaky_relu √(2/(1+a²)), selu 3/4."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + a * a))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"nn.init.calculate_gain: unknown nonlinearity {nonlinearity!r}")


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """U(a, b)."""
    rng = _random.generator(generator, "nn.init.uniform_")
    return _write(t, rng.uniform(a, b, t.shape), "uniform_")


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """N(mean, std²)."""
    rng = _random.generator(generator, "nn.init.normal_")
    return _write(t, rng.normal(mean, std, t.shape), "normal_")


def constant_(t: Tensor, value: float) -> Tensor:
    return _write(t, np.full(t.shape, value), "constant_")


def zeros_(t: Tensor) -> Tensor:
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    return constant_(t, 1.0)


def xavier_uniform_(t: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """U(−a, a), a = gain·√(6 / (fan_in + fan_out))  (Glorot and Bengio, 2010)."""
    fan_in, fan_out = fans(t.shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a, generator)


def xavier_normal_(t: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """N(0, σ²), σ = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(t.shape)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _fan(t: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"nn.init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fans(t.shape)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Any = None) -> Tensor:
    """U(−b, b), b = gain·√(3 / fan)  (He et al., 2015)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(t, mode))
    return uniform_(t, -bound, bound, generator)


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Any = None) -> Tensor:
    """N(0, σ²), σ = gain / √fan."""
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode)), generator)


def orthogonal_(t: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """A (semi-)orthogonal matrix (the trailing axes flattened), scaled by ``gain``: the Q of the QR
    decomposition of a normal matrix, with the signs of R's diagonal (Saxe et al., 2013)."""
    if t.ndim < 2:
        raise ValueError(f"nn.init.orthogonal_: needs at least 2 dimensions, got shape {t.shape}")
    rows, cols = t.shape[0], int(np.prod(t.shape[1:]))
    rng = _random.generator(generator, "nn.init.orthogonal_")
    flat = rng.standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(t, gain * q.reshape(t.shape), "orthogonal_")
