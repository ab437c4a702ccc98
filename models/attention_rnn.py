"""The seed's attention RNN (eqs 1–7) as a graph of engine ops.

For t = 1..T, with h_0 = 0:

    (1) h_t = tanh(W h_{t−1} + U x_t + b)
    (2) A_{t,i} = h_i · h_t                       i = 1..t   (i = 0..t with attend_h0)
    (3) α_{t,i} = exp(A_{t,i}) / Σ_k exp(A_{t,k})  (softmax over the same i)
    (4) Z_t = Σ_i α_{t,i} h_i
    (5) Ω_t = V Z_t + c
    (6) ŷ_t = softmax(Ω_t)
    (7) L_t = −y_t · ln ŷ_t,      L = Σ_t L_t (and summed over the batch)

**Which i?** The printed eqs 3–4 sum k from 0 while eq 2 defines scores for i = 1..t.
The seed's own worked examples settle it: at t = 1 it writes softmax(A_{1,1}) =
e^{h_1·h_1}/e^{h_1·h_1} = 1 and Z_1 = h_1, and at t = 2 the denominators are
e^{h_1·h_2} + e^{h_2·h_2}, with no h_0 term.  So the default is i = 1..t.
``attend_h0=True`` is the literal k = 0..t reading: h_0 = 0 joins the softmax with score
h_0 · h_t = 0, taking weight from the others while adding nothing to Z_t.

The model is a function of its parameters: :func:`attention_rnn` (``params, xs`` → the
intermediates) and :func:`loss` (``params, xs, ys`` → eq 7), where ``params`` maps
``"W", "U", "b", "V", "c"`` to Tensors (used as they are: their ``.grad`` receives the gradient)
or arrays (constants).  :class:`AttentionRNN` is a thin holder of leaf parameters that calls them.

Two ways to build the same graph (same loss and gradients to 1e-12):

- ``mode="unrolled"``: literally per time step, one op per symbol of eqs 1–7, each step's
  ops inside ``tg.scope("t=<t>")`` and tagged ``eq=<n>``: the graph viz draws.
- ``mode="fused"``: the recurrence step by step (it is sequential), then attention for all
  t at once with a causal mask (A = H Hᵀ, masked softmax, Z = α H), batched over B.

Row-vector convention in code: a batch of states is (B, H) and ``W h`` is ``h @ Wᵀ``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn

from .data import as_batch

PARAM_NAMES = ("W", "U", "b", "V", "c")
MODES = ("fused", "unrolled")


@dataclass
class Forward:
    """What a learner wants to look at after a forward pass (Tensors; batch axis dropped for
    an unbatched input).

    hidden:       h_1..h_T, (B, T, H)
    attention:    α_{t,i} over i = 1..T, (B, T, T), zero above the diagonal (None for the
                  ``attention=False`` baseline, where Z_t = h_t)
    attention_h0: α_{t,0}, the weight on h_0, (B, T) — only with ``attend_h0`` (else None)
    context:      Z_t, (B, T, H)
    logits:       Ω_t, (B, T, K)
    probs:        ŷ_t, (B, T, K) (eq 6)
    steps:        the T tensors h_1..h_T as the recurrence made them, (B, H) each; call
                  ``retain_grad()`` on them before backward to read the total ∂L/∂h_t
    """

    hidden: tg.Tensor
    attention: tg.Tensor | None
    attention_h0: tg.Tensor | None
    context: tg.Tensor
    logits: tg.Tensor
    probs: tg.Tensor | None
    steps: list[tg.Tensor] | None = None


def check_params(params: Mapping[str, Any], where: str = "attention_rnn") -> tuple[int, int, int]:
    """The sizes (D, H, K) of ``params`` {"W" (H,H), "U" (H,D), "b" (H,), "V" (K,H), "c" (K,)}; a
    missing name or a wrong shape is a one-line ``ValueError`` that starts with ``where``."""
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"{where}: missing parameter(s) {missing}")
    shapes = {k: np.shape(getattr(params[k], "data", params[k])) for k in PARAM_NAMES}
    W, U, V = shapes["W"], shapes["U"], shapes["V"]
    if len(W) != 2 or W[0] != W[1]:
        raise ValueError(f"{where}: W must be (H, H), got {W}")
    H = W[0]
    expected = {"U": (H, U[-1] if len(U) == 2 else -1), "b": (H,), "V": (V[0] if len(V) == 2 else -1, H)}
    for k, shape in expected.items():
        if shapes[k] != shape or -1 in shape:
            raise ValueError(f"{where}: {k} must have shape {_fmt(k, H)}, got {shapes[k]}")
    if shapes["c"] != (V[0],):
        raise ValueError(f"{where}: c must have shape (K,) = ({V[0]},), got {shapes['c']}")
    return U[1], H, V[0]


def attention_rnn(params: Mapping[str, Any], xs: Any, mode: str = "fused", attend_h0: bool = False,
                  attention: bool = True) -> Forward:
    """Eqs 1–6 for ``xs`` ((T, D) or (B, T, D)) with these parameters: the intermediates
    (:class:`Forward`; the batch axis dropped for an unbatched input)."""
    D, _, K = check_params(params)
    X, _, batched = as_batch(xs, None, D, K)
    fwd, _ = _run(_tensors(params), X, None, _check_mode(mode), attend_h0, attention, want_forward=True)
    if batched:
        return fwd
    return Forward(*(None if v is None else v[0] for v in (fwd.hidden, fwd.attention, fwd.attention_h0,
                                                             fwd.context, fwd.logits, fwd.probs)),
                   steps=[h[0] for h in fwd.steps] if fwd.steps is not None else None)


def loss(params: Mapping[str, Any], xs: Any, ys: Any, mode: str = "fused", reduction: str = "sum",
         attend_h0: bool = False, attention: bool = True) -> tg.Tensor:
    """L = Σ_{b,t} L_t (eq 7) as a function of the parameters, a scalar Tensor; ``reduction="mean"``
    divides by the number of positions B·T; ``"none"`` returns the per-step losses (B, T) or (T,).
    ``ys``: class indices (B, T) / (T,) or one-hot targets.  E.g. ``tg.grad(lambda W: loss({**params,
    "W": W}, xs, ys))(W)``, or a hand derivation of eqs 10–17 checked with
    ``tinygrad_rnn.testing.check_gradient``."""
    if reduction not in ("sum", "mean", "none"):
        raise ValueError(f"loss: reduction must be 'sum', 'mean' or 'none', got {reduction!r}")
    D, _, K = check_params(params)
    X, Y, batched = as_batch(xs, ys, D, K)
    per_step = batch_loss(params, X, Y, mode, "none", attend_h0, attention)
    if reduction == "none":
        return per_step if batched else per_step[0]
    total = per_step.sum()
    return total if reduction == "sum" else total / float(per_step.size)


def batch_loss(params: Mapping[str, Any], X: Any, Y: Any, mode: str = "fused", reduction: str = "sum",
               attend_h0: bool = False, attention: bool = True) -> tg.Tensor:
    """Eq 7 on a batch already checked by :func:`~tinygrad_rnn.models.data.as_batch`: ``X`` (B, T, D)
    and ``Y`` (B, T, K) float rows, arrays or Tensors.  No value is read (no validation), so
    ``tg.compile`` can trace it: :func:`loss` is ``as_batch`` and then this."""
    if reduction not in ("sum", "mean", "none"):
        raise ValueError(f"batch_loss: reduction must be 'sum', 'mean' or 'none', got {reduction!r}")
    _, per_step = _run(_tensors(params), X, Y, _check_mode(mode), attend_h0, attention, want_forward=False)
    if reduction == "none":
        return per_step
    total = per_step.sum()
    return total if reduction == "sum" else total / float(per_step.size)


class AttentionRNN(nn.Module):
    """The seed's model as a holder of its parameters, an :class:`tinygrad_rnn.nn.Module`: W (H,H),
    U (H,D), b (H,), V (K,H), c (K,) are its parameters (:class:`~tinygrad_rnn.nn.Parameter`), registered
    under those names (so ``state_dict()`` is ``{"W", "U", "b", "V", "c"}``, and a checkpoint is
    that plus the optimizer's state); :meth:`forward` and :meth:`loss` call :func:`attention_rnn`
    and :func:`loss` with them (:meth:`params`).  See the module docstring for the equations."""

    #: what the ``eq`` tags of the unrolled graph stand for (graph legends show it)
    EQUATIONS = {
        1: "h_t = tanh(W h_{t-1} + U x_t + b)",
        2: "A_{t,i} = h_i · h_t",
        3: "α_t = softmax_i(A_{t,i})",
        4: "Z_t = Σ_i α_{t,i} h_i",
        5: "Ω_t = V Z_t + c",
        6: "ŷ_t = softmax(Ω_t)",
        7: "L_t = −y_t · ln ŷ_t",
    }

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        seed: int = 0,
        attend_h0: bool = False,
        attention: bool = True,
    ) -> None:
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"AttentionRNN: {name} must be a positive integer, got {v!r}")
        D, H, K = int(input_size), int(hidden_size), int(output_size)
        rng = np.random.default_rng(seed)
        params = {  # N(0, 1/fan_in): tanh units start in their linear range
            "W": rng.standard_normal((H, H)) / np.sqrt(H),
            "U": rng.standard_normal((H, D)) / np.sqrt(D),
            "b": np.zeros(H),
            "V": rng.standard_normal((K, H)) / np.sqrt(H),
            "c": np.zeros(K),
        }
        super().__init__()
        self._set(params, attend_h0, attention)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], attend_h0: bool = False, attention: bool = True) -> "AttentionRNN":
        """Build from numpy arrays ``{"W", "U", "b", "V", "c"}`` (copied, float64)."""
        check_params(params, "AttentionRNN.from_params")
        arrays = {k: np.array(np.asarray(getattr(params[k], "data", params[k])), dtype=np.float64) for k in PARAM_NAMES}
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model._set(arrays, attend_h0, attention)
        return model

    def _set(self, params: Mapping[str, np.ndarray], attend_h0: bool, attention: bool = True) -> None:
        self.W = nn.Parameter(params["W"], name="W")  # registered by assignment (nn.Module), in this order
        self.U = nn.Parameter(params["U"], name="U")
        self.b = nn.Parameter(params["b"], name="b")
        self.V = nn.Parameter(params["V"], name="V")
        self.c = nn.Parameter(params["c"], name="c")
        self.attend_h0 = bool(attend_h0)
        self.attention = bool(attention)
        self.hidden_size = self.W.shape[0]
        self.input_size = self.U.shape[1]
        self.output_size = self.V.shape[0]

    def params(self) -> dict[str, tg.Tensor]:
        """``{"W", "U", "b", "V", "c"}`` → the parameters, as :func:`attention_rnn` takes them
        (``parameters()``, the Module's, gives them in this order for an optimizer)."""
        return {"W": self.W, "U": self.U, "b": self.b, "V": self.V, "c": self.c}

    def numpy_params(self) -> dict[str, np.ndarray]:
        """Copies of the parameter values, for the closed forms and checkpoints (``state_dict()``)."""
        return self.state_dict()

    def __repr__(self) -> str:
        return (f"AttentionRNN(input_size={self.input_size}, hidden_size={self.hidden_size}, "
                f"output_size={self.output_size}, attend_h0={self.attend_h0}, attention={self.attention})")

    def forward(self, xs: Any, mode: str = "fused") -> Forward:
        """:func:`attention_rnn` with this model's parameters and settings."""
        return attention_rnn(self.params(), xs, mode=mode, attend_h0=self.attend_h0, attention=self.attention)

    def batch_loss(self, X: Any, Y: Any, mode: str = "fused", reduction: str = "sum") -> tg.Tensor:
        """The module's :func:`batch_loss` (eq 7 on a checked batch; what ``tg.compile`` traces)."""
        return batch_loss(self.params(), X, Y, mode, reduction, self.attend_h0, self.attention)

    def loss(self, xs: Any, ys: Any, mode: str = "fused", reduction: str = "sum") -> tg.Tensor:
        """The module's :func:`loss` (eq 7) with this model's parameters and settings."""
        return _loss(self.params(), xs, ys, mode=mode, reduction=reduction, attend_h0=self.attend_h0,
                     attention=self.attention)


_loss = loss  # (the function, for the method of the same name)


# ----------------------------------------------------------------------------- the graph, two ways
def _run(P: Mapping[str, tg.Tensor], X: np.ndarray, Y: np.ndarray | None, mode: str, attend_h0: bool,
         attention: bool, want_forward: bool) -> tuple[Forward | None, tg.Tensor | None]:
    """The one dispatch on the mode: the intermediates (if ``want_forward``) and, given targets
    ``Y``, the per-step losses (B, T)."""
    if mode == "unrolled":
        return _unrolled(P, X, Y, attend_h0, attention, want_forward)
    fwd = _fused(P, X, attend_h0, attention, probs=want_forward)
    losses = None if Y is None else tg.cross_entropy(fwd.logits, Y, axis=-1, reduction="none")  # eqs 6-7, stable
    return fwd, losses


def _fused(P: Mapping[str, tg.Tensor], X: np.ndarray, attend_h0: bool, attention: bool, probs: bool) -> Forward:
    """The recurrence step by step (it is sequential), then attention for all t at once with a
    causal mask (A = H Hᵀ, masked softmax, Z = α H), batched over B."""
    B, T, _ = X.shape
    W, U, b, V, c = (P[k] for k in PARAM_NAMES)
    inputs = X @ U.T + b  # U x_t + b for every t at once, (B, T, H)
    Wt = W.T  # once: every step shares it, and its gradient is accumulated in place
    h = tg.zeros(B, W.shape[0])  # h_0 = 0
    hs = []
    for t in range(T):  # eq 1: sequential; addmm(u, h, Wᵀ) = u + h Wᵀ is one record
        h = tg.addmm(inputs[:, t], h, Wt).tanh()
        hs.append(h)
    Hs = tg.stack(hs, axis=1)  # (B, T, H)
    if not attention:  # the baseline: Ω_t = V h_t + c
        logits = Hs @ V.T + c
        return Forward(Hs, None, None, Hs, logits, logits.softmax(axis=-1) if probs else None, hs)
    scores = Hs @ Hs.transpose(0, 2, 1)  # eq 2 for all (t, i): A[t, i] = h_t · h_i
    causal = np.tril(np.ones((T, T), dtype=bool))
    masked = tg.where(causal, scores, -np.inf)  # only i <= t
    alpha_h0 = None
    if attend_h0:  # score of h_0 is h_0 · h_t = 0, always allowed
        weights = tg.concatenate([tg.zeros(B, T, 1), masked], axis=-1).softmax(axis=-1)  # eq 3
        alpha_h0, alpha = weights[:, :, 0], weights[:, :, 1:]
    else:
        alpha = masked.softmax(axis=-1)  # eq 3
    Z = alpha @ Hs  # eq 4 (h_0 = 0 adds nothing)
    logits = Z @ V.T + c  # eq 5
    return Forward(Hs, alpha, alpha_h0, Z, logits, logits.softmax(axis=-1) if probs else None, hs)  # eq 6


def _unrolled(P: Mapping[str, tg.Tensor], X: np.ndarray, Y: np.ndarray | None, attend_h0: bool, attention: bool,
              want_forward: bool = True) -> tuple[Forward | None, tg.Tensor | None]:
    """Eqs 1–7 literally, one op per symbol, scope ``t=<t>`` and tag ``eq=<n>`` per op.
    ``want_forward=False`` (the loss) skips stacking the intermediates for :class:`Forward`."""
    B, T, _ = X.shape
    if not isinstance(X, tg.Tensor):
        X = tg.Tensor(X)  # once (a copy), then one view per step (see _step)
    if Y is not None and not isinstance(Y, tg.Tensor):
        Y = tg.Tensor(Y)
    b, c = P["b"], P["c"]
    Wt, Ut, Vt = P["W"].T, P["U"].T, P["V"].T  # once, shared by every step (row-vector convention)
    h0 = tg.Tensor(np.zeros((B, P["W"].shape[0])), name="h_0")
    hs: list[tg.Tensor] = []
    rows: dict[str, list[tg.Tensor]] = {k: [] for k in ("alpha", "alpha_h0", "Z", "logits", "probs", "L")}
    h_prev = h0
    for t in range(1, T + 1):
        with tg.scope(f"t={t}"):
            x_t = _step(X, t, f"x_{t}")
            with tg.tag(eq=1):
                h_t = _named((h_prev @ Wt + x_t @ Ut + b).tanh(), f"h_{t}")
            hs.append(h_t)
            keys = ([h0] if attend_h0 else []) + hs
            if not attention:  # the baseline reads h_t directly: Z_t = h_t
                keys = [h_t]
            with tg.tag(eq=2):
                scores = [(h_i * h_t).sum(axis=-1) for h_i in keys]
            with tg.tag(eq=3):
                alpha_t = _named(tg.stack(scores, axis=-1).softmax(axis=-1), f"α_{t}")
            with tg.tag(eq=4):
                terms = [alpha_t[:, i:i + 1] * h_i for i, h_i in enumerate(keys)]
                Z_t = terms[0]
                for term in terms[1:]:
                    Z_t = Z_t + term
                _named(Z_t, f"Z_{t}")
            with tg.tag(eq=5):
                logits_t = _named(Z_t @ Vt + c, f"Ω_{t}")
            with tg.tag(eq=6):
                probs_t = _named(logits_t.softmax(axis=-1), f"ŷ_{t}")
            if Y is not None:
                with tg.tag(eq=7):
                    y_t = _step(Y, t, f"y_{t}")
                    rows["L"].append(_named(-(y_t * probs_t.log()).sum(axis=-1), f"L_{t}"))
            if attend_h0:
                rows["alpha_h0"].append(alpha_t[:, 0])
                alpha_t = alpha_t[:, 1:]
            rows["alpha"].append(alpha_t)
            rows["Z"].append(Z_t)
            rows["logits"].append(logits_t)
            rows["probs"].append(probs_t)
        h_prev = h_t
    losses = _named(tg.stack(rows["L"], axis=1), "L_t") if Y is not None else None
    if not want_forward:
        return None, losses
    with tg.no_grad():  # a (B, T, T) view for the learner; not part of the graph
        alpha = np.zeros((B, T, T))
        for t, a in enumerate(rows["alpha"]):
            alpha[:, t, : t + 1] = a.data
    fwd = Forward(
        hidden=tg.stack(hs, axis=1),
        attention=tg.Tensor(alpha) if attention else None,
        attention_h0=tg.stack(rows["alpha_h0"], axis=1) if attend_h0 else None,
        context=tg.stack(rows["Z"], axis=1),
        logits=tg.stack(rows["logits"], axis=1),
        probs=tg.stack(rows["probs"], axis=1),
        steps=hs,
    )
    return fwd, losses


def _tensors(params: Mapping[str, Any]) -> dict[str, tg.Tensor]:
    """Tensors are used as they are (their .grad receives the gradient); arrays become constants."""
    return {k: v if isinstance(v, tg.Tensor) else tg.Tensor(np.asarray(v, dtype=np.float64), name=k)
            for k, v in ((k, params[k]) for k in PARAM_NAMES)}


def _step(X: Any, t: int, name: str) -> tg.Tensor:
    """Step t of a batch ``X`` (a Tensor: an array is wrapped once by :func:`_unrolled`), named.

    The same op whether ``X`` came as an array or a Tensor (a traced one under ``tg.compile``), so
    ``x_t`` is the same view of ``X`` either way: a contiguous copy of one step instead would make
    numpy take another path for ``x_tᵀ g`` in eq 1's gradient, and the last bit could differ."""
    return _named(X[:, t - 1], name)


def _named(t: tg.Tensor, name: str) -> tg.Tensor:
    t.name = name
    return t


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def _fmt(k: str, H: int) -> str:
    return {"U": f"({H}, D)", "b": f"({H},)", "V": f"(K, {H})"}[k]
