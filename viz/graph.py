"""Drawing a recorded graph: ``draw(tensor)`` → ``graphviz.Digraph``.

The drawing is built from the tape (``tinygrad_rnn.graph_of``), walked in tape order, so:

- it never recurses (deep graphs are fine),
- node ids come from tape order (``op12``, ``v12``, ``in3``, ``c4``), never from ``id()``, so the
  same computation always gives byte-identical DOT,
- every op recorded inside ``tg.scope(name)`` goes into a ``cluster`` subgraph for that scope
  (nested scopes nest).

viz knows about tensors, ops, scopes and tags; it knows nothing about what the ops compute or
what a tag means: the caller names the tag to colour by (``color_tag="kind"``) and may pass a
``legend`` saying what each value means, and a ``group`` function for collapsed views.

It also works **after** a plain ``backward()``: the freed graph keeps its skeleton (op names,
shapes, scopes, tags, names, leaf values and leaf gradients), which is all a drawing needs;
intermediate values and gradients appear where the user asked for them before backward
(:func:`retain_grads`), and the drawing says where they were not kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import graphviz
import numpy as np

import tinygrad_rnn as tg

from . import style

__all__ = ["draw", "retain_grads", "VizError", "GraphTooLargeError", "DEFAULT_MAX_NODES", "MAX_LAYOUT_COST",
           "layout_cost"]

DEFAULT_MAX_NODES = 1200  # ~T=18 unrolled: dot lays it out in ~5 s; T=20 takes minutes or fails
#: the most layout work (nodes plus the virtual nodes of long edges, :func:`layout_cost`) a drawing
#: may ask of dot: about 7 s on a 2-core machine (benchmarks/dot_layout.py measures it)
MAX_LAYOUT_COST = 30_000


class VizError(RuntimeError):
    """A graph cannot be drawn or rendered (the message says what to do instead)."""


class GraphTooLargeError(VizError):
    """More nodes than ``max_nodes``: the drawing would be unreadable."""


@dataclass
class _Node:
    id: str
    label: str
    attrs: dict[str, str]
    scope: str = ""  # '' = top level


@dataclass
class _Plan:
    """The drawing before it becomes DOT: nodes in tape order, edges in tape order."""

    nodes: list[_Node] = field(default_factory=list)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    norms: dict[str, float | None] = field(default_factory=dict)  # tensor node id -> ‖grad‖
    not_kept: int = 0  # freed intermediates whose value and gradient were not kept
    op_of: dict[int, str] = field(default_factory=dict)  # k (tape position in the graph) -> its op's node
    value_of: dict[int, str] = field(default_factory=dict)  # k -> the node that stands for its output
    leaf_of: dict[int, str] = field(default_factory=dict)  # id(leaf tensor) -> its node


def retain_grads(tensor: tg.Tensor) -> int:
    """Ask every intermediate tensor in ``tensor``'s history to keep its ``.grad`` (and value) in
    the next backward, so the drawing can show them everywhere.  Returns how many were marked."""
    history = _history(tensor)
    for t in history:
        t.retain_grad()
    return len(history)


def _history(tensor: tg.Tensor) -> list[tg.Tensor]:
    try:
        return tg.tape_of(tensor)
    except RuntimeError as e:
        raise VizError(
            "viz: retain_grads must be called before backward(); this graph was already freed by backward()"
        ) from e


# ----------------------------------------------------------------------------- labels
def _fmt_index(index: Any) -> str:
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if isinstance(p, slice):
            start = "" if p.start is None else str(p.start)
            stop = "" if p.stop is None else str(p.stop)
            step = "" if p.step is None else f":{p.step}"
            out.append(f"{start}:{stop}{step}")
        elif p is Ellipsis:
            out.append("...")
        elif p is None:
            out.append("None")
        elif isinstance(p, np.ndarray):
            out.append(f"array{p.shape}")
        else:
            out.append(repr(p))
    return "[" + ", ".join(out) + "]"


class _Palette:
    """Fill colours by tag value: the legend's keys first, then values in the order first seen."""

    def __init__(self, keys: Iterable[Any]) -> None:
        self.index: dict[Any, int] = {}
        for k in keys:
            self.add(k)

    def add(self, key: Any) -> None:
        if key is not None and key not in self.index:
            self.index[key] = len(self.index)

    def fill(self, key: Any) -> str:
        return style.OP_DEFAULT if key not in self.index else style.TAG_COLOURS[self.index[key] % len(style.TAG_COLOURS)]

    def edge(self, key: Any) -> str:
        return "#333333" if key not in self.index else style.TAG_EDGE_COLOURS[self.index[key] % len(style.TAG_EDGE_COLOURS)]


