"""Recurrent cells and sequence layers, with PyTorch's gate equations and parameter layout
(``weight_ih`` (G·H, I), ``weight_hh`` (G·H, H), ``bias_ih``, ``bias_hh``; the sequence layers'
``weight_ih_l0``, ...), so weights copy from ``torch.nn`` and back.  Built from engine ops: BPTT is
the walk over the unrolled steps.

- ``RNNCell``:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)   (or relu)
- ``LSTMCell``: i, f, g, o = σ, σ, tanh, σ of the four blocks of W_ih x + b_ih + W_hh h + b_hh;
  c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c')
- ``GRUCell``:  r, z = σ of the first two blocks of W_ih x + b_ih + W_hh h + b_hh;
  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h

Every parameter starts uniform on ±1/√hidden_size, as PyTorch's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from .. import random as _random
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _affine(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    y = x @ w.T
    return y + b if b is not None else y


def _blocks(t: Tensor, n: int, h: int) -> list[Tensor]:
    return [t[..., k * h:(k + 1) * h] for k in range(n)]


class _CellBase(Module):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, generator: Any = None,
                 dtype: Any = np.float64, suffix: str = "") -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bool(bias)
        g, h = self.gates, self.hidden_size
        names = [f"weight_ih{suffix}", f"weight_hh{suffix}"] + ([f"bias_ih{suffix}", f"bias_hh{suffix}"] if bias else [])
        shapes = [(g * h, self.input_size), (g * h, h), (g * h,), (g * h,)]
        rng = _random.generator(generator, type(self).__name__)
        bound = 1.0 / math.sqrt(h) if h > 0 else 0.0
        for name, shape in zip(names, shapes):
            p = Parameter(np.empty(shape, dtype=dtype))
            init.uniform_(p, -bound, bound, generator=rng)
            self.register_parameter(name, p)
        self._suffix = suffix

    def _weights(self) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        s = self._suffix
        return (getattr(self, f"weight_ih{s}"), getattr(self, f"weight_hh{s}"),
                getattr(self, f"bias_ih{s}", None), getattr(self, f"bias_hh{s}", None))

    def _check(self, x: Tensor, h: Tensor | None, what: str = "hx") -> tuple[Tensor, bool]:
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input of shape {x.shape}; expected (batch, {self.input_size}) "
                             f"or ({self.input_size},)")
        batched = x.ndim == 2
        if h is not None and h.shape != ((x.shape[0], self.hidden_size) if batched else (self.hidden_size,)):
            raise ValueError(f"{type(self).__name__}: {what} of shape {h.shape} for input {x.shape}; expected "
                             f"{(x.shape[0], self.hidden_size) if batched else (self.hidden_size,)}")
        return x, batched

    def _zeros(self, x: Tensor) -> Tensor:
        shape = (x.shape[0], self.hidden_size) if x.ndim == 2 else (self.hidden_size,)
        return Tensor(np.zeros(shape, dtype=x.dtype if x.dtype.kind == "f" else np.float64))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (``nonlinearity="relu"``: relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 generator: Any = None, dtype: Any = np.float64, suffix: str = "") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, generator, dtype, suffix)
        self.nonlinearity = nonlinearity

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        x, _ = self._check(_tensor(x), None if hx is None else _tensor(hx))
        h = self._zeros(x) if hx is None else _tensor(hx)
        w_ih, w_hh, b_ih, b_hh = self._weights()
        pre = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
        return pre.tanh() if self.nonlinearity == "tanh" else pre.relu()


class LSTMCell(_CellBase):
    """(h', c') from (x, (h, c)); gates i, f, g, o in PyTorch's order."""

    gates = 4

    def forward(self, x: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        x = _tensor(x)
        if hx is None:
            h, c = self._zeros(x), self._zeros(x)
        else:
            h, c = _tensor(hx[0]), _tensor(hx[1])
            self._check(x, c, "c")
        self._check(x, h, "h")
        w_ih, w_hh, b_ih, b_hh = self._weights()
        i, f, g, o = _blocks(_affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh), 4, self.hidden_size)
        c2 = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c2.tanh(), c2


class GRUCell(_CellBase):
    """h' from (x, h); gates r, z, n in PyTorch's order (n reads r ⊙ (W_hn h + b_hn))."""

    gates = 3

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        x, _ = self._check(_tensor(x), None if hx is None else _tensor(hx))
        h = self._zeros(x) if hx is None else _tensor(hx)
        w_ih, w_hh, b_ih, b_hh = self._weights()
        xr, xz, xn = _blocks(_affine(x, w_ih, b_ih), 3, self.hidden_size)
        hr, hz, hn = _blocks(_affine(h, w_hh, b_hh), 3, self.hidden_size)
        r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
        n = (xn + r * hn).tanh()
        return (1.0 - z) * n + z * h


