"""The seed's RNN, backpropagated step by step: an interactive page of the unrolled walk.

    python -m tinygrad_rnn.models.explore --steps 5 -o bptt.html
    python -m tinygrad_rnn.models.explore --steps 5 -o bptt.html --screenshot bptt.png   # + a picture (needs chromium)

The model tells the generic page (:func:`tinygrad_rnn.viz.explore`) what its graph means: ops are
coloured by the seed's equation (``eq`` tag, eqs 1–7 as the legend), grouped by time step, and two
side panels follow the walk: the attention matrix α_{t,i} (eq 3) with ∂L/∂α filling in beneath it,
and ‖∂L/∂h_t‖ over t, the total
gradient reaching each hidden state — the sum over every later step that attended to h_t (eq 4)
plus the recurrence (eq 1), which the seed's eq 12 tries to write by hand.  Watching those bars
fill in as the walk moves back through time shows where BPTT's gradient vanishes or concentrates.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_rnn as tg

from .attention_rnn import AttentionRNN
from .app.cli import OneLineParser, make_parent_dir, positive_int
from .draw import MAX_RECORDS, _grads_set_aside, add_model_arguments, max_steps, model_and_sequence, unrolled_records

try:
    from tinygrad_rnn import viz
except ImportError as _e:  # the viz extra is missing
    viz = None  # type: ignore[assignment]
    _VIZ_ERROR = str(_e)

__all__ = ["explore_unrolled", "main"]

_H = re.compile(r"^h_(\d+)$")
_ALPHA = re.compile(r"^α_(\d+)$")


def explore_unrolled(model: AttentionRNN, xs: Any, ys: Any, path: str | Path, *, max_nodes: int | None = None,
                     show_values: bool = True, compact: bool = True, rankdir: str = "TB",
                     max_layout_cost: int | None = None) -> Path:
    """Run ``model.loss(xs, ys, mode="unrolled")`` and write the page of its forward replay and
    backward walk to ``path``.  The model's ``.grad`` values are left as they were (the walk runs
    on gradients set aside for it).  Oversized graphs are refused before the model runs."""
    if viz is None:
        raise ImportError(_VIZ_ERROR)
    max_nodes = viz.DEFAULT_MAX_NODES if max_nodes is None else max_nodes
    steps = len(xs) if np.ndim(xs) == 2 else np.shape(xs)[1]
    refuse_oversized_page(model, steps, max_nodes)
    with _grads_set_aside(model):
        loss = model.loss(xs, ys, mode="unrolled")
        loss.name = "L"
        named = {t.name: t for _, t in tg.graph_of(loss) if t is not None and t.name}
        hs = sorted((int(m.group(1)), t) for n, t in named.items() if (m := _H.match(n)))
        alphas = sorted((int(m.group(1)), t) for n, t in named.items() if (m := _ALPHA.match(n)))
        title = f"{type(model).__name__} unrolled over T={steps}: forward replay and backward walk (BPTT)"
        return viz.explore(
            loss, path, title=title, color_tag="eq", legend=model.EQUATIONS, fold=("transpose",),
            compact=compact, show_values=show_values, rankdir=rankdir, max_nodes=max_nodes,
            **({} if max_layout_cost is None else {"max_layout_cost": max_layout_cost}),
            track_grads={"‖∂L/∂h_t‖ over t (total: all later steps + the recurrence)": [t for _, t in hs]},
            heatmaps={("attention α_{t,i} (row t: step t's weights over h_"
                       + ("0" if model.attend_h0 else "1") + "..h_t)"): [t for _, t in alphas]} if alphas else None,
        )


def refuse_oversized_page(model: AttentionRNN, steps: int, max_nodes: int) -> None:
    """Raise ``GraphTooLargeError`` if the page of ``steps`` steps would have too many records."""
    expected = unrolled_records(model, steps)
    if expected > min(max_nodes, MAX_RECORDS):
        raise viz.GraphTooLargeError(
            f"viz: T={steps} records {expected} ops, more than max_nodes={max_nodes}; a page steps through every "
            f"record, so use at most T={max_steps(model, min(max_nodes, MAX_RECORDS))} steps (--steps), or raise "
            "max_nodes (--max-nodes)")


def parser() -> OneLineParser:
    p = OneLineParser(
        prog="python -m tinygrad_rnn.models.explore",
        description="Write a self-contained HTML page that steps through the seed's attention RNN (mode='unrolled'): "
                    "the forward replay in tape order and the backward walk in reverse, with each upstream gradient, "
                    "each rule's output and each partial sum; side panels show α and ‖∂L/∂h_t‖ filling in.",
    )
    add_model_arguments(p, steps=5)
    p.add_argument("-o", "--output", required=True, help="the page to write (.html)")
    p.add_argument("--full", action="store_true", help="draw every intermediate value as its own node")
    p.add_argument("--no-values", action="store_true", help="leave values out of the drawing's labels")
    p.add_argument("--rankdir", choices=["TB", "LR"], default="TB", help="layout direction (default TB)")
    p.add_argument("--max-nodes", type=positive_int, default=1200,
                   help="refuse graphs with more records than this (default 1200: T=18)")
    p.add_argument("--screenshot", metavar="PNG",
                   help="also write a picture of the page mid-walk (needs Playwright and a Chromium browser)")
    return p


def main(argv: list[str] | None = None) -> int:
    from .app.cli import readable_streams

    readable_streams()
    args = parser().parse_args(argv)
    if viz is None:
        print(f"error: {_VIZ_ERROR}", file=sys.stderr)
        return 1
    if args.screenshot is not None and not args.screenshot.lower().endswith(".png"):
        print(f"error: --screenshot: expected a .png file name, got {args.screenshot[:80]!r}", file=sys.stderr)
        return 1
    try:
        model, xs, ys = model_and_sequence(args, lambda m, T: refuse_oversized_page(m, T, args.max_nodes))
        for flag, value in (("-o", args.output), ("--screenshot", args.screenshot)):
            if value is not None and not make_parent_dir(flag, value):
                return 1
        start = time.perf_counter()
        path = explore_unrolled(model, xs, ys, args.output, max_nodes=args.max_nodes, show_values=not args.no_values,
                                compact=not args.full, rankdir=args.rankdir)
        took = time.perf_counter() - start
        print(f"wrote {path} (T={args.steps}; {path.stat().st_size / 1024:.0f} KiB; made in {took:.2f} s)")
        if args.screenshot is not None:
            from tinygrad_rnn.viz.browser import screenshot

            shot = screenshot(path, args.screenshot)
            print(f"wrote {shot} (the backward walk half way through)")
    except viz.VizError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