def _broadcasts(rec: tg.Record) -> list[str]:
    """The inputs an elementwise op broadcast to its output's shape, as ``b (3,) → (2, 3)``.  An op
    is elementwise here when its tensor inputs' shapes broadcast to exactly its output's (add, mul,
    where, ...; not matmul, stack or a reduction); Python scalars are left out."""
    out = tuple(rec.shape)
    shaped = [(j, x) for j, x in enumerate(rec.inputs) if not isinstance(x, (int, float, complex, bool))]
    shapes = []
    for _, x in shaped:
        shape = getattr(x, "shape", None)
        if shape is None:
            return []
        shapes.append(tuple(shape))
    if len(shapes) < 2 or len(set(shapes)) == 1:
        return []
    try:
        if tuple(np.broadcast_shapes(*shapes)) != out:
            return []
    except ValueError:
        return []
    lines = []
    for (j, x), shape in zip(shaped, shapes):
        if shape != out:
            name = (x.out_name if type(x) is tg.Record else getattr(x, "name", None)) or f"input {j}"
            lines.append(f"{name} {shape} → {out}")
    return lines


def _op_label(rec: tg.Record, color_tag: str | None, output: str = "") -> str:
    details = []
    for k, v in rec.kwargs.items():
        if k == "keepdims" and v is False:
            continue
        if k == "reduction" and v == "sum":
            continue
        details.append(_fmt_index(v) if k == "index" else f"{k}={v}")
    scalars = [style.fmt_number(float(x)) for x in rec.inputs if isinstance(x, (int, float, np.number))]
    if scalars:
        details.append("with " + ", ".join(scalars))
    spread = _broadcasts(rec)
    if spread:
        details.append("broadcast " + ", ".join(spread))
    tags = rec.tags or {}
    shown = [f"{color_tag} {tags[color_tag]}"] if color_tag in tags else []
    shown += [f"{k}={v}" for k, v in tags.items() if k != color_tag]
    return style.html_label(rec.op.name, " ".join(details), " ".join(shown), output)


def _tensor_lines(shape: tuple[int, ...], value: Any, grad: Any, show_values: bool, show_grads: bool) -> list[str]:
    """Shape, then signed values (or a summary), then the gradient the same way."""
    lines = [str(tuple(shape))]
    if show_values and value is not None:
        lines.append(style.summarise(value))
    if show_grads and grad is not None:
        lines.append("grad " + style.summarise(grad))
    return lines


