"""Step through backpropagation: ``explore(tensor, "walk.html")`` writes one self-contained page.

The page shows the drawing of ``tensor``'s recorded graph (the same layout and look as
:func:`~tinygrad_rnn.viz.draw`) and lets the reader step through

- the **forward replay**: the records in tape order, each op's inputs and output value;
- the **backward walk**: the records in reverse tape order, exactly as
  :func:`tinygrad_rnn.backward.backward` visits them — at each step the upstream gradient
  ``g = ∂L/∂out`` arriving at the record, what its rule gives each input (``g · ∂out/∂input``,
  broadcasting undone), and each input's gradient *accumulated so far*.  A value used by n later
  ops (fan-out) receives n contributions, and the page shows the partial sum filling up
  (``Σ 2/3``) until it is complete — that sum is the one hand derivations of BPTT write by hand.

The numbers are the engine's own: ``explore`` runs ``backward()`` once with an observer
(:class:`tinygrad_rnn.backward.Observed`) that copies every arriving gradient and every addition
the walk makes, so the page's last step shows the very ``.grad`` that ``backward()`` left on each
leaf (checked before the page is written).  Like ``backward()``, ``explore`` frees the graph and
*adds* to the leaves' ``.grad``.

Everything is inline (script, style, the SVG drawing, the data): the file opens from disk with no
network access.  The page works without a mouse (arrow keys, space, Home/End, Tab to a node and
Enter), uses Paul Tol's colour-blind-safe colours plus outline styles (solid / dashed / dotted)
so that no state is told by colour alone, and is pure SVG/HTML text (legible at any zoom).

``track_grads`` and ``heatmaps`` add side panels without viz knowing what they mean: the caller
names tensors of the graph (e.g. the hidden states h_1..h_T, or the attention rows α_t).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn.backward import backward as _engine_backward

from . import style
from .graph import DEFAULT_MAX_NODES, MAX_LAYOUT_COST, VizError, _draw, _fmt_index
from .rendering import _checked_path, svg, write_atomic

__all__ = ["explore", "MAX_SHOWN"]

MAX_SHOWN = 64  # arrays with at most this many elements are stored (and shown) in full; larger ones as a summary


def _num(x: float) -> float | str:
    """A JSON-safe number: 9 significant digits (the page prints 6), non-finite values as strings."""
    if math.isfinite(x):
        return float(f"{x:.9g}")
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _enc(a: Any) -> dict[str, Any] | None:
    """An array for the page: shape and values (≤ MAX_SHOWN elements), or shape and a summary.
    Copies, so later in-place changes by the walk cannot reach the page."""
    if a is None:
        return None
    a = np.asarray(a)
    out: dict[str, Any] = {"s": list(a.shape)}
    if a.dtype.kind == "b":
        a = a.astype(np.int8)
    flat = np.asarray(a, dtype=np.float64).reshape(-1)
    if flat.size <= MAX_SHOWN:
        out["v"] = [_num(float(x)) for x in flat]
    else:
        finite = flat[np.isfinite(flat)]
        out["min"] = _num(float(finite.min())) if finite.size else "NaN"
        out["max"] = _num(float(finite.max())) if finite.size else "NaN"
        out["head"] = [_num(float(x)) for x in flat[:4]]
    out["n"] = _num(float(np.sqrt(np.sum(flat * flat))))  # the L2 norm
    return out


class _Recorder:
    """The observer handed to the engine's walk: it turns each report into page data at once."""

    def __init__(self, key_of: Mapping[int, str], rec_key: Mapping[int, str]) -> None:
        self.key_of = key_of  # id(leaf tensor) or id(record) -> page key
        self.rec_key = rec_key  # id(record) -> page key
        self.steps: list[dict[str, Any]] = []

    def arrive(self, rec: tg.Record, g: Any) -> None:
        self.steps.append({"rec": self.rec_key[id(rec)], "g": _enc(g), "out": []})

    def added(self, rec: tg.Record, i: int, x: Any, gx: Any, total: Any) -> None:
        target = self.key_of[id(x.record)] if x.record is not None else self.key_of[id(x)]
        self.steps[-1]["out"].append({"i": i, "to": target, "c": _enc(gx), "tot": _enc(total)})


