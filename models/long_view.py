"""The long-sequence view: where BPTT's gradient goes over hundreds or thousands of steps.

    python -m tinygrad_rnn.models.draw --long --steps 200 -o out/long200.png
    python -m tinygrad_rnn.models.draw --long --steps 1000 -o out/long1000.png

A graph of every op stops being readable after a dozen steps, so this view draws what the
unrolled graph is *for* (matplotlib, the ``train`` extra):

- **top**, the attention weights α_{t,i} (eq 3) as a heat map: row t is step t's weights over
  h_1..h_t, lower-triangular;
- **middle**, the chain h_1 → h_2 → … → h_T (eq 1) as a strip of cells in time order, each
  coloured by ‖∂L_T/∂h_t‖ on a log scale, with arcs from h_T to the few h_i it attends to most
  (eq 4: Z_T = Σ_i α_{T,i} h_i, the shortcut the gradient takes);
- **bottom**, ‖∂L_T/∂h_t‖ against t on a log axis for the model and for the same parameters
  without attention (Z_t = h_t, the plain RNN), so vanishing shows as a straight fall and the
  attention's shortcut as what stays above it.

L_T is the loss at the last step only (eq 7 at t = T): the question BPTT answers for it is how
much each earlier state matters, which is what vanishing is about.  The gradients come from the
engine's own walk (``mode="fused"``, ``retain_grad`` on every h_t).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_rnn as tg

from .attention_rnn import AttentionRNN

__all__ = ["gradient_reach", "draw_long", "MAX_LONG_STEPS"]

MAX_LONG_STEPS = 5000  # α is T×T: 5000² float64 = 200 MB


def gradient_reach(model: AttentionRNN, xs: np.ndarray, ys: np.ndarray) -> dict[str, Any]:
    """‖∂L_T/∂h_t‖ for t = 1..T (L_T: the cross-entropy at the last step, eq 7), and α (T, T)
    if the model attends (else None), from one fused forward and the engine's backward."""
    K = model.V.shape[0]
    onehot = np.eye(K)[np.asarray(ys)[-1:]]  # (1, K): the last step's target
    saved = {k: p.grad for k, p in model.params().items()}
    try:
        fwd = model.forward(np.asarray(xs)[None])  # batched: fwd.steps are the graph's own h_t
        for h in fwd.steps:
            h.retain_grad()
        loss = tg.cross_entropy(fwd.logits[:, -1], onehot, axis=-1, reduction="sum")
        loss.backward()
        grads = np.array([float(np.linalg.norm(h.grad)) if h.grad is not None else 0.0 for h in fwd.steps])
        alpha = None if fwd.attention is None else np.array(fwd.attention.data[0])
    finally:
        for k, p in model.params().items():
            p.grad = saved[k]
    return {"grad_h": grads, "alpha": alpha}