# ----------------------------------------------------------------------------- planning
def _plan(
    tensor: tg.Tensor,
    nodes: list[tuple[tg.Record, Any]],
    show_values: bool,
    show_grads: bool,
    fold: Iterable[str],
    compact: bool,
    hidden: Callable[[str], bool],
    color_tag: str | None,
    palette: _Palette,
    pseudo_scope: Callable[[int], str] | None,
) -> _Plan:
    """Turn the recorded graph into nodes and edges (no DOT yet).  Nodes in scopes for which
    ``hidden`` is true get no label (they are about to be collapsed into a block).
    ``pseudo_scope(k)`` puts the k-th op into a block of tape positions (collapsing a graph
    that has no scopes)."""
    fold = set(fold)
    plan = _Plan()
    node_of: dict[int, str] = {}  # id(record) -> node of its output; id(leaf object) -> leaf node
    leaf_obj: dict[str, Any] = {}
    suffix: dict[str, list[str]] = {}  # leaf id -> folded op names, e.g. ["transpose"]
    counters = {"in": 0, "c": 0}
    scope_of: dict[str, str] = {}  # node id -> scope, for tensor nodes made by ops

    def leaf(x: Any, scope: str = "") -> str:
        """Parameters (leaves that require grad) sit at top level; other inputs (data, h_0) sit
        in the scope of their first consumer."""
        if id(x) not in node_of:
            nid = f"in{counters['in']}"
            counters["in"] += 1
            node_of[id(x)] = nid
            plan.leaf_of[id(x)] = nid
            leaf_obj[nid] = x
            is_param = x.requires_grad
            attrs = {"shape": "box" if is_param else "ellipse", "style": "filled,bold" if is_param else "filled",
                     "fillcolor": style.PARAM_COLOUR if is_param else style.CONST_COLOUR}
            plan.nodes.append(_Node(nid, "", attrs, "" if is_param else scope))
            plan.norms[nid] = style.grad_norm(x.grad) if x.requires_grad else None
            suffix[nid] = []
            _set_leaf_label(plan.nodes[-1], x, [], show_values, show_grads)
        return node_of[id(x)]

    def source(x: Any, scope: str) -> str | None:
        if type(x) is tg.Record:
            return node_of[id(x)]
        rec = getattr(x, "record", None)
        if rec is not None:
            return node_of[id(rec)]
        if isinstance(x, (tg.Tensor, tg.Stub)):
            return leaf(x, scope)
        if isinstance(x, (np.ndarray, list, tuple)):
            cid = f"c{counters['c']}"
            counters["c"] += 1
            plan.nodes.append(_Node(cid, style.html_label("const", str(np.shape(x)), bold=False), {
                "shape": "ellipse", "style": "dashed", "fontsize": "8"}, scope))
            return cid
        return None  # Python scalars are shown in the op's label

    if tensor.record is None:
        leaf(tensor)
    for k, (rec, t) in enumerate(nodes):
        scope = rec.scope or (pseudo_scope(k) if pseudo_scope else "")
        kept = t is not None  # the output tensor is known (live graph, or retain_grad before backward)
        name = t.name if kept else rec.out_name
        value = t.data if kept else None
        grad = t.grad if kept else None
        inputs = list(rec.inputs)
        if rec.op.name in fold and len(inputs) == 1:
            only = inputs[0]
            if isinstance(only, tg.Tensor) and only.record is None:
                src = leaf(only)
                node_of[id(rec)] = src  # drawn as its leaf: W used as Wᵀ
                plan.op_of[k] = plan.value_of[k] = src
                suffix[src].append(rec.op.name)
                continue
        op_id, out_id = f"op{k}", f"v{k}"
        plan.op_of[k], plan.value_of[k] = op_id, out_id
        tag = rec.tags.get(color_tag) if (rec.tags and color_tag) else None
        palette.add(tag)
        quiet = bool(scope) and hidden(scope)
        op_node = _Node(op_id, "" if quiet else _op_label(rec, color_tag), {
            "shape": "box", "style": "rounded,filled", "fillcolor": palette.fill(tag),
        }, scope)
        plan.nodes.append(op_node)
        for x in inputs:
            src = source(x, scope)
            if src is not None:
                plan.edges.append((src, op_id, _edge_style(scope_of.get(src, ""), scope, tag, palette)))
        norm = style.grad_norm(grad)
        if quiet:  # about to be collapsed: no label work
            plan.nodes.append(_Node(out_id, "", {}, scope))
            plan.norms[out_id] = norm
            plan.edges.append((op_id, out_id, {}))
            node_of[id(rec)] = out_id
            continue
        if not kept and rec.freed:
            plan.not_kept += 1
        if compact and not name and rec is not tensor.record:  # the op node stands for its unnamed output
            node_of[id(rec)] = op_id
            plan.value_of[k] = op_id
            scope_of[op_id] = scope
            plan.norms[op_id] = norm
            op_node.label = _op_label(rec, color_tag, "→ " + "  ".join(
                _tensor_lines(rec.shape, value, grad, show_values, show_grads)))
            continue
        if name:
            label = style.html_label(name, *_tensor_lines(rec.shape, value, grad, show_values, show_grads))
            attrs = {"shape": "ellipse", "style": "filled", "fillcolor": style.TENSOR_COLOUR}
        else:  # unnamed intermediates stay small (values only if asked for)
            label = style.html_label("", *_tensor_lines(rec.shape, value, grad, show_values, show_grads), bold=False)
            attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": style.TENSOR_COLOUR, "fontsize": "8",
                     "color": "#aaaaaa"}
        plan.nodes.append(_Node(out_id, label, attrs, scope))
        scope_of[out_id] = scope
        plan.norms[out_id] = norm
        plan.edges.append((op_id, out_id, {}))
        node_of[id(rec)] = out_id
    # leaf labels, now that we know which ops were folded into them
    by_id = {n.id: n for n in plan.nodes}
    for nid, ops in suffix.items():
        if ops:
            _set_leaf_label(by_id[nid], leaf_obj[nid], ops, show_values, show_grads)
    return plan


