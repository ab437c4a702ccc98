"""The seed's RNN unrolled over time, drawn: ``draw_unrolled(model, xs, ys)`` and its command line.

    python -m tinygrad_rnn.models.draw --steps 4 -o unrolled.svg
    python -m tinygrad_rnn.models.draw --steps 200 --collapse --color-by grad -o long.svg

This is where the model tells the generic drawer (:mod:`tinygrad_rnn.viz`) what its tags and
scopes mean: ops are coloured by their ``eq`` tag with the seed's equations as the legend, and
grouped by the ``t=<t>`` scope of the time step that recorded them.  Parameters are drawn once,
outside the step clusters, with an edge into every step that uses them (Wᵀ is folded into W).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

import tinygrad_rnn as tg

from .attention_rnn import AttentionRNN
from .app.cli import OneLineParser, make_parent_dir, non_negative_int, positive_int

try:
    from tinygrad_rnn import viz
except ImportError as _e:  # the viz extra is missing
    viz = None  # type: ignore[assignment]
    _VIZ_ERROR = str(_e)

__all__ = ["draw_unrolled", "draw_backward", "step_blocks", "unrolled_records", "main"]

_STEP = re.compile(r"^t=(\d+)$")
MAX_RECORDS = 200_000  # beyond this even the collapsed view would cost minutes and gigabytes to record


def step_blocks(steps: int, max_blocks: int = 16) -> tuple[int, Callable[[str], str | None]]:
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


def unrolled_records(model: AttentionRNN, steps: int) -> int:
    """How many records ``model.loss(mode="unrolled")`` makes for ``steps`` steps, without running it.

    Step t computes t attention scores, so the count is a quadratic in T; it is measured at
    T = 1, 2, 3 (tiny, exact) and extrapolated — tests check the formula against real counts."""
    counts = []
    for T in (1, 2, 3):
        xs = np.zeros((T, model.U.shape[1]))
        ys = np.zeros(T, dtype=np.int64)
        counts.append(len(tg.graph_of(model.loss(xs, ys, mode="unrolled"))))
    c = (counts[2] - 2 * counts[1] + counts[0]) / 2  # second difference / 2
    b = counts[1] - counts[0] - 3 * c
    a = counts[0] - b - c
    return int(round(a + b * steps + c * steps * steps))


def max_steps(model: AttentionRNN, max_records: int) -> int:
    """The longest sequence whose unrolled graph records at most ``max_records`` ops (0 if none)."""
    T = 0
    while unrolled_records(model, T + 1) <= max_records and T < 100_000:
        T += 1
    return T


def refuse_oversized_drawing(model: AttentionRNN, steps: int, collapse: bool, max_nodes: int) -> None:
    """Raise ``GraphTooLargeError`` if the unrolled drawing of ``steps`` steps would be too large
    (counted by :func:`unrolled_records`, before anything of that size is built)."""
    expected = unrolled_records(model, steps)
    if expected > MAX_RECORDS or (not collapse and expected > max_nodes):
        raise viz.GraphTooLargeError(
            f"viz: T={steps} records {expected} ops, " + (
                f"more than the {MAX_RECORDS} a drawing can afford; draw fewer steps (--steps)"
                if expected > MAX_RECORDS else
                f"so the drawing has at least {expected} nodes, more than max_nodes={max_nodes}: draw at most "
                f"T={max_steps(model, max_nodes)} steps (--steps), use the collapsed view (collapse=True, "
                "--collapse), or raise max_nodes (--max-nodes)"))


@contextmanager
def _grads_set_aside(model: AttentionRNN) -> Iterator[dict[str, Any]]:
    """The model's parameters with ``.grad`` cleared for a drawing's own backward pass, and the
    caller's gradients put back afterwards."""
    params = model.params()
    saved = {k: p.grad for k, p in params.items()}
    try:
        for p in params.values():
            p.grad = None
        yield params
    finally:
        for k, p in params.items():
            p.grad = saved[k]


