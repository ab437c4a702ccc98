"""Worked examples for gradient tests: functions in engine ops, their hand-derived gradients in plain
numpy, and strategies for their inputs.  They are the kit's positive controls (each must pass with
the default strategies) and templates to copy.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

from ..tensor import Tensor
from .strategies import parameter_sets

__all__ = ["layer_norm", "attention_weights", "gru_cell", "gru_cell_hand_gradient", "gru_cases",
           "seed_model_cases"]


def layer_norm(x: Tensor, eps: float = 1e-5) -> Tensor:
    """(x − mean x) / sqrt(var x + eps) over the last axis."""
    d = x - x.mean(axis=-1, keepdims=True)
    return d / ((d * d).mean(axis=-1, keepdims=True) + eps).sqrt()


def attention_weights(q: Tensor, k: Tensor) -> Tensor:
    """softmax over i of the normalised scores q_t · k_i / sqrt(d) (the seed's eqs 2–3 with the usual
    1/√d scale)."""
    return (q @ k.T / np.sqrt(q.shape[-1])).softmax(axis=-1)


def _split3(a: Any, H: int) -> tuple[Any, Any, Any]:
    return a[..., :H], a[..., H:2 * H], a[..., 2 * H:]


def gru_cell(x: Any, h: Any, Wx: Any, Wh: Any, bx: Any, bh: Any, w: Any) -> Tensor:
    """Σ w ⊙ h' for one step of PyTorch's GRU cell (gates stacked r, z, n as in ``torch.nn.GRUCell``):

        r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),  z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
        n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h"""
    H = h.shape[-1]
    ar, az, an = _split3(x @ Wx.T + bx, H)
    hr, hz, hn = _split3(h @ Wh.T + bh, H)
    r = (ar + hr).sigmoid()
    z = (az + hz).sigmoid()
    n = (an + r * hn).tanh()
    return (((1.0 - z) * n + z * h) * w).sum()


def gru_cell_hand_gradient(x: np.ndarray, h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, bx: np.ndarray,
                           bh: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """The gradient of :func:`gru_cell` by hand (reverse mode through the four equations)."""
    H = h.shape[-1]
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    ar, az, an = _split3(x @ Wx.T + bx, H)
    hr, hz, hn = _split3(h @ Wh.T + bh, H)
    r, z = sig(ar + hr), sig(az + hz)
    n = np.tanh(an + r * hn)
    g = w                                   # ∂L/∂h'
    dn = g * (1.0 - z)
    dz = g * (h - n)
    dan = dn * (1.0 - n * n)                # through tanh
    dhn = dan * r                           # ∂/∂(h W_hnᵀ + b_hn)
    dar = dan * hn * r * (1.0 - r)          # through r's sigmoid
    daz = dz * z * (1.0 - z)
    dx_pre = np.concatenate([dar, daz, dan], axis=-1)   # ∂/∂(x Wxᵀ + bx)
    dh_pre = np.concatenate([dar, daz, dhn], axis=-1)   # ∂/∂(h Whᵀ + bh)
    return {"x": dx_pre @ Wx, "h": dh_pre @ Wh + g * z, "Wx": dx_pre.T @ x, "Wh": dh_pre.T @ h,
            "bx": dx_pre.sum(axis=0), "bh": dh_pre.sum(axis=0)}


def gru_cases(max_batch: int = 3, max_size: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    """Inputs for :func:`gru_cell`: x (B, D), h (B, H), stacked weights, and output weights w (B, H)."""
    return parameter_sets({"x": ("B", "D"), "h": ("B", "H"), "Wx": ("3H", "D"), "Wh": ("3H", "H"),
                           "bx": ("3H",), "bh": ("3H",), "w": ("B", "H")},
                          dims={"B": st.integers(1, max_batch), "D": st.integers(1, max_size),
                                "H": st.integers(1, max_size), "3H": lambda d: 3 * d["H"]})


def seed_model_cases(max_steps: int = 6, max_hidden: int = 4, max_input: int = 3, max_classes: int = 4,
                     max_batch: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """Inputs of the seed's model (eqs 1–7): W (H, H), U (H, D), b (H,), V (K, H), c (K,), xs (B, T, D)
    and one-hot targets ys (B, T, K), with T, H, D, K, B drawn (and shrunk) by hypothesis."""
    base = parameter_sets({"W": ("H", "H"), "U": ("H", "D"), "b": ("H",), "V": ("K", "H"), "c": ("K",),
                           "xs": ("B", "T", "D")},
                          dims={"T": st.integers(1, max_steps), "H": st.integers(1, max_hidden),
                                "D": st.integers(1, max_input), "K": st.integers(2, max_classes),
                                "B": st.integers(1, max_batch)})

    @st.composite
    def with_targets(draw: Callable[..., Any]) -> dict[str, Any]:
        case = draw(base)
        d = case["dims"]
        ids = draw(st.lists(st.integers(0, d["K"] - 1), min_size=d["B"] * d["T"], max_size=d["B"] * d["T"]))
        case["ys"] = np.eye(d["K"])[np.array(ids, dtype=np.int64).reshape(d["B"], d["T"])]
        return case

    return with_targets()
