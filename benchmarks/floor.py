"""The speed floor: the fastest numpy I could write for the seed's train step (forward and the five
gradients of eqs 10-17, corrected), which the engine is measured against.  Not the model's maths
(that is ``tinygrad_rnn.models.closed_form``, written to be read); checked against it, the nested
sums, the engine and PyTorch to 1e-12 in ``tests/models/test_closed_form_fast.py``.
"""

from __future__ import annotations

import numpy as np

from tinygrad_rnn.models.closed_form import Grads, Params, _unpack


class _Workspace:
    """Buffers for :func:`bptt_fast`, allocated once per (B, T, D, H, K) and reused."""

    def __init__(self, B: int, T: int, D: int, H: int, K: int) -> None:
        self.X = np.empty((T, B, D))  # time-major copies: each step reads contiguous rows
        self.hs = np.zeros((T + 1, B, H))  # hs[0] = h_0 = 0 stays zero
        self.Hb = np.empty((B, T, H))  # batch-major h_1..h_T for the batched attention matmuls
        self.scores = np.empty((B, T, T))
        self.d_alpha = np.empty((B, T, T))
        self.tmp_tt = np.empty((B, T, T))
        self.Z = np.empty((B, T, H))
        self.logits = np.empty((B, T, K))
        self.zeta = np.empty((B, T, H))
        self.g_keys = np.empty((B, T, H))
        self.g_h = np.empty((B, T, H))
        self.dt = np.empty((T, B, H))
        self.da = np.empty((T, B, H))
        self.pre = np.empty((B, H))
        self.carry = np.empty((B, H))
        self.row_max = np.empty((B, T, 1))
        self.row_sum = np.empty((B, T, 1))
        self.mask = np.triu(np.full((T, T), -np.inf), k=1)  # 0 where i ≤ t, −inf above the diagonal
        self.flat_rows = np.arange(B * T)


_WORKSPACES: dict[tuple[int, ...], _Workspace] = {}