def draw_unrolled(
    model: AttentionRNN,
    xs: Any,
    ys: Any,
    *,
    backward: bool = True,
    color_by: str | None = None,
    collapse: bool = False,
    max_blocks: int = 16,
    show_values: bool = True,
    show_grads: bool = True,
    max_nodes: int | None = None,
    rankdir: str = "TB",
    compact: bool = True,
) -> Any:
    """Run ``model.loss(xs, ys, mode="unrolled")``, optionally backward, and draw it.

    One cluster per time step (``t=1..T``); with ``collapse=True`` one node per block of steps
    (at most ``max_blocks``), edges counting the values that cross between blocks.  After
    ``backward`` every node shows its gradient; ``color_by="grad"`` colours by its norm (log scale).
    ``compact=True`` (default) draws named values (h_t, Z_t, ...) as nodes and lets each op node
    stand for its unnamed output; ``compact=False`` draws every intermediate value.
    Oversized drawings are refused before the model runs.  The model's ``.grad`` values are
    restored afterwards.
    """
    if viz is None:
        raise ImportError(_VIZ_ERROR)
    max_nodes = viz.DEFAULT_MAX_NODES if max_nodes is None else max_nodes
    steps = len(xs) if np.ndim(xs) == 2 else np.shape(xs)[1]
    refuse_oversized_drawing(model, steps, collapse, max_nodes)
    with _grads_set_aside(model):
        loss = model.loss(xs, ys, mode="unrolled")
        loss.name = "L"
        if backward:
            viz.retain_grads(loss)
            loss.backward()
        group = step_blocks(steps, max_blocks)[1] if collapse else None
        title = f"{type(model).__name__}, unrolled over T={steps} steps" + (" (after backward)" if backward else "")
        return viz.draw(loss, show_values=show_values, show_grads=show_grads and backward, cluster_scopes=True,
                        max_nodes=max_nodes, color_by=color_by if backward else None, group=group,
                        fold=("transpose",), rankdir=rankdir, title=title, color_tag="eq",
                        legend=model.EQUATIONS, compact=compact)


def draw_backward(model: AttentionRNN, xs: Any, ys: Any, *, max_nodes: int | None = None, show_values: bool = False,
                  rankdir: str = "TB") -> Any:
    """The backward pass itself, drawn: ``loss.backward(create_graph=True)`` records every rule
    as engine ops (tagged with the forward record and equation they differentiate), and the graph
    of ∂L/∂W — forward and backward ops together, grouped by time step, the backward ops of step t
    in a nested ``backward`` cluster, coloured by the seed's equation — is drawn.  BPTT made
    visible."""
    if viz is None:
        raise ImportError(_VIZ_ERROR)
    max_nodes = 4 * viz.DEFAULT_MAX_NODES if max_nodes is None else max_nodes
    steps = len(xs) if np.ndim(xs) == 2 else np.shape(xs)[1]
    draw_backward_size(model, steps, max_nodes)
    with _grads_set_aside(model) as params:
        loss = model.loss(xs, ys, mode="unrolled")
        loss.backward(create_graph=True)
        grad_W = params["W"].grad
        grad_W.name = "∂L/∂W"
        return viz.draw(grad_W, show_values=show_values, show_grads=False, cluster_scopes=True, max_nodes=max_nodes,
                        fold=("transpose",), rankdir=rankdir, color_tag="eq", legend=model.EQUATIONS, compact=True,
                        title=f"{type(model).__name__}: the recorded backward pass giving ∂L/∂W, T={steps}")


def draw_backward_size(model: AttentionRNN, steps: int, max_nodes: int | None = None) -> None:
    """Raise ``GraphTooLargeError`` if the recorded backward graph of ``steps`` steps is too large."""
    max_nodes = 4 * viz.DEFAULT_MAX_NODES if max_nodes is None else max_nodes
    expected = 4 * unrolled_records(model, steps)  # the backward pass records a few ops per forward op
    if expected > max_nodes:
        raise viz.GraphTooLargeError(f"viz: the backward graph of T={steps} has about {expected} nodes, more than "
                                     f"max_nodes={max_nodes}; draw fewer steps (T ≤ 3 is readable)")


def add_model_arguments(p: argparse.ArgumentParser, steps: int) -> None:
    """The model and sequence flags shared by the drawing and the explore command lines."""
    p.add_argument("--steps", "-T", type=positive_int, default=steps, help=f"sequence length T (default {steps})")
    p.add_argument("--input-size", "-D", type=positive_int, default=2, help="input size D (default 2)")
    p.add_argument("--hidden-size", "-H", type=positive_int, default=3, help="hidden size H (default 3)")
    p.add_argument("--output-size", "-K", type=positive_int, default=3, help="number of classes K (default 3)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed for the parameters and the random sequence (default 0)")
    p.add_argument("--attend-h0", action="store_true", help="the literal k = 0..t reading of eqs 3-4")


MAX_PARAMETERS = 1_000_000  # a drawing labels values; a model beyond this is not one to draw


