"""Helpers shared by the model tests: build a random case from a drawn configuration."""

from __future__ import annotations

from typing import Any

import numpy as np

from hypothesis import strategies as st

from tinygrad_rnn.models.attention_rnn import AttentionRNN


@st.composite
def model_configs(
    draw: Any,
    max_steps: int = 10,
    max_hidden: int = 6,
    max_input: int = 4,
    max_classes: int = 5,
    max_batch: int = 3,
    scales: tuple[float, float] = (0.3, 1.5),
) -> dict[str, Any]:
    """Small sequence-model configurations: ``steps`` T, ``hidden`` H, ``input`` D,
    ``classes`` K (≥ 2), ``batch`` B, a parameter ``scale`` and an integer ``seed``."""
    return {
        "steps": draw(st.integers(1, max_steps)),
        "hidden": draw(st.integers(1, max_hidden)),
        "input": draw(st.integers(1, max_input)),
        "classes": draw(st.integers(2, max_classes)),
        "batch": draw(st.integers(1, max_batch)),
        "scale": draw(st.floats(scales[0], scales[1])),
        "seed": draw(st.integers(0, 2**31 - 1)),
    }



def make_case(cfg: dict[str, Any], onehot: bool, batched: bool = True) -> tuple[dict, np.ndarray, np.ndarray]:
    """params (scaled N(0, scale²/fan_in), random b and c), xs, ys from a ``model_configs`` draw."""
    rng = np.random.default_rng(cfg["seed"])
    T, H, D, K, B, s = (cfg[k] for k in ("steps", "hidden", "input", "classes", "batch", "scale"))
    params = {
        "W": rng.standard_normal((H, H)) * s / np.sqrt(H),
        "U": rng.standard_normal((H, D)) * s / np.sqrt(D),
        "b": rng.standard_normal(H) * 0.3 * s,
        "V": rng.standard_normal((K, H)) * s / np.sqrt(H),
        "c": rng.standard_normal(K) * 0.3 * s,
    }
    lead = (B, T) if batched else (T,)
    xs = rng.standard_normal(lead + (D,))
    ys = rng.integers(0, K, lead)
    if onehot:
        ys = np.eye(K)[ys]
    return params, xs, ys


def engine_grads(params: dict, xs: Any, ys: Any, mode: str, attend_h0: bool = False) -> tuple[float, dict]:
    model = AttentionRNN.from_params(params, attend_h0=attend_h0)
    loss = model.loss(xs, ys, mode=mode)
    loss.backward()
    return loss.item(), {k: p.grad for k, p in model.params().items()}


def assert_grads_close(got: dict, want: dict, rtol: float = 1e-10) -> None:
    """Each gradient within rtol of the reference, relative to the reference's largest entry."""
    for k in ("W", "U", "b", "V", "c"):
        scale = max(float(np.abs(want[k]).max()), 1e-12)
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=rtol * scale, err_msg=f"gradient of {k}")
