"""``python -m viz``: draw recorded graphs from the command line.

    python -m viz unrolled --steps 4 --hidden-size 3 -o unrolled.svg
    python -m viz unrolled --steps 200 --collapse --color-by grad -o long.png
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from models.cli import OneLineParser, positive_int

from .graph import DEFAULT_MAX_NODES, VizError
from .rendering import FORMATS, render
from .unrolled import draw_unrolled


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m viz", description="Graphviz drawings of tinygrad_rnn graphs.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    u = sub.add_parser(
        "unrolled",
        help="draw the seed's attention RNN unrolled over time",
        description="Draw models.attention_rnn.AttentionRNN in mode='unrolled' on a random sequence: one cluster "
                    "per time step, parameters drawn once with an edge into every step, attention edges from every "
                    "h_i into step t, and (after backward) each value's gradient norm.",
    )
    u.add_argument("--steps", "-T", type=positive_int, default=4, help="sequence length T (default 4)")
    u.add_argument("--input-size", "-D", type=positive_int, default=2, help="input size D (default 2)")
    u.add_argument("--hidden-size", "-H", type=positive_int, default=3, help="hidden size H (default 3)")
    u.add_argument("--output-size", "-K", type=positive_int, default=3, help="number of classes K (default 3)")
    u.add_argument("--seed", type=int, default=0, help="seed for the parameters and the random sequence (default 0)")
    u.add_argument("--attend-h0", action="store_true", help="the literal k = 0..t reading of eqs 3-4")
    u.add_argument("-o", "--output", required=True,
                   help=f"output file; the format comes from the extension ({', '.join(sorted(FORMATS))}); "
                        ".dot needs no Graphviz binary")
    u.add_argument("--no-backward", action="store_true", help="draw the forward graph only (no gradients)")
    u.add_argument("--color-by", choices=["none", "grad"], default="none",
                   help="'grad': colour values by gradient norm on a log scale, with a legend")
    u.add_argument("--collapse", action="store_true",
                   help="one node per block of time steps (for long sequences)")
    u.add_argument("--max-blocks", type=positive_int, default=16, help="blocks in the collapsed view (default 16; dot slows sharply beyond ~20)")
    u.add_argument("--full", action="store_true", help="draw every intermediate value as its own node")
    u.add_argument("--max-nodes", type=positive_int, default=DEFAULT_MAX_NODES,
                   help=f"refuse drawings with more nodes than this (default {DEFAULT_MAX_NODES})")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from models.attention_rnn import AttentionRNN  # the model lives in the checkout, next to viz

    try:
        model = AttentionRNN(args.input_size, args.hidden_size, args.output_size, seed=args.seed,
                             attend_h0=args.attend_h0)
        rng = np.random.default_rng(args.seed + 1)
        xs = rng.standard_normal((args.steps, args.input_size))
        ys = rng.integers(0, args.output_size, args.steps)
        start = time.perf_counter()
        graph = draw_unrolled(model, xs, ys, backward=not args.no_backward,
                              color_by=None if args.color_by == "none" else args.color_by,
                              collapse=args.collapse, max_blocks=args.max_blocks, max_nodes=args.max_nodes,
                              compact=not args.full)
        built = time.perf_counter() - start
        path = render(graph, args.output)
        total = time.perf_counter() - start
    except VizError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path} (T={args.steps}; {graph.source.count(' -> ')} edges; graph built in {built:.2f} s, "
          f"written in {total - built:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