def model_and_sequence(args: argparse.Namespace, check: Callable[[AttentionRNN, int], None] | None = None,
                       ) -> tuple[AttentionRNN, np.ndarray, np.ndarray]:
    """The model and the random sequence those flags describe.  Sizes are refused before
    anything of their size is allocated: the parameter count first, then ``check(model, steps)``
    (the drawing's own size guard), then the sequence."""
    D, H, K = args.input_size, args.hidden_size, args.output_size
    count = H * H + H * D + H + K * H + K
    if count > MAX_PARAMETERS:
        raise viz.GraphTooLargeError(f"viz: -D {D} -H {H} -K {K} make a model of {count} parameters, more than the "
                                     f"{MAX_PARAMETERS} a drawing can show; use smaller sizes")
    model = AttentionRNN(D, H, K, seed=args.seed, attend_h0=args.attend_h0)
    if check is not None:
        check(model, args.steps)
    rng = np.random.default_rng(args.seed + 1)
    return model, rng.standard_normal((args.steps, args.input_size)), rng.integers(0, args.output_size, args.steps)


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m tinygrad_rnn.models.draw",
        description="Draw the seed's attention RNN (mode='unrolled') on a random sequence: one cluster per time "
                    "step, parameters drawn once with an edge into every step, attention edges from every h_i into "
                    "step t, ops coloured by the seed equation they compute, and (after backward) each value's "
                    "gradient.",
    )
    add_model_arguments(p, steps=4)
    p.add_argument("-o", "--output", required=True,
                   help="output file; the format comes from the extension (.dot .gv .pdf .png .svg); "
                        ".dot needs no Graphviz binary")
    p.add_argument("--no-backward", action="store_true", help="draw the forward graph only (no gradients)")
    p.add_argument("--color-by", choices=["none", "grad"], default="none",
                   help="'grad': colour values by gradient norm on a log scale, with a legend")
    p.add_argument("--collapse", action="store_true", help="one node per block of time steps (for long sequences)")
    p.add_argument("--max-blocks", type=positive_int, default=16,
                   help="blocks in the collapsed view (default 16; dot slows sharply beyond ~20)")
    p.add_argument("--full", action="store_true", help="draw every intermediate value as its own node")
    p.add_argument("--long", action="store_true",
                   help="the long-sequence view (any T up to 5000; .png .svg .pdf, needs matplotlib): attention "
                        "weights, the chain coloured by the last loss's gradient, and that gradient against t with "
                        "and without attention")
    p.add_argument("--backward-graph", action="store_true",
                   help="draw the recorded backward pass (loss.backward(create_graph=True)) that computes ∂L/∂W")
    p.add_argument("--no-values", action="store_true", help="leave values out of the labels (smaller nodes)")
    p.add_argument("--rankdir", choices=["TB", "LR"], default="TB", help="layout direction (default TB)")
    p.add_argument("--max-nodes", type=positive_int, default=1200,
                   help="refuse drawings with more nodes than this (default 1200)")
    return p


def main(argv: list[str] | None = None) -> int:
    from .app.cli import readable_streams

    readable_streams()
    args = parser().parse_args(argv)
    if viz is None:
        print(f"error: {_VIZ_ERROR}", file=sys.stderr)
        return 1
    if args.long:
        return _main_long(args)
    try:
        if args.backward_graph:
            check = lambda m, T: draw_backward_size(m, T)  # noqa: E731
        else:
            check = lambda m, T: refuse_oversized_drawing(m, T, args.collapse, args.max_nodes)  # noqa: E731
        model, xs, ys = model_and_sequence(args, check)
        if not make_parent_dir("-o", args.output):
            return 1
        start = time.perf_counter()
        graph = draw_backward(model, xs, ys, rankdir=args.rankdir) if args.backward_graph else \
            draw_unrolled(model, xs, ys, backward=not args.no_backward,
                              color_by=None if args.color_by == "none" else args.color_by,
                              collapse=args.collapse, max_blocks=args.max_blocks, max_nodes=args.max_nodes,
                              compact=not args.full, show_values=not args.no_values, rankdir=args.rankdir)
        built = time.perf_counter() - start
        path = viz.render(graph, args.output)
        total = time.perf_counter() - start
    except viz.VizError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path} (T={args.steps}; {graph.source.count(' -> ')} edges; graph built in {built:.2f} s, "
          f"written in {total - built:.2f} s)")
    return 0


def _main_long(args: argparse.Namespace) -> int:
    from .long_view import MAX_LONG_STEPS, draw_long

    suffix = args.output.rsplit(".", 1)[-1].lower() if "." in args.output else ""
    if suffix not in ("png", "svg", "pdf"):
        print(f"error: -o: the long view writes .png, .svg or .pdf, got {args.output[:80]!r}", file=sys.stderr)
        return 1
    if not 2 <= args.steps <= MAX_LONG_STEPS:
        print(f"error: --steps: the long view draws 2 to {MAX_LONG_STEPS} steps, got {args.steps}", file=sys.stderr)
        return 1
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("error: --long needs matplotlib: pip install 'tinygrad_rnn[train]'", file=sys.stderr)
        return 1
    try:
        model, xs, ys = model_and_sequence(args)
        if not make_parent_dir("-o", args.output):
            return 1
        start = time.perf_counter()
        path = draw_long(model, xs, ys, args.output)
    except (viz.VizError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path} (T={args.steps}, the long view; made in {time.perf_counter() - start:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
