"""tinygrad_rnn.viz: Graphviz drawings of graphs recorded by tinygrad_rnn.

    from tinygrad_rnn import viz
    L.backward()
    g = viz.draw(L)                             # any recorded tensor → graphviz.Digraph, before or after backward
    viz.render(g, "out.svg")                    # .svg .png .pdf need Graphviz' dot; .dot never does
    viz.explore(L2, "walk.html")                # (instead of L2.backward()) a page that steps through the walk

viz knows scopes and tags, not models: ``draw(L, color_tag="kind", legend={"mix": "h = tanh(...)"})``
colours op nodes by a tag's value.  The seed's unrolled RNN is drawn by
``tinygrad_rnn.models.draw`` (``python -m tinygrad_rnn.models.draw --steps 4 -o unrolled.svg``).
Needs the ``viz`` extra: ``pip install 'tinygrad_rnn[viz]'``.
"""

try:
    import graphviz as _graphviz  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised in a venv without the extra (tests/package/test_packaging.py)
    raise ImportError("tinygrad_rnn.viz needs the 'viz' extra: pip install 'tinygrad_rnn[viz]'") from e

from .graph import DEFAULT_MAX_NODES, MAX_LAYOUT_COST, GraphTooLargeError, VizError, draw, layout_cost, retain_grads
from .explore import explore
from .rendering import FORMATS, dot_binary, render, svg

__all__ = ["draw", "render", "explore", "svg", "retain_grads", "dot_binary", "VizError", "GraphTooLargeError", "DEFAULT_MAX_NODES",
           "MAX_LAYOUT_COST", "layout_cost",
           "FORMATS"]
