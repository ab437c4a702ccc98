"""viz: Graphviz drawings of graphs recorded by tinygrad_rnn, above all the unrolled RNN.

    import viz
    g = viz.draw(loss)                          # any recorded tensor → graphviz.Digraph
    g = viz.draw_unrolled(model, xs, ys)        # the unrolled sequence model, after backward
    viz.render(g, "out.svg")                    # .svg .png .pdf need Graphviz' dot; .dot never does

Command line: ``python -m viz unrolled --steps 4 -o unrolled.svg`` (see ``python -m viz --help``).
Run from the checkout; this package is not installed.
"""

from .graph import DEFAULT_MAX_NODES, GraphTooLargeError, VizError, draw, retain_grads
from .rendering import dot_binary, render
from .unrolled import draw_unrolled, step_blocks

__all__ = ["draw", "draw_unrolled", "render", "retain_grads", "dot_binary", "step_blocks", "VizError",
           "GraphTooLargeError", "DEFAULT_MAX_NODES"]