def explore(
    tensor: tg.Tensor,
    path: str | os.PathLike[str],
    *,
    grad: Any = None,
    title: str | None = None,
    track_grads: Mapping[str, Sequence[tg.Tensor]] | None = None,
    heatmaps: Mapping[str, Sequence[tg.Tensor]] | None = None,
    color_tag: str | None = None,
    legend: Mapping[Any, str] | None = None,
    fold: Iterable[str] = (),
    compact: bool = True,
    show_values: bool = True,
    rankdir: str = "TB",
    max_nodes: int = DEFAULT_MAX_NODES,
    timeout: float = 120.0,
    max_layout_cost: int = MAX_LAYOUT_COST,
) -> Path:
    """Write the interactive page of ``tensor``'s forward replay and backward walk to ``path`` (.html).

    Runs ``tensor.backward(grad)`` (so call it *instead of* backward: the graph must still be
    alive, and the leaves' ``.grad`` get the gradient added as backward would).  ``title``,
    ``color_tag``, ``legend``, ``fold``, ``compact``, ``show_values``, ``rankdir`` and ``max_nodes``
    are :func:`~tinygrad_rnn.viz.draw`'s.  Side panels:

    - ``track_grads={"‖∂L/∂h_t‖": [h_1, ..., h_T]}``: a bar per tensor, its gradient norm filling
      in as the walk reaches it (log scale; hatched while still a partial sum);
    - ``heatmaps={"α_{t,i}": [α_1, ..., α_T]}``: one row per tensor (its values, flattened),
      appearing as the forward replay computes it; in the backward walk a second grid shows each
      row's gradient filling in (Tol's blue–white–red diverging scale, "…" while a partial sum).

    Rows and bars whose tensor was recorded in the current record's top-level scope (``t=3``) are
    marked as the walk moves.

    Every tensor named in a panel must belong to the graph.  Returns the path written; the file
    appears complete or not at all.  Needs the Graphviz ``dot`` binary (for the layout).
    """
    if not isinstance(tensor, tg.Tensor):
        raise TypeError(f"explore: expected a tinygrad_rnn Tensor, got {type(tensor).__name__}")
    target = _checked_path(path, {".html": "html", ".htm": "html"}, "the page is written as .html")
    if tensor.record is None:
        raise VizError("explore: this tensor has no recorded history (a leaf, or computed under no_grad()); "
                       "there is no walk to show")
    try:
        tg.tape_of(tensor)
    except RuntimeError:
        raise VizError("explore: this graph was already freed by backward(); call viz.explore(out, path) instead "
                       "of out.backward() (it runs the backward pass itself), or use backward(retain_graph=True) "
                       "first") from None
    graph, plan, nodes = _draw(
        tensor, show_values=show_values, show_grads=False, cluster_scopes=True, max_nodes=max_nodes, color_by=None,
        color_tag=color_tag, legend=dict(legend) if legend else None, collapse=False, group=None, max_blocks=16,
        fold=fold, rankdir=rankdir, title=title, compact=compact, max_layout_cost=max_layout_cost)
    drawing = _svg_for_page(svg(graph, timeout))

    # the records and leaves, keyed for the page; forward values copied before the walk frees anything
    rec_key = {id(rec): f"r{k}" for k, (rec, _) in enumerate(nodes)}
    key_of: dict[int, str] = dict(rec_key)
    fanout: dict[str, int] = {}
    leaves: list[tg.Tensor] = []
    records = []
    for k, (rec, t) in enumerate(nodes):
        inputs = []
        for i, x in enumerate(rec.inputs):
            key = None
            if isinstance(x, tg.Tensor):
                if x.record is None and id(x) not in key_of:
                    key_of[id(x)] = f"l{len(leaves)}"
                    leaves.append(x)
                key = key_of[id(x.record) if x.record is not None else id(x)]
                if x.requires_grad and rec.vjps is not None and rec.vjps[i] is not None:
                    fanout[key] = fanout.get(key, 0) + 1
            inputs.append(key)
        records.append({
            "key": f"r{k}", "seq": rec.seq, "op": rec.op.name, "name": t.name, "scope": rec.scope,
            "tags": {str(a): str(b) for a, b in (rec.tags or {}).items()},
            "kwargs": {a: _fmt_index(b) if a == "index" else _short(b) for a, b in rec.kwargs.items()},
            "inputs": inputs, "value": _enc(t.data),
            "opNode": plan.op_of.get(k), "valueNode": plan.value_of.get(k),
        })
    leaf_data = [{
        "key": f"l{n}", "name": x.name or ("parameter" if x.requires_grad else "input"), "param": x.requires_grad,
        "value": _enc(x.data), "node": plan.leaf_of.get(id(x)), "gradBefore": _enc(x.grad),
    } for n, x in enumerate(leaves)]
    panels = _panels(track_grads, heatmaps, nodes)

    recorder = _Recorder(key_of, rec_key)
    _engine_backward(tensor, grad.data if isinstance(grad, tg.Tensor) else grad, False, recorder)

    final = {f"l{n}": _enc(x.grad) for n, x in enumerate(leaves) if x.requires_grad}
    last = {}
    for step in recorder.steps:
        for o in step["out"]:
            last[o["to"]] = o["tot"]
    for key, enc in final.items():  # the page's last partial sums are the engine's .grad (correct or loud)
        if key in last and last[key] != enc:
            raise AssertionError(f"explore: the walk's last sum for leaf {key} differs from its .grad")
    if len(recorder.steps) != len(nodes):
        raise AssertionError(f"explore: the walk visited {len(recorder.steps)} records, the graph has {len(nodes)}")

    data = {
        "title": title or "", "colorTag": color_tag or "", "legend": {str(k): v for k, v in (legend or {}).items()},
        "legendColours": {str(k): style.TAG_COLOURS[i % len(style.TAG_COLOURS)] for i, k in enumerate(legend or {})},
        "records": records, "leaves": leaf_data, "fanout": fanout, "backward": recorder.steps, "final": final,
        "panels": panels, "maxShown": MAX_SHOWN,
    }
    page = _page(title or "backpropagation, step by step", drawing, data)
    return write_atomic(target, page.encode("utf-8"))


