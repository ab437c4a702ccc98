"""Plots for a training run (matplotlib, an optional extra): loss curves, an attention heat map
for one held-out sequence, and the gradient norm ‖∂L/∂h_t‖ against t."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import tasks
from ..attention_rnn import AttentionRNN


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    return plt


def write_all(out: Path, metrics: list[dict[str, Any]], model: AttentionRNN, batch: tasks.Batch,
              last_eval: dict[str, Any]) -> list[Path]:
    plt = _pyplot()
    paths = []

    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [m["step"] for m in metrics]
    ax.plot(steps, [m["loss"] for m in metrics], lw=0.8, label="train loss / token")
    ev = [m for m in metrics if "eval_loss" in m]
    ax.plot([m["step"] for m in ev], [m["eval_loss"] for m in ev], "o-", ms=3, label="held-out loss / token")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats)")
    ax2 = ax.twinx()
    ax2.plot([m["step"] for m in ev], [m["eval_acc"] for m in ev], "s--", ms=3, color="tab:green", label="held-out accuracy")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("accuracy")
    fig.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    paths.append(_save(fig, out / "loss.png", plt))

    fwd = model.forward(batch.xs[0])
    if fwd.attention is not None:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        a = fwd.attention.data
        im = ax.imshow(np.where(np.tril(np.ones_like(a)) > 0, a, np.nan), cmap="viridis", vmin=0, vmax=1)
        ax.set_xlabel("attended step i")
        ax.set_ylabel("step t")
        ax.set_title("α_{t,i} for one held-out sequence")
        ticks = np.arange(a.shape[0])
        ax.set_xticks(ticks, [str(i + 1) for i in ticks], fontsize=7)
        ax.set_yticks(ticks, [str(i + 1) for i in ticks], fontsize=7)
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        paths.append(_save(fig, out / "attention.png", plt))

    fig, ax = plt.subplots(figsize=(5, 3.5))
    g = np.asarray(last_eval["grad_h"])
    ax.semilogy(np.arange(1, len(g) + 1), np.maximum(g, 1e-30), "o-", ms=3)
    ax.set_xlabel("t")
    ax.set_ylabel("mean ‖∂L/∂h_t‖ (held-out)")
    ax.set_title("gradient reaching each hidden state")
    fig.tight_layout()
    paths.append(_save(fig, out / "grad_norms.png", plt))
    return paths


def _save(fig: Any, path: Path, plt: Any) -> Path:
    """Written whole via a temporary file and a rename (a link at ``path`` is replaced, not followed)."""
    from .rundir import atomic_write

    atomic_write(path, writer=lambda fh: fig.savefig(fh, dpi=110, format=path.suffix.lstrip(".") or "png"))
    plt.close(fig)
    return path