def _set_leaf_label(node: _Node, x: Any, folded: list[str], show_values: bool, show_grads: bool) -> None:
    title = x.name or ("parameter" if x.requires_grad else "input")
    value = x.value if isinstance(x, tg.Stub) else x.data
    lines = _tensor_lines(x.shape, value, x.grad, show_values, show_grads)
    if folded:
        lines.append("used as " + ", ".join(f"{title}ᵀ" if op == "transpose" else f"{op}({title})"
                                            for op in sorted(set(folded))))
    node.label = style.html_label(title, *lines)


def _edge_style(src_scope: str, scope: str, tag: Any, palette: _Palette) -> dict[str, str]:
    """Edges that carry a value from one scope into another (e.g. from step i into step t) are
    drawn bold, in the darker colour of the consuming op's tag."""
    if not src_scope or src_scope == scope:
        return {}
    return {"color": palette.edge(tag), "penwidth": "1.6"}


# ----------------------------------------------------------------------------- collapsing
def _collapse(plan: _Plan, group: Callable[[str], str | None]) -> _Plan:
    """One node per group of scopes; edges aggregated, labelled with how many they stand for."""
    block_of: dict[str, str] = {}
    members: dict[str, list[_Node]] = {}
    order: list[str] = []
    out = _Plan()
    for n in plan.nodes:
        g = group(n.scope) if n.scope else None
        if g is None:
            out.nodes.append(n)
            out.norms[n.id] = plan.norms.get(n.id)
            block_of[n.id] = n.id
            continue
        bid = f"block{len(order)}" if g not in members else block_of[members[g][0].id]
        if g not in members:
            members[g] = []
            order.append(g)
        members[g].append(n)
        block_of[n.id] = bid
    for i, g in enumerate(order):
        nodes = members[g]
        bid = f"block{i}"
        n_ops = sum(1 for n in nodes if n.id.startswith("op"))
        norms = [plan.norms.get(n.id) for n in nodes if plan.norms.get(n.id) is not None]
        lines = [f"{n_ops} ops, {len(nodes) - n_ops} values"]
        if norms:
            lines.append(f"max ∇ ‖·‖ {style.fmt_number(max(norms))}")
        out.nodes.append(_Node(bid, style.html_label(g, *lines), {"shape": "box3d", "style": "filled",
                                                                   "fillcolor": "#f3f3f3"}))
        out.norms[bid] = max(norms) if norms else None
    counts: dict[tuple[str, str], int] = {}
    for src, dst, _ in plan.edges:
        a, b = block_of[src], block_of[dst]
        if a != b:
            counts[(a, b)] = counts.get((a, b), 0) + 1
    leaves = {n.id for n in plan.nodes if n.id.startswith("in") and not n.scope}
    index = {f"block{i}": i for i in range(len(order))}
    for (a, b), n in counts.items():  # dicts keep insertion (tape) order: deterministic
        if a in leaves:  # parameter → block: thin and grey, and not allowed to pull the layout around
            out.edges.append((a, b, {"color": "#bbbbbb", "constraint": "false", "arrowsize": "0.4"}))
        elif a in index and b in index and index[b] != index[a] + 1:
            # a block read by a later, not the next, block (attention reaching back): thin and light, and
            # left out of the layout, so the blocks read as a chain in time order
            out.edges.append((a, b, {"color": "#9ecae1", "constraint": "false", "arrowsize": "0.4",
                                     "penwidth": f"{0.5 + 0.25 * math.log10(n):.2f}", "tooltip": f"{n} values"}))
        else:  # the chain: one block to the next (or out of the blocks)
            out.edges.append((a, b, {"label": f"×{n}" if n > 1 else "", "penwidth": f"{1 + math.log10(n):.2f}",
                                     "fontsize": "8", "weight": "10" if a in index and b in index else "1"}))
    return out