def _short(v: Any) -> str:
    text = repr(v) if not isinstance(v, np.ndarray) else f"array{v.shape}"
    return text if len(text) <= 60 else text[:59] + "…"


def _panels(track_grads: Mapping[str, Sequence[tg.Tensor]] | None, heatmaps: Mapping[str, Sequence[tg.Tensor]] | None,
            nodes: list[tuple[tg.Record, Any]]) -> list[dict[str, Any]]:
    index = {id(rec): k for k, (rec, _) in enumerate(nodes)}

    def keys(title: str, tensors: Sequence[tg.Tensor], kind: str) -> list[dict[str, str]]:
        out = []
        for j, t in enumerate(tensors):
            rec = getattr(t, "record", None)
            if not isinstance(t, tg.Tensor) or rec is None or id(rec) not in index:
                raise VizError(f"explore: {kind}[{title!r}][{j}] is not a tensor computed in this graph")
            out.append({"key": f"r{index[id(rec)]}", "label": t.name or f"#{j + 1}"})
        return out

    panels = [{"kind": "bars", "title": k, "items": keys(k, v, "track_grads")} for k, v in (track_grads or {}).items()]
    panels += [{"kind": "heatmap", "title": k, "items": keys(k, v, "heatmaps")} for k, v in (heatmaps or {}).items()]
    return panels


_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)


def _svg_for_page(text: str) -> str:
    """Graphviz's SVG without its XML prolog and DOCTYPE, sized by the page (viewBox kept)."""
    text = _PROLOG.sub("", text, count=1)
    text = re.sub(r'<svg width="[^"]*" height="[^"]*"', '<svg id="graph" width="100%" height="100%"', text, count=1)
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


def _asset(name: str) -> str:
    return resources.files("tinygrad_rnn.viz").joinpath("assets", name).read_text(encoding="utf-8")


def _page(title: str, drawing: str, data: dict[str, Any]) -> str:
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    payload = payload.replace("<", "\\u003c")  # (only inside JSON strings) never ends the script element early
    payload = re.sub("[\ud800-\udfff]", "\ufffd", payload)  # lone surrogates (from non-UTF-8 names): U+FFFD
    parts = {"TITLE": html.escape(style.clean(title)), "STYLE": _asset("explore.css"), "SVG": drawing,
             "DATA": payload, "SCRIPT": _asset("explore.js")}
    # one pass, so text inside a part (a user's name, say) is never taken for a placeholder
    return re.sub(r"\{\{(TITLE|STYLE|SVG|DATA|SCRIPT)\}\}", lambda m: parts[m.group(1)], _asset("explore.html"))
