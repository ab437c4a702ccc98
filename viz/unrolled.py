"""The unrolled graph of a sequence model: ``draw_unrolled(model, xs, ys)``.

Works with any model whose ``loss(xs, ys, mode="unrolled")`` records each time step inside
``tg.scope("t=<t>")`` and whose ``parameters()`` returns its leaf tensors — such as
``models.attention_rnn.AttentionRNN``.  Parameters are drawn once, outside the step clusters,
with an edge into every step that uses them (their transposes are folded into them).
"""

from __future__ import annotations

import math
import re
from typing import Any

import graphviz

from .graph import DEFAULT_MAX_NODES, draw, retain_grads

_STEP = re.compile(r"^t=(\d+)$")


def step_blocks(steps: int, max_blocks: int = 16) -> tuple[int, Any]:
    """(block size, group function) putting scopes t=1..T into at most ``max_blocks`` blocks."""
    size = max(1, math.ceil(steps / max_blocks))

    def group(scope: str) -> str | None:
        m = _STEP.match(scope.split("/")[0])
        if m is None:
            return None
        if size == 1:
            return f"t={m.group(1)}"
        t = int(m.group(1))
        lo = (t - 1) // size * size + 1
        return f"t={lo}..{min(lo + size - 1, steps)}"

    return size, group


def draw_unrolled(
    model: Any,
    xs: Any,
    ys: Any,
    *,
    backward: bool = True,
    color_by: str | None = None,
    collapse: bool = False,
    max_blocks: int = 16,
    show_values: bool = True,
    show_grads: bool = True,
    max_nodes: int = DEFAULT_MAX_NODES,
    rankdir: str = "TB",
    compact: bool = True,
) -> graphviz.Digraph:
    """Run ``model.loss(xs, ys, mode="unrolled")``, optionally backward, and draw it.

    One cluster per time step (``t=1..T``); with ``collapse=True`` one node per block of steps
    (at most ``max_blocks``), edges counting the values that cross between blocks.  After
    ``backward`` every node shows its gradient norm; ``color_by="grad"`` colours by it (log scale).
    ``compact=True`` (default) draws named values (h_t, Z_t, ...) as nodes and lets each op node
    stand for its unnamed output; ``compact=False`` draws every intermediate value.
    The model's existing ``.grad`` values are restored afterwards.
    """
    params = model.parameters()
    saved = {k: p.grad for k, p in params.items()}
    try:
        for p in params.values():
            p.grad = None
        loss = model.loss(xs, ys, mode="unrolled")
        loss.name = "L"
        if backward:
            retain_grads(loss)
            loss.backward(retain_graph=True)
        steps = len({r.record.scope.split("/")[0] for r in loss.history() if _STEP.match(r.record.scope.split("/")[0])})
        group = step_blocks(steps, max_blocks)[1] if collapse else False
        title = f"{type(model).__name__}, unrolled over T={steps} steps" + (" (after backward)" if backward else "")
        return draw(loss, show_values=show_values, show_grads=show_grads and backward, cluster_scopes=True,
                    max_nodes=max_nodes, color_by=color_by if backward else None, collapse=group,
                    fold=("transpose",), rankdir=rankdir, title=title,
                    tag_legend=getattr(model, "EQUATIONS", None), compact=compact)
    finally:
        for k, p in params.items():
            p.grad = saved[k]