# ----------------------------------------------------------------------------- DOT
def draw(
    tensor: tg.Tensor,
    *,
    show_values: bool = True,
    show_grads: bool = True,
    cluster_scopes: bool = True,
    max_nodes: int = DEFAULT_MAX_NODES,
    color_by: str | None = None,
    color_tag: str | None = None,
    legend: dict[Any, str] | None = None,
    collapse: bool = False,
    group: Callable[[str], str | None] | None = None,
    max_blocks: int = 16,
    fold: Iterable[str] = (),
    rankdir: str = "TB",
    title: str | None = None,
    compact: bool = False,
    max_layout_cost: int = MAX_LAYOUT_COST,
) -> graphviz.Digraph:
    """The recorded graph that produced ``tensor``, as a ``graphviz.Digraph`` — before or after
    ``backward()`` (a freed graph keeps the skeleton a drawing needs).

    Tensor nodes show name, shape and signed values (a summary for more than 4 elements), and
    the gradient the same way: micrograd's ``L = (a*b + c)*f`` shows ``b`` with ``grad -4``.
    Leaves always keep ``.grad``; call :func:`retain_grads` before backward for intermediates.
    Op nodes show the rule's name, its static arguments and tags.  Edges run in data-flow
    direction.  Ops recorded inside a scope are clustered by scope.

    ``color_tag`` names the tag that fills op nodes (one colour-blind-safe colour per value);
    ``legend`` maps its values to text for a legend (the caller says what the tags mean).
    ``color_by="grad"`` fills tensor nodes by ‖grad‖ on a log scale, exact zeros apart.
    ``collapse=True`` draws one node per top-level scope, or per ``group(scope)`` block, or, in
    a graph without scopes, per block of tape positions (at most ``max_blocks`` blocks).
    ``fold`` names unary ops applied to leaves that are drawn as part of the leaf
    (``fold=("transpose",)`` draws W and Wᵀ as one node).  ``compact=True`` draws no node for
    unnamed intermediate tensors: their op node shows the output's shape and gradient instead.
    More than ``max_nodes`` nodes raises :class:`GraphTooLargeError`, before any label is built;
    so does a layout that would cost dot more than ``max_layout_cost`` (:func:`layout_cost`: a few
    hundred nodes with long edges can take dot minutes), before dot runs.
    """
    return _draw(tensor, show_values=show_values, show_grads=show_grads, cluster_scopes=cluster_scopes,
                 max_nodes=max_nodes, color_by=color_by, color_tag=color_tag, legend=legend, collapse=collapse,
                 group=group, max_blocks=max_blocks, fold=fold, rankdir=rankdir, title=title, compact=compact,
                 max_layout_cost=max_layout_cost)[0]


