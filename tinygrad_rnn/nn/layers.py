"""Layers as PyTorch's ``torch.nn`` has them (same names, shapes, parameter names and default
initialisation, so weights copy across), built from engine ops only: their gradients are the walk's.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from .. import ops
from .. import random as _random
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

__all__ = ["Linear", "Embedding", "LayerNorm", "Dropout", "Sequential", "ModuleList", "Identity", "Tanh", "ReLU",
           "Sigmoid", "GELU", "SiLU", "LeakyReLU", "ELU", "Softplus", "Softmax", "LogSoftmax", "Flatten"]


class Linear(Module):
    """y = x Wᵀ + b, W of shape (out_features, in_features).  Initialised as PyTorch's: W and b
    uniform on ±1/√in_features (``kaiming_uniform_(a=√5)``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, generator: Any = None,
                 dtype: Any = np.float64) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        self.bias = Parameter(np.empty(self.out_features, dtype=dtype)) if bias else None
        rng = _random.generator(generator, "nn.Linear")
        init.kaiming_uniform_(self.weight, a=math.sqrt(5.0), generator=rng)
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound, generator=rng)

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear: input of shape {x.shape} does not end in in_features={self.in_features}")
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """Rows of a (num_embeddings, embedding_dim) weight, picked by integer indices (any shape);
    initialised N(0, 1) as PyTorch's.  A repeated index accumulates its gradient.  An index out of
    [0, num_embeddings) is an ``IndexError`` (numpy would wrap a negative one)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, generator: Any = None, dtype: Any = np.float64) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=dtype))
        init.normal_(self.weight, generator=_random.generator(generator, "nn.Embedding"))

    def forward(self, indices: Any) -> Tensor:
        idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            bad = idx.min() if idx.min() < 0 else idx.max()
            raise IndexError(f"Embedding: index {int(bad)} is out of range for {self.num_embeddings} embeddings")
        return self.weight[idx]

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """(x − mean) / √(var + eps) · weight + bias over the last ``len(normalized_shape)`` axes (the
    biased variance, as PyTorch); weight 1 and bias 0 at first."""

    def __init__(self, normalized_shape: int | Iterable[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = np.float64) -> None:
        super().__init__()
        shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, float(eps), bool(elementwise_affine)
        self.weight = Parameter(np.ones(shape, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape, dtype=dtype)) if elementwise_affine and bias else None

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        n = len(self.normalized_shape)
        if x.shape[x.ndim - n:] != self.normalized_shape:
            raise ValueError(f"LayerNorm: input of shape {x.shape} does not end in {self.normalized_shape}")
        axes = tuple(range(x.ndim - n, x.ndim))
        centred = x - x.mean(axis=axes, keepdims=True)
        y = centred / (ops.mean(centred * centred, axis=axes, keepdims=True) + self.eps).sqrt()
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class Dropout(Module):
    """In training, each element is zeroed with probability ``p`` and the rest scaled by 1/(1 − p);
    in ``eval()`` mode the identity.  The mask comes from ``generator`` (default: the library's
    default generator, reseeded by ``tg.manual_seed``), so a seeded run drops the same elements."""

    def __init__(self, p: float = 0.5, generator: Any = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.generator = generator

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        keep = _random.generator(self.generator, "nn.Dropout").random(x.shape) >= self.p
        return x * (keep / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """The modules in order, each one's output the next one's input; named ``"0"``, ``"1"``, ..."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __iter__(self) -> Any:
        return iter(self._modules.values())

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(Module):
    """A list of modules, registered as ``"0"``, ``"1"``, ... (no forward of its own)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m: Module) -> "ModuleList":
        self.add_module(str(len(self._modules)), m)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __iter__(self) -> Any:
        return iter(self._modules.values())


# ----------------------------------------------------------------------------- activations as modules
class _Activation(Module):
    fn: Any = None

    def forward(self, x: Any) -> Tensor:
        return type(self).fn(x)


class Identity(Module):
    def forward(self, x: Any) -> Any:
        return x


class Tanh(_Activation):
    fn = ops.tanh


class ReLU(_Activation):
    fn = ops.relu


class Sigmoid(_Activation):
    fn = ops.sigmoid


class SiLU(_Activation):
    fn = ops.silu


class GELU(Module):
    """GELU with the tanh approximation (``approximate="tanh"``, PyTorch's name).  The exact erf form,
    PyTorch's default, is not an engine op: asking for it is an error, never the other function."""

    def __init__(self, approximate: str = "tanh") -> None:
        super().__init__()
        if approximate != "tanh":
            raise ValueError("GELU: only approximate='tanh' is available (the engine has no erf); PyTorch's default "
                             "is the exact form, so pass approximate='tanh' there too to compare")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return ops.gelu(x)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Tensor:
        return ops.leaky_relu(x, negative_slope=self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: Any) -> Tensor:
        return ops.elu(x, alpha=self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    """log(1 + e^{βx})/β, with no threshold (PyTorch switches to the identity above 20)."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = float(beta)

    def forward(self, x: Any) -> Tensor:
        return ops.softplus(x, beta=self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


class Softmax(Module):
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = int(dim)

    def forward(self, x: Any) -> Tensor:
        return ops.softmax(x, axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x: Any) -> Tensor:
        return ops.log_softmax(x, axis=self.dim)


class Flatten(Module):
    """All axes from ``start_dim`` on flattened into one (default: all but the first)."""

    def __init__(self, start_dim: int = 1) -> None:
        super().__init__()
        self.start_dim = int(start_dim)

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        s = self.start_dim % x.ndim if x.ndim else 0
        return x.reshape(*x.shape[:s], -1)