def draw_long(model: AttentionRNN, xs: np.ndarray, ys: np.ndarray, path: str | Path, *, arcs: int = 5,
              title: str | None = None) -> Path:
    """Write the long-sequence view of ``model`` on ``(xs, ys)`` to ``path`` (.png, .svg, .pdf)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Arc

    from .app.rundir import atomic_write

    T = len(xs)
    if not 2 <= T <= MAX_LONG_STEPS:
        raise ValueError(f"draw_long: T={T}; the long view needs 2 ≤ T ≤ {MAX_LONG_STEPS}")
    ours = gradient_reach(model, xs, ys)
    plain = AttentionRNN.from_params({k: p.data for k, p in model.params().items()}, attend_h0=model.attend_h0,
                                     attention=False)
    base = gradient_reach(plain, xs, ys)
    g, alpha = ours["grad_h"], ours["alpha"]
    positive = np.concatenate([g[g > 0], base["grad_h"][base["grad_h"] > 0]])
    lo, hi = (positive.min(), positive.max()) if positive.size else (1e-12, 1.0)
    lo = max(lo, hi * 1e-300)

    fig = plt.figure(figsize=(9, 6.4), dpi=110)
    grid = fig.add_gridspec(3, 1, height_ratios=[3.2, 0.9, 2.4], hspace=0.35)
    ax_a, ax_s, ax_g = fig.add_subplot(grid[0]), fig.add_subplot(grid[1]), fig.add_subplot(grid[2])
    t = np.arange(1, T + 1)

    if alpha is not None:
        shown = np.where(np.tril(np.ones((T, T), bool)), alpha, np.nan)
        floor = max(float(np.nanmin(np.where(shown > 0, shown, np.nan))), 1e-6)
        im = ax_a.imshow(np.where(shown > 0, shown, np.nan), origin="upper", aspect="auto", cmap="viridis",
                         interpolation="nearest", extent=(0.5, T + 0.5, T + 0.5, 0.5),
                         norm=LogNorm(vmin=floor, vmax=1.0))
        fig.colorbar(im, ax=ax_a, pad=0.01, fraction=0.03, label="α_{t,i} (log)")
        ax_a.set_ylabel("step t (query)")
        ax_a.set_title("attention α_{t,i} (eq 3): row t spreads step t's weight over h_1..h_t", fontsize=9)
    else:
        ax_a.text(0.5, 0.5, "no attention (Z_t = h_t)", ha="center", va="center", transform=ax_a.transAxes)
        ax_a.set_yticks([])
    ax_a.set_xlim(0.5, T + 0.5)

    strip = np.where(g > 0, g, np.nan)[None, :]
    own = g[g > 0]
    s_lo, s_hi = (own.min(), own.max()) if own.size else (lo, hi)
    cells = ax_s.imshow(strip, aspect="auto", cmap="magma", norm=LogNorm(vmin=s_lo, vmax=max(s_hi, s_lo * 10)),
                        interpolation="nearest", extent=(0.5, T + 0.5, 0, 1))
    fig.colorbar(cells, ax=ax_s, pad=0.01, fraction=0.03, label="‖∂L_T/∂h_t‖")
    ax_s.set_xlim(0.5, T + 0.5)
    ax_s.set_ylim(0, 3.2)
    ax_s.set_yticks([])
    ax_s.set_title(f"the chain h_1 → … → h_T (eq 1), coloured by ‖∂L_T/∂h_t‖ (log); arcs: h_T's {arcs} strongest "
                   "attention weights (eq 4)", fontsize=9)
    if alpha is not None:
        row = alpha[T - 1, : T - 1]
        for i in np.argsort(row)[::-1][:arcs]:
            if row[i] <= 0:
                continue
            centre, width = (i + 1 + T) / 2, T - (i + 1)
            ax_s.add_patch(Arc((centre, 1.0), width, 0.3 + 3.6 * width / T, theta1=0, theta2=180,
                               lw=0.6 + 1.6 * float(row[i]) / float(row.max()), color="tab:cyan"))

    ax_g.semilogy(t, np.where(g > 0, g, np.nan), color="tab:blue", lw=1.2, label="the seed's attention RNN")
    ax_g.semilogy(t, np.where(base["grad_h"] > 0, base["grad_h"], np.nan), color="tab:orange", lw=1.2,
                  label="same parameters, no attention (Z_t = h_t)")
    zeros = np.nonzero(base["grad_h"] == 0)[0]
    if zeros.size:
        ax_g.text(0.01, 0.04, f"without attention the gradient is exactly 0 (below float64's range) for t ≤ "
                  f"{zeros.max() + 1}", transform=ax_g.transAxes, fontsize=8, color="tab:orange")
    ax_g.set_xlim(0.5, T + 0.5)
    ax_g.set_xlabel("step t")
    ax_g.set_ylabel("‖∂L_T/∂h_t‖")
    ax_g.legend(fontsize=8, loc="center right")
    ax_g.set_title("how far back the last step's loss reaches: vanishing is a straight fall", fontsize=9)
    fig.suptitle(title or f"{type(model).__name__}, T = {T}: where BPTT's gradient goes", fontsize=10)
    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    atomic_write(target, writer=lambda fh: fig.savefig(fh, format=fmt, bbox_inches="tight"))
    plt.close(fig)
    return target