def _draw(tensor: tg.Tensor, *, show_values: bool, show_grads: bool, cluster_scopes: bool, max_nodes: int,
          color_by: str | None, color_tag: str | None, legend: dict[Any, str] | None, collapse: bool,
          group: Callable[[str], str | None] | None, max_blocks: int, fold: Iterable[str], rankdir: str,
          title: str | None, compact: bool, max_layout_cost: int = MAX_LAYOUT_COST,
          ) -> tuple[graphviz.Digraph, _Plan, list[tuple[tg.Record, Any]]]:
    """:func:`draw`, also returning the plan (which node stands for which record and leaf) and the
    records it drew, for :func:`tinygrad_rnn.viz.explore`."""
    if color_by not in (None, "grad"):
        raise ValueError(f"draw: color_by must be None or 'grad', got {color_by!r}")
    if not isinstance(tensor, tg.Tensor):
        raise TypeError(f"draw: expected a tinygrad_rnn Tensor, got {type(tensor).__name__}")
    if group is not None:
        collapse = True
    nodes = tg.graph_of(tensor)
    if not collapse and len(nodes) > max_nodes:  # every op is at least one node: refuse before any label work
        raise GraphTooLargeError(_too_large(f"at least {len(nodes)}", max_nodes, bool(nodes)))
    pseudo = None
    if collapse and group is None:
        if any(rec.scope for rec, _ in nodes):
            group = lambda scope: scope.split("/")[0]  # noqa: E731
        else:  # no scopes: blocks of tape positions
            size = max(1, math.ceil(len(nodes) / max_blocks))
            pseudo = lambda k: f"ops {k // size * size + 1}..{min(k // size * size + size, len(nodes))}"  # noqa: E731
            group = lambda scope: scope  # noqa: E731
    palette = _Palette(legend or ())
    plan = _plan(tensor, nodes, show_values, show_grads, fold, compact,
                 (lambda scope: group(scope) is not None) if group else (lambda scope: False),
                 color_tag, palette, pseudo)
    if group is not None:
        plan = _collapse(plan, group)
    if len(plan.nodes) > max_nodes:
        raise GraphTooLargeError(_too_large(str(len(plan.nodes)), max_nodes, not collapse))
    cost = layout_cost((n.id for n in plan.nodes), ((a, b) for a, b, _ in plan.edges))
    if cost > max_layout_cost:
        raise GraphTooLargeError(
            f"viz: laying this graph out would cost dot about {cost} nodes' work ({len(plan.nodes)} nodes and the "
            f"virtual nodes of its long edges), more than max_layout_cost={max_layout_cost} (about 7 s); "
            + ("draw fewer blocks: group scopes into blocks (group=, as the seed's draw command does with "
               "--max-blocks), or draw a part of the graph" if collapse else
               "use the collapsed view (collapse=True), or draw a part of the graph"))
    notes = []
    if plan.not_kept:
        notes.append(f"values and gradients of {plan.not_kept} intermediates not kept: "
                     "call viz.retain_grads(out) before backward()")
    label = "<br/>".join(style.esc(x) for x in ([title] if title else []) + notes)
    dot = graphviz.Digraph(
        "tinygrad_rnn",
        graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "nodesep": "0.15", "ranksep": "0.3",
                    "newrank": "true", "nslimit": "2", "nslimit1": "2", **({"label": f"<{label}>", "labelloc": "t"} if label else {})},
        node_attr={"fontname": "Helvetica", "fontsize": "10", "margin": "0.05,0.03", "height": "0.3"},
        edge_attr={"arrowsize": "0.6", "color": "#555555"},
    )
    scale = style.LogScale([n for n in plan.norms.values() if n is not None]) if color_by == "grad" else None
    if scale is not None:
        for n in plan.nodes:
            if n.id in plan.norms:
                n.attrs = {**n.attrs, "style": "filled" + (",bold" if n.id.startswith("in") else ""),
                           "fillcolor": scale.colour(plan.norms[n.id]), "fontcolor": scale.font(plan.norms[n.id])}
    _emit(dot, plan, cluster_scopes and not collapse)
    for src, dst, attrs in plan.edges:
        dot.edge(src, dst, **attrs)
    if scale is not None:
        _legend(dot, scale)
    if legend:
        rows = "".join(
            f'<TR><TD BGCOLOR="{palette.fill(k)}">{style.esc(color_tag or "")} {style.esc(k)}</TD>'
            f'<TD ALIGN="LEFT">{style.esc(v)}</TD></TR>' for k, v in legend.items()
        )
        dot.node("tag_legend", f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0">{rows}</TABLE>>',
                 shape="plaintext", fontsize="9")
    return dot, plan, nodes


