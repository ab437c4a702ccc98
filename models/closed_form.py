"""Closed-form gradients of the seed's model in plain numpy (no engine).

Every function takes ``(params, xs, ys)`` — ``params`` a dict of arrays W (H,H), U (H,D),
b (H,), V (K,H), c (K,); ``xs``/``ys`` as in ``AttentionRNN.loss`` — and returns the
gradient of L = Σ_{b,t} L_t as a dict keyed ``W, U, b, V, c``.

- :func:`bptt`: the efficient exact backward pass, O(T²H + TH²) per sequence, from the
  *corrected* eqs 9–17.
- :func:`nested_sums`: eqs 12, 14, 16 evaluated literally as the printed sums over t, m, k
  with the product over j, every inserted factor corrected.  Slow; a second oracle.
- :func:`as_printed`: eqs 10, 11, 13, 15, 17 exactly as printed (see its docstring for the
  reading that makes the shapes conform).

Helpers give the single factors: :func:`softmax_jacobian` (eq 8, corrected),
:func:`softmax_jacobian_as_printed` (eq 8 as printed), :func:`attention_jacobian`
(∂Z_t/∂h_m), :func:`recurrence_jacobian` (∂h_{j+1}/∂h_j), :func:`immediate_jacobian_W`
(∂⁺h_k/∂W).

Conventions: 1-based time in comments, 0-based arrays in code; ``hs[:, 0]`` is h_0 = 0.
A Jacobian ∂u/∂v has shape u.shape + v.shape; a gradient has its parameter's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .data import as_batch

Params = Mapping[str, np.ndarray]
Grads = dict[str, np.ndarray]


@dataclass
class NumpyForward:
    """Forward pass of eqs 1–6 in numpy, batched.  hs includes h_0: (B, T+1, H).
    alpha: (B, T, S) with S = T (keys h_1..h_T) or T+1 (keys h_0..h_T, attend_h0)."""

    X: np.ndarray
    Y: np.ndarray
    hs: np.ndarray
    alpha: np.ndarray
    Z: np.ndarray
    probs: np.ndarray
    attend_h0: bool

    @property
    def keys(self) -> np.ndarray:
        """The states attention reads: h_1..h_T, or h_0..h_T with attend_h0."""
        return self.hs if self.attend_h0 else self.hs[:, 1:]


def _unpack(params: Params) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(params[k], dtype=np.float64) for k in ("W", "U", "b", "V", "c"))


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def forward(params: Params, xs: Any, ys: Any = None, attend_h0: bool = False) -> NumpyForward:
    """Eqs 1–6 in numpy for a batch (see :class:`NumpyForward`)."""
    W, U, b, V, c = _unpack(params)
    H, D, K = W.shape[0], U.shape[1], V.shape[0]
    X, Y, _ = as_batch(xs, ys, D, K)
    B, T, _ = X.shape
    hs = np.zeros((B, T + 1, H))
    for t in range(1, T + 1):  # eq 1
        hs[:, t] = np.tanh(hs[:, t - 1] @ W.T + X[:, t - 1] @ U.T + b)
    keys = hs if attend_h0 else hs[:, 1:]
    scores = hs[:, 1:] @ keys.transpose(0, 2, 1)  # eq 2: A[t, i] = h_t · h_i
    allowed = np.tril(np.ones((T, keys.shape[1]), dtype=bool), k=1 if attend_h0 else 0)
    alpha = _softmax(np.where(allowed, scores, -np.inf))  # eq 3
    Z = alpha @ keys  # eq 4
    probs = _softmax(Z @ V.T + c)  # eqs 5-6
    return NumpyForward(X, Y, hs, alpha, Z, probs, attend_h0)


def loss(params: Params, xs: Any, ys: Any, attend_h0: bool = False) -> float:
    """L = −Σ_{b,t} y_t · ln ŷ_t (eq 7)."""
    f = forward(params, xs, ys, attend_h0)
    return float(-np.sum(f.Y * np.log(f.probs)))


def output_error(f: NumpyForward) -> np.ndarray:
    """∂L_t/∂Ω_t = ŷ_t Σ_k y_{t,k} − y_t; equals ŷ_t − y_t (eq 9) when y_t sums to 1."""
    return f.probs * f.Y.sum(axis=-1, keepdims=True) - f.Y


# ============================================================================ bptt
def bptt(params: Params, xs: Any, ys: Any, attend_h0: bool = False) -> Grads:
    """The exact gradient by reverse accumulation, batched: O(T²H + TH²) per sequence."""
    W, U, b, V, c = _unpack(params)
    f = forward(params, xs, ys, attend_h0)
    B, T, _ = f.X.shape
    delta = output_error(f)  # eq 9: ∂L_t/∂Ω_t, (B, T, K)
    K, H = V.shape
    grads: Grads = {
        "V": delta.reshape(-1, K).T @ f.Z.reshape(-1, H),  # eq 10 corrected: Σ_t δ_t Z_tᵀ (printed: h_tᵀ)
        "c": delta.sum(axis=(0, 1)),  # eq 11
    }
    zeta = delta @ V  # ∂L/∂Z_t = Vᵀ δ_t  (the Vᵀ factor of eq 12), (B, T, H)
    keys, queries = f.keys, f.hs[:, 1:]
    # eq 4, Z_t = Σ_i α_{t,i} h_i:   ∂L/∂α_{t,i} = ζ_t · h_i   and h_i receives α_{t,i} ζ_t
    d_alpha = zeta @ keys.transpose(0, 2, 1)
    g_keys = f.alpha.transpose(0, 2, 1) @ zeta
    # eq 3, softmax over i (the corrected eq 8):  ∂L/∂A_{t,i} = α_{t,i} (∂L/∂α_{t,i} − Σ_j α_{t,j} ∂L/∂α_{t,j})
    d_scores = f.alpha * (d_alpha - np.sum(f.alpha * d_alpha, axis=-1, keepdims=True))
    # eq 2, A_{t,i} = h_i · h_t:  h_i receives ∂L/∂A_{t,i} h_t,  h_t receives Σ_i ∂L/∂A_{t,i} h_i
    g_keys += d_scores.transpose(0, 2, 1) @ queries
    g_h = d_scores @ keys  # as queries, for h_1..h_T
    g_h += g_keys[:, 1:] if attend_h0 else g_keys  # h_0 is a constant: its gradient is dropped
    # eq 1 backwards in time: ∂L/∂h_t = (direct) + Wᵀ [(1 − h_{t+1}²) ⊙ ∂L/∂h_{t+1}]
    Hn, D = W.shape[0], U.shape[1]
    da = np.empty((B, T, Hn))  # ∂L/∂(W h_{t−1} + U x_t + b) for every t
    carry = np.zeros((B, Hn))
    for t in range(T, 0, -1):  # the only sequential part
        da[:, t - 1] = (g_h[:, t - 1] + carry) * (1.0 - f.hs[:, t] ** 2)
        carry = da[:, t - 1] @ W  # Wᵀ (1 − h_t²) ⊙ ·   (∂h_t/∂h_{t−1}, transposed)
    flat = da.reshape(-1, Hn).T
    grads.update({
        "W": flat @ f.hs[:, :-1].reshape(-1, Hn),  # Σ_t (1 − h_t²) ⊙ g_t h_{t−1}ᵀ   (eq 13's last factor)
        "U": flat @ f.X.reshape(-1, D),  # Σ_t (1 − h_t²) ⊙ g_t x_tᵀ       (eq 15's last factor)
        "b": da.sum(axis=(0, 1)),  # Σ_t (1 − h_t²) ⊙ g_t            (eq 17's last factor)
    })
    return {k: grads[k] for k in ("W", "U", "b", "V", "c")}


# ============================================================================ single factors
def softmax_jacobian(p: np.ndarray) -> np.ndarray:
    """Eq 8, corrected: ∂ŷ_i/∂Ω_j = ŷ_i (δ_ij − ŷ_j), from the probabilities ŷ = p (1-D)."""
    return np.diag(p) - np.outer(p, p)


def softmax_jacobian_as_printed(p: np.ndarray) -> np.ndarray:
    """Eq 8 as printed: ∂ŷ_i/∂Ω_j = ŷ_i (1 − ŷ_j) for every i, j (right only for i = j)."""
    return p[:, None] * (1.0 - p[None, :])


def attention_jacobian(hs: np.ndarray, t: int, m: int, attend_h0: bool = False) -> np.ndarray:
    """∂Z_t/∂h_m (H × H) for one sequence; ``hs`` is (T+1, H) with hs[0] = h_0; 1 ≤ m ≤ t.

    With α = softmax_i(h_i · h_t) over the keys i and Z_t = Σ_i α_i h_i:

        ∂Z_t/∂h_m = α_m I + α_m (h_m − Z_t) h_tᵀ                                    (m < t)
        ∂Z_t/∂h_t = α_t I + α_t (h_t − Z_t) h_tᵀ + Σ_i α_i (h_i − Z_t) h_iᵀ          (m = t)

    The seed inserts the scalar A_{t,m} = h_m · h_t here instead.
    """
    if not 1 <= m <= t:
        raise ValueError(f"attention_jacobian: need 1 <= m <= t, got m={m}, t={t}")
    first = 0 if attend_h0 else 1
    keys = hs[first : t + 1]
    h_t = hs[t]
    alpha = _softmax(keys @ h_t)
    Z = alpha @ keys
    a_m = alpha[m - first]
    J = a_m * np.eye(hs.shape[1]) + a_m * np.outer(hs[m] - Z, h_t)
    if m == t:
        J += np.einsum("i,ih,ik->hk", alpha, keys - Z, keys)
    return J


def recurrence_jacobian(W: np.ndarray, h_next: np.ndarray) -> np.ndarray:
    """∂h_{j+1}/∂h_j = diag(1 − h_{j+1}²) W.  The seed prints Wᵀ(1 − h_{j+1}²): its transpose,
    which is what multiplies a gradient column vector in the backward pass."""
    return (1.0 - h_next**2)[:, None] * W


def immediate_jacobian_W(h_k: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
    """∂⁺h_k/∂W with h_{k−1} held fixed, shape (H, H, H): [i, a, b] = δ_ia (1 − h_{k,i}²) h_{k−1,b}.
    Contracted with a gradient q it gives the outer product (q ⊙ (1 − h_k²)) h_{k−1}ᵀ."""
    H = h_k.shape[0]
    return np.einsum("ia,i,b->iab", np.eye(H), 1.0 - h_k**2, h_prev)


# ============================================================================ nested sums
def nested_sums(params: Params, xs: Any, ys: Any, attend_h0: bool = False, product_order: str = "chain") -> Grads:
    """Eqs 12, 14, 16 evaluated literally — Σ_t Σ_{m≤t} Σ_{k≤m} of the chain
    ∂L_t/∂Ω_t · ∂Ω_t/∂Z_t · ∂Z_t/∂h_m · Π_{j=k}^{m−1} ∂h_{j+1}/∂h_j · ∂⁺h_k/∂θ — with every
    inserted factor corrected: ŷ_t − y_t (not y_t − ŷ_t), the full attention Jacobian
    :func:`attention_jacobian` (not A_{t,m}).  V and c use eqs 10 (with Z_t) and 11.
    O(T⁴ H²) per sequence: for small sizes only.

    ``product_order`` reads Π_{j=k}^{m−1} ∂h_{j+1}/∂h_j, which the print leaves unordered, with the
    Jacobians in Jacobian layout: ``"chain"`` (the chain rule's order, later steps on the left:
    ∂h_m/∂h_{m−1} ⋯ ∂h_{k+1}/∂h_k) or ``"as_written"`` (left to right as j increases:
    ∂h_{k+1}/∂h_k ⋯ ∂h_m/∂h_{m−1}, the order the Π symbol is usually expanded in)."""
    if product_order not in ("chain", "as_written"):
        raise ValueError(f"nested_sums: product_order must be 'chain' or 'as_written', got {product_order!r}")
    W, U, b, V, c = _unpack(params)
    f = forward(params, xs, ys, attend_h0)
    B, T, _ = f.X.shape
    delta = output_error(f)
    grads: Grads = {
        "W": np.zeros_like(W), "U": np.zeros_like(U), "b": np.zeros_like(b),
        "V": np.einsum("btk,bth->kh", delta, f.Z), "c": delta.sum(axis=(0, 1)),
    }
    for s in range(B):
        hs, X = f.hs[s], f.X[s]
        for t in range(1, T + 1):
            row = delta[s, t - 1] @ V  # ∂L_t/∂ŷ_t ∂ŷ_t/∂Ω_t ∂Ω_t/∂Z_t   (a row vector, 1 × H)
            for m in range(1, t + 1):
                row_m = row @ attention_jacobian(hs, t, m, attend_h0)  # · ∂Z_t/∂h_m
                for k in range(1, m + 1):
                    q = row_m
                    js = range(m - 1, k - 1, -1) if product_order == "chain" else range(k, m)
                    for j in js:  # · Π_{j=k}^{m−1} ∂h_{j+1}/∂h_j (chain: applied from j = m−1 down)
                        q = q @ recurrence_jacobian(W, hs[j + 1])
                    local = q * (1.0 - hs[k] ** 2)  # · ∂⁺h_k/∂θ
                    grads["W"] += np.outer(local, hs[k - 1])
                    grads["U"] += np.outer(local, X[k - 1])
                    grads["b"] += local
    return grads


# ============================================================================ as printed
def as_printed(params: Params, xs: Any, ys: Any, attend_h0: bool = False, sign: str = "printed",
               weight: str = "score") -> Grads:
    """Eqs 10, 11, 13, 15, 17 exactly as printed, under the most charitable reading that makes
    the shapes conform:

    - eq 10: ∂L/∂V = Σ_t (ŷ_t − y_t) h_tᵀ            (outer product; h_t, not Z_t, as printed)
    - eq 11: ∂L/∂c = Σ_t (ŷ_t − y_t)
    - eqs 13/15/17: Σ_t Σ_{m≤t} Σ_{k≤m} of the row vector (y_t − ŷ_t)ᵀ V (the printed
      "(y_t − ŷ_t) Vᵀ", transposed so it can multiply), times the *scalar* A_{t,m} = h_m · h_t,
      times the product over j = m−1 … k of "Wᵀ(1 − h_{j+1}²)" read as the transposed
      recurrence Jacobian (so a row vector q becomes q diag(1 − h_{j+1}²) W), times
      "(1 − h_k²) h_{k−1}" (resp. x_k, 1) read as the outer product (q ⊙ (1 − h_k²)) h_{k−1}ᵀ.

    Only the printed factors are kept: the sign of (y_t − ŷ_t) and A_{t,m} in place of ∂Z_t/∂h_m.
    For the errata's "what would make it right" question, ``sign="fixed"`` uses ŷ_t − y_t and
    ``weight="alpha"`` the softmax weight α_{t,m} instead of the score A_{t,m}.
    """
    W, U, b, V, c = _unpack(params)
    f = forward(params, xs, ys, attend_h0)
    B, T, _ = f.X.shape
    err = f.probs - f.Y  # ŷ_t − y_t
    grads: Grads = {
        "V": np.einsum("btk,bth->kh", err, f.hs[:, 1:]),  # eq 10 as printed
        "c": err.sum(axis=(0, 1)),  # eq 11
        "W": np.zeros_like(W), "U": np.zeros_like(U), "b": np.zeros_like(b),
    }
    for s in range(B):
        hs, X = f.hs[s], f.X[s]
        for t in range(1, T + 1):
            row = (f.Y[s, t - 1] - f.probs[s, t - 1]) @ V  # (y_t − ŷ_t) Vᵀ, as a row vector
            if sign == "fixed":
                row = -row
            scores = hs[1:t + 1] @ hs[t]
            alpha = np.exp(scores - scores.max())
            alpha /= alpha.sum()
            for m in range(1, t + 1):
                row_m = row * (float(hs[m] @ hs[t]) if weight == "score" else float(alpha[m - 1]))  # A_{t,m} or α_{t,m}
                for k in range(1, m + 1):
                    q = row_m
                    for j in range(m - 1, k - 1, -1):
                        q = q @ recurrence_jacobian(W, hs[j + 1])
                    local = q * (1.0 - hs[k] ** 2)
                    grads["W"] += np.outer(local, hs[k - 1])
                    grads["U"] += np.outer(local, X[k - 1])
                    grads["b"] += local
    return {k: grads[k] for k in ("W", "U", "b", "V", "c")}
