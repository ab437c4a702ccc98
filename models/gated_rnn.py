"""The recurrent baselines people actually use, next to the seed's model: an LSTM or a GRU
(``tinygrad_rnn.nn.LSTMCell`` / ``GRUCell``, PyTorch's equations) read out at every step,

    h_t = cell(x_t, h_{t-1})  (h_0 = 0, c_0 = 0),   Ω_t = V h_t + c,   ŷ_t = softmax(Ω_t),
    L = Σ_t −y_t · ln ŷ_t   (eq 7, as the seed's model),

with the same interface as :class:`~tinygrad_rnn.models.attention_rnn.AttentionRNN` (``forward``,
``loss``, ``params``), so the training command, its checkpoints and the sweep treat them alike.  No
attention: these answer "does the seed's attention beat an LSTM or a GRU at the same budget?".
The cell and readout start as PyTorch's do (uniform on ±1/√H, ±1/√H), from a generator seeded
with ``seed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn

from .attention_rnn import Forward
from .data import as_batch

__all__ = ["GatedRNN", "CELLS", "parameter_count", "matching_hidden_size"]

CELLS = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}
GATES = {"tanh": 1, "gru": 3, "lstm": 4}


def parameter_count(cell: str, D: int, H: int, K: int) -> int:
    """Parameters of a model with this cell: the seed's (tanh, with or without attention) has
    W, U, b (H² + HD + H) and V, c (KH + K); a gated cell G·(H² + HD + 2H) (two biases per gate, as
    PyTorch) and the same readout."""
    g = GATES[cell]
    recurrent = H * H + H * D + H if cell == "tanh" else g * (H * H + H * D + 2 * H)
    return recurrent + K * H + K


def matching_hidden_size(cell: str, D: int, H: int, K: int) -> int:
    """The hidden size at which a ``cell`` model has the parameter count closest to the seed's model
    at hidden size ``H`` (ties: the smaller)."""
    target = parameter_count("tanh", D, H, K)
    return min(range(1, 4 * H + 1), key=lambda h: (abs(parameter_count(cell, D, h, K) - target), h))


class GatedRNN(nn.Module):
    """An LSTM or GRU with a linear readout at every step (see the module docstring)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, cell: str = "lstm", seed: int = 0) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"GatedRNN: cell must be one of {sorted(CELLS)}, got {cell!r}")
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"GatedRNN: {name} must be a positive integer, got {v!r}")
        rng = np.random.default_rng(seed)
        self.cell_kind = cell
        self.input_size, self.hidden_size, self.output_size = int(input_size), int(hidden_size), int(output_size)
        self.cell = CELLS[cell](self.input_size, self.hidden_size, generator=rng)
        self.readout = nn.Linear(self.hidden_size, self.output_size, generator=rng)
        self.attention = False  # (what the training command's reports ask)
        self.attend_h0 = False

    def params(self) -> dict[str, tg.Tensor]:
        """``{dotted name: parameter}`` (``cell.weight_ih``, ..., ``readout.bias``)."""
        return dict(self.named_parameters())

    def numpy_params(self) -> dict[str, np.ndarray]:
        return self.state_dict()

    def extra_repr(self) -> str:
        return f"cell={self.cell_kind!r}"

    def forward(self, xs: Any, mode: str = "fused") -> Forward:
        """h_1..h_T and the readout; ``mode`` is accepted for the seed model's interface (one
        formulation here: the cell's ops, step by step)."""
        if mode not in ("fused", "unrolled"):
            raise ValueError(f"GatedRNN.forward: mode must be 'fused' or 'unrolled', got {mode!r}")
        X, _, batched = as_batch(xs, None, self.input_size, self.output_size)
        xt = tg.Tensor(X)
        state: Any = None
        steps = []
        for t in range(X.shape[1]):
            state = self.cell(xt[:, t], state)
            steps.append(state[0] if self.cell_kind == "lstm" else state)
        hidden = tg.stack(steps, axis=1)
        logits = self.readout(hidden)
        probs = logits.softmax(axis=-1)
        if not batched:
            hidden, logits, probs = hidden[0], logits[0], probs[0]
        return Forward(hidden=hidden, attention=None, attention_h0=None, context=hidden, logits=logits, probs=probs,
                       steps=steps)

    def loss(self, xs: Any, ys: Any, mode: str = "fused", reduction: str = "sum") -> tg.Tensor:
        """Σ_{b,t} −y_t · ln ŷ_t (eq 7) over the steps ``ys`` scores (one-hot rows; zero rows score nothing)."""
        if reduction not in ("sum", "mean"):
            raise ValueError(f"GatedRNN.loss: reduction must be 'sum' or 'mean', got {reduction!r}")
        X, Y, _ = as_batch(xs, ys, self.input_size, self.output_size)
        logits = self.forward(X, mode).logits
        total = tg.cross_entropy(logits, Y, axis=-1, reduction="sum")
        return total if reduction == "sum" else total / float(Y.shape[0] * Y.shape[1])