def layout_cost(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> int:
    """What laying a graph out costs dot, counted before running it: its nodes, plus one virtual
    node for every rank a long edge crosses (dot routes an edge from rank r to rank s through
    s − r − 1 of them; positioning and spline routing grow with their number).  Ranks are longest
    paths from the sources, as dot's ranking gives for these graphs (a node with many consumers
    sits above the first).  Measured against dot's time in benchmarks/dot_layout.py: a chain of
    T scopes fed by one parameter has ~T²/2 virtual nodes, and dot's time follows them."""
    from graphlib import TopologicalSorter

    preds: dict[str, set[str]] = {n: set() for n in nodes}
    edge_list = list(edges)
    for a, b in edge_list:
        preds.setdefault(a, set())
        preds.setdefault(b, set()).add(a)
    rank: dict[str, int] = {}
    for n in TopologicalSorter(preds).static_order():  # iterative: no recursion at any size
        rank[n] = 1 + max((rank[p] for p in preds[n]), default=-1)
    return len(preds) + sum(max(0, rank[b] - rank[a] - 1) for a, b in edge_list)


def _too_large(count: str, max_nodes: int, can_collapse: bool) -> str:
    hint = ("Use the collapsed view (collapse=True, or --collapse on the command line), or raise max_nodes."
            if can_collapse else "Raise max_nodes, or draw fewer blocks (max_blocks).")
    return (f"viz: the graph has {count} nodes, more than max_nodes={max_nodes}; a drawing that large "
            f"is unreadable. {hint}")


def _emit(dot: graphviz.Digraph, plan: _Plan, cluster: bool) -> None:
    """Nodes at top level, or inside one cluster per scope path (nested for a/b)."""
    if not cluster:
        for n in plan.nodes:
            dot.node(n.id, n.label, **n.attrs)
        return
    paths: list[str] = []  # every scope path and its prefixes, in first-seen order
    by_scope: dict[str, list[_Node]] = {}
    for n in plan.nodes:
        by_scope.setdefault(n.scope, []).append(n)
        parts = n.scope.split("/") if n.scope else []
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in paths:
                paths.append(p)
    for n in by_scope.get("", []):
        dot.node(n.id, n.label, **n.attrs)
    children: dict[str, list[str]] = {}
    for p in paths:
        children.setdefault(p.rpartition("/")[0] if "/" in p else "", []).append(p)
    cluster_id = {p: f"cluster_{i}" for i, p in enumerate(paths)}

    def build(path: str) -> graphviz.Digraph:
        sub = graphviz.Digraph(cluster_id[path])
        sub.attr(label=style.html_label(path.rpartition("/")[2]), style="rounded,filled",
                 fillcolor="#fafafa", color="#999999", fontname="Helvetica")
        for n in by_scope.get(path, []):
            sub.node(n.id, n.label, **n.attrs)
        return sub

    # nest bottom-up without recursion: deepest paths first
    built = {p: build(p) for p in paths}
    for p in sorted(paths, key=lambda q: -q.count("/")):
        parent = p.rpartition("/")[0] if "/" in p else ""
        (built[parent] if parent else dot).subgraph(built[p])
    if len(children.get("", [])) > 1:
        # clusters are emitted in the order their scopes were first recorded, and dot's crossing
        # minimisation, kept short, leaves them so: time reads left to right (or, where each step
        # depends on the whole previous one, top to bottom).  With dot's default it swapped the two
        # steps of the seed's model at T = 2; tests/models/test_draw_model.py reads the laid-out coordinates.
        dot.attr(mclimit="0.1")


def _legend(dot: graphviz.Digraph, scale: style.LogScale) -> None:
    rows = "".join(
        f'<TR><TD BGCOLOR="{c}" WIDTH="18"> </TD><TD ALIGN="LEFT">{style.esc(text)}</TD></TR>'
        for c, text in scale.legend_rows()
    )
    rows += f'<TR><TD BGCOLOR="{style.ZERO_GRAD_COLOUR}"> </TD><TD ALIGN="LEFT">exactly 0</TD></TR>'
    rows += f'<TR><TD BGCOLOR="{style.NO_GRAD_COLOUR}"> </TD><TD ALIGN="LEFT">no gradient kept</TD></TR>'
    dot.node("legend", f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0"><TR><TD COLSPAN="2">'
             f'<B>gradient norm (log scale)</B></TD></TR>{rows}</TABLE>>', shape="plaintext", fontsize="9")