def bptt_fast(params: Params, xs: np.ndarray, ys: np.ndarray) -> Grads:
    """The same gradient as :func:`bptt`, written for speed only: the floor the engine is measured
    against (``benchmarks/``).  Integer class targets, batch-first ``xs`` (B, T, D), no ``attend_h0``.

    What makes it fast: the input projection U x_t + b for all t in one matmul; time-major buffers so
    each step of the recurrence (eq 1) is three calls on contiguous rows (dot into a buffer, add,
    tanh in place); the attention (eqs 2–4) and its backward as batched matmuls; the masked
    softmax in place with a precomputed −inf mask; the recurrence's backward as three calls per
    step; the weight gradients as single matmuls over all (t, b); every buffer allocated once per
    shape and reused (no page faults after the first call).  Checked against :func:`bptt`,
    :func:`nested_sums` and the engine to 1e-12 (``tests/models/test_closed_form_fast.py``)."""
    W, U, b, V, c = _unpack(params)
    X = np.asarray(xs, dtype=np.float64)
    Yc = np.asarray(ys)
    if X.ndim != 3 or Yc.shape != X.shape[:2] or Yc.dtype.kind not in "iu":
        raise ValueError(f"bptt_fast: needs xs (B, T, D) and integer class targets (B, T), got {X.shape} and "
                         f"{Yc.shape} ({Yc.dtype})")
    B, T, D = X.shape
    H, K = W.shape[0], V.shape[0]
    key = (B, T, D, H, K)
    ws = _WORKSPACES.get(key)
    if ws is None:
        if len(_WORKSPACES) > 8:
            _WORKSPACES.clear()
        ws = _WORKSPACES[key] = _Workspace(B, T, D, H, K)
    hs, da, dt, pre, carry = ws.hs, ws.da, ws.dt, ws.pre, ws.carry
    # eq 1: h_t = tanh(W h_{t−1} + U x_t + b), the input part for all t at once
    np.copyto(ws.X, X.transpose(1, 0, 2))
    inputs = ws.X.reshape(T * B, D) @ U.T
    inputs += b
    inputs = inputs.reshape(T, B, H)
    Wt = W.T
    for t in range(T):
        np.dot(hs[t], Wt, out=pre)
        pre += inputs[t]
        np.tanh(pre, out=hs[t + 1])
    Hb = ws.Hb
    np.copyto(Hb, hs[1:].transpose(1, 0, 2))
    # eqs 2–3: α = softmax over i ≤ t of h_t · h_i, in place
    alpha = ws.scores
    np.matmul(Hb, Hb.transpose(0, 2, 1), out=alpha)
    alpha += ws.mask
    np.max(alpha, axis=-1, keepdims=True, out=ws.row_max)
    alpha -= ws.row_max
    np.exp(alpha, out=alpha)
    np.sum(alpha, axis=-1, keepdims=True, out=ws.row_sum)
    alpha /= ws.row_sum
    Z = ws.Z
    np.matmul(alpha, Hb, out=Z)  # eq 4
    delta = ws.logits
    np.matmul(Z, V.T, out=delta)  # eq 5
    delta += c
    m = np.max(delta, axis=-1, keepdims=True)  # eq 6, then eq 9: δ = ŷ − y, in the same buffer
    delta -= m
    np.exp(delta, out=delta)
    delta /= np.sum(delta, axis=-1, keepdims=True)
    flat = delta.reshape(B * T, K)
    flat[ws.flat_rows, Yc.reshape(-1)] -= 1.0
    Zf = Z.reshape(B * T, H)
    grads: Grads = {"V": flat.T @ Zf, "c": flat.sum(axis=0)}  # eqs 10 (corrected) and 11
    zeta = ws.zeta
    np.matmul(delta, V, out=zeta)  # ∂L/∂Z_t
    d = ws.d_alpha
    np.matmul(zeta, Hb.transpose(0, 2, 1), out=d)  # ∂L/∂α_{t,i} = ζ_t · h_i
    g_keys = ws.g_keys
    np.matmul(alpha.transpose(0, 2, 1), zeta, out=g_keys)  # h_i receives α_{t,i} ζ_t
    np.multiply(alpha, d, out=ws.tmp_tt)  # softmax backward: α ⊙ (d − Σ_j α_j d_j), in d's buffer
    np.sum(ws.tmp_tt, axis=-1, keepdims=True, out=ws.row_sum)
    d -= ws.row_sum
    d *= alpha
    g_keys += np.matmul(d.transpose(0, 2, 1), Hb)  # eq 2 as keys
    g_h = ws.g_h
    np.matmul(d, Hb, out=g_h)  # eq 2 as queries
    g_h += g_keys
    # eq 1 backwards in time: da_t = (∂L/∂h_t + Wᵀ da_{t+1}) ⊙ (1 − h_t²)
    np.square(hs[1:], out=dt)
    np.subtract(1.0, dt, out=dt)
    gh = g_h.transpose(1, 0, 2)
    carry.fill(0.0)
    for t in range(T - 1, -1, -1):
        np.add(gh[t], carry, out=da[t])
        da[t] *= dt[t]
        if t:
            np.dot(da[t], W, out=carry)
    daf = da.reshape(T * B, H)
    grads["W"] = daf.T @ hs[:-1].reshape(T * B, H)  # eq 13 corrected
    grads["U"] = daf.T @ ws.X.reshape(T * B, D)  # eq 15 corrected
    grads["b"] = daf.sum(axis=0)  # eq 17 corrected
    return {k: grads[k] for k in ("W", "U", "b", "V", "c")}


def bptt_flops(B: int, T: int, D: int, H: int, K: int) -> int:
    """Floating-point operations of :func:`bptt_fast` (2 per multiply-add of its matmuls; the
    elementwise work is O(BT(T + H + K)) and left out)."""
    fwd = 2 * B * T * (D * H + H * H + 2 * T * H + H * K)
    bwd = 2 * B * T * (2 * K * H + 4 * T * H + 2 * H * H + H * D)
    return fwd + bwd