class _Sequence(Module):
    cell: Any = None

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 generator: Any = None, dtype: Any = np.float64, **cell_kw: Any) -> None:
        super().__init__()
        if dropout:
            raise ValueError(f"{type(self).__name__}: dropout between layers is not supported (got {dropout}); "
                             "stack single layers with nn.Dropout between them")
        if bidirectional:
            raise ValueError(f"{type(self).__name__}: bidirectional=True is not supported")
        if num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers must be at least 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        rng = _random.generator(generator, type(self).__name__)
        self._cells = []
        for k in range(self.num_layers):
            cell = type(self).cell(self.input_size if k == 0 else self.hidden_size, self.hidden_size, bias,
                                   generator=rng, dtype=dtype, suffix=f"_l{k}", **cell_kw)
            for name, p in cell._parameters.items():  # PyTorch's flat names: weight_ih_l0, ...
                self.register_parameter(name, p)
            self._cells.append(cell)

    def _steps(self, x: Any) -> tuple[Tensor, bool]:
        x = _tensor(x)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input of shape {x.shape}; expected (T, B, {self.input_size}), "
                             f"(B, T, {self.input_size}) with batch_first=True, or (T, {self.input_size})")
        batched = x.ndim == 3
        if x.shape[1 if batched and self.batch_first else 0] == 0:
            raise ValueError(f"{type(self).__name__}: input of shape {x.shape} has no time steps")
        if batched and self.batch_first:
            x = x.transpose((1, 0, 2))
        return x, batched

    def _initial(self, h0: Any, x: Tensor, batched: bool, what: str) -> list[Tensor | None]:
        if h0 is None:
            return [None] * self.num_layers
        h0 = _tensor(h0)
        want = (self.num_layers, x.shape[1], self.hidden_size) if batched else (self.num_layers, self.hidden_size)
        if h0.shape != want:
            raise ValueError(f"{type(self).__name__}: {what} of shape {h0.shape}; expected {want}")
        return [h0[k] for k in range(self.num_layers)]

    def _out(self, hs: list[Tensor]) -> Tensor:
        out = ops.stack(hs, axis=0)
        return out.transpose((1, 0, 2)) if self.batch_first and out.ndim == 3 else out

    def extra_repr(self) -> str:
        extra = "" if self.num_layers == 1 else f", num_layers={self.num_layers}"
        extra += "" if self.bias else ", bias=False"
        return f"{self.input_size}, {self.hidden_size}{extra}" + (", batch_first=True" if self.batch_first else "")


class RNN(_Sequence):
    """``output, h_n = rnn(x, h0)``: output (T, B, H) (batch_first: (B, T, H)) holds the last
    layer's h_t for every t; h_n (num_layers, B, H) each layer's last."""

    cell = RNNCell

    def forward(self, x: Any, h0: Any = None) -> tuple[Tensor, Tensor]:
        x, batched = self._steps(x)
        hs = self._initial(h0, x, batched, "h0")
        last = []
        seq = [x[t] for t in range(x.shape[0])]
        for k, cell in enumerate(self._cells):
            h = hs[k]
            outs = []
            for xt in seq:
                h = cell(xt, h)
                outs.append(h)
            seq = outs
            last.append(h)
        return self._out(seq), ops.stack(last, axis=0)


class GRU(RNN):
    """As :class:`RNN`, with :class:`GRUCell` steps."""

    cell = GRUCell


class LSTM(_Sequence):
    """``output, (h_n, c_n) = lstm(x, (h0, c0))``, shapes as :class:`RNN`."""

    cell = LSTMCell

    def forward(self, x: Any, hx: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        x, batched = self._steps(x)
        hs = self._initial(None if hx is None else hx[0], x, batched, "h0")
        cs = self._initial(None if hx is None else hx[1], x, batched, "c0")
        last_h, last_c = [], []
        seq = [x[t] for t in range(x.shape[0])]
        for k, cell in enumerate(self._cells):
            state = None if hs[k] is None else (hs[k], cs[k])
            outs = []
            for xt in seq:
                state = cell(xt, state)
                outs.append(state[0])
            seq = outs
            last_h.append(state[0])
            last_c.append(state[1])
        return self._out(seq), (ops.stack(last_h, axis=0), ops.stack(last_c, axis=0))
