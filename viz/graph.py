"""Drawing a recorded graph: ``draw(tensor)`` → ``graphviz.Digraph``.

The drawing is built from the tape (``tinygrad_rnn.tape_of``), walked in tape order, so:

- it never recurses (deep graphs are fine),
- node ids come from tape order (``op12``, ``v12``, ``in3``, ``c4``), never from ``id()``, so the
  same computation always gives byte-identical DOT,
- every op recorded inside ``tg.scope(name)`` goes into a ``cluster`` subgraph for that scope
  (nested scopes nest).

viz knows about tensors, ops, scopes and tags; it knows nothing about what the ops compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import graphviz
import numpy as np

import tinygrad_rnn as tg

from . import style

__all__ = ["draw", "retain_grads", "VizError", "GraphTooLargeError", "DEFAULT_MAX_NODES"]

DEFAULT_MAX_NODES = 1200  # ~T=16 unrolled: dot lays it out in ~5 s; T=20 takes minutes or fails


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


def retain_grads(tensor: tg.Tensor) -> int:
    """Ask every intermediate tensor in ``tensor``'s history to keep its ``.grad`` in the next
    backward, so the drawing can show gradients everywhere.  Returns how many were marked."""
    history = _history(tensor)
    for t in history:
        t.retain_grad()
    return len(history)


def _history(tensor: tg.Tensor) -> list[tg.Tensor]:
    try:
        return tg.tape_of(tensor)
    except RuntimeError as e:
        raise VizError(
            "viz: this graph was freed by backward(); to draw it after backward, call "
            "backward(retain_graph=True) (and viz.retain_grads(loss) before it to see every gradient)"
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


def _op_label(rec: tg.Record, output: str = "") -> str:
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
    eq = rec.tags.get("eq") if rec.tags else None
    tags = [f"eq {eq}"] if eq is not None else []
    tags += [f"{k}={v}" for k, v in (rec.tags or {}).items() if k != "eq"]
    return style.html_label(rec.op.name, " ".join(details), " ".join(tags), output)


def _tensor_lines(t: tg.Tensor, show_values: bool, show_grads: bool) -> list[str]:
    lines = [str(tuple(t.shape))]
    if show_values:
        lines.append(style.summarise(t.data))
    if show_grads and t.grad is not None:
        lines.append(f"∇ ‖·‖ {style.fmt_number(style.grad_norm(t.grad))}")
    return lines


# ----------------------------------------------------------------------------- planning
def _plan(
    tensor: tg.Tensor,
    show_values: bool,
    show_grads: bool,
    fold: Iterable[str],
    compact: bool = False,
    hidden: Callable[[str], bool] = lambda scope: False,
) -> _Plan:
    """Turn the tape into nodes and edges (no DOT yet).  Nodes in scopes for which ``hidden``
    is true get no label (they are about to be collapsed into a block)."""
    fold = set(fold)
    plan = _Plan()
    node_of: dict[tg.Tensor, str] = {}  # tensors hash by identity
    suffix: dict[str, list[str]] = {}  # leaf id -> folded op names, e.g. ["transpose"]
    counters = {"in": 0, "c": 0}
    scope_of: dict[str, str] = {}  # node id -> scope, for tensor nodes made by ops

    def leaf(x: tg.Tensor, scope: str = "") -> str:
        """Parameters (leaves that require grad) sit at top level; other inputs (data, h_0) sit
        in the scope of their first consumer."""
        if x not in node_of:
            nid = f"in{counters['in']}"
            counters["in"] += 1
            node_of[x] = nid
            is_param = x.requires_grad
            attrs = {"shape": "box" if is_param else "ellipse", "style": "filled,bold" if is_param else "filled",
                     "fillcolor": style.PARAM_COLOUR if is_param else style.CONST_COLOUR}
            plan.nodes.append(_Node(nid, "", attrs, "" if is_param else scope))
            plan.norms[nid] = style.grad_norm(x.grad) if x.requires_grad else None
            suffix[nid] = []
            _set_leaf_label(plan.nodes[-1], x, [], show_values, show_grads)
        return node_of[x]

    history = _history(tensor) if tensor.record is not None else []
    if tensor.record is None:
        leaf(tensor)
    for k, t in enumerate(history):
        rec = t.record
        tensor_inputs = [x for x in rec.inputs if isinstance(x, tg.Tensor)]
        if rec.op.name in fold and len(rec.inputs) == 1 and tensor_inputs and tensor_inputs[0].record is None:
            src = leaf(tensor_inputs[0])
            node_of[t] = src  # drawn as its leaf: W used as Wᵀ
            suffix[src].append(rec.op.name)
            continue
        op_id, out_id = f"op{k}", f"v{k}"
        eq = rec.tags.get("eq") if rec.tags else None
        quiet = bool(rec.scope) and hidden(rec.scope)
        op_node = _Node(op_id, "" if quiet else _op_label(rec), {
            "shape": "box", "style": "rounded,filled", "fillcolor": style.EQ_COLOURS.get(eq, style.OP_DEFAULT),
        }, rec.scope)
        plan.nodes.append(op_node)
        for x in rec.inputs:
            if isinstance(x, tg.Tensor):
                src = leaf(x, rec.scope) if x.record is None else node_of[x]
            elif isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
                src = f"c{counters['c']}"
                counters["c"] += 1
                arr = np.asarray(x)
                plan.nodes.append(_Node(src, style.html_label("const", str(arr.shape), bold=False), {
                    "shape": "ellipse", "style": "dashed", "fontsize": "8"}, rec.scope))
            else:
                continue  # Python scalars are shown in the op's label
            plan.edges.append((src, op_id, _edge_style(src, scope_of.get(src, ""), rec)))
        title = t.name or ""
        if quiet:  # about to be collapsed: no label work
            plan.nodes.append(_Node(out_id, "", {}, rec.scope))
            plan.norms[out_id] = style.grad_norm(t.grad)
            plan.edges.append((op_id, out_id, {}))
            node_of[t] = out_id
            continue
        if compact and not title and t is not tensor:  # the op node stands for its unnamed output
            node_of[t] = op_id
            scope_of[op_id] = rec.scope
            plan.norms[op_id] = style.grad_norm(t.grad)
            op_node.label = _op_label(rec, "→ " + "  ".join(_tensor_lines(t, False, show_grads)))
            continue
        if title:
            label = style.html_label(title, *_tensor_lines(t, show_values, show_grads))
            attrs = {"shape": "ellipse", "style": "filled", "fillcolor": style.TENSOR_COLOUR}
        else:  # unnamed intermediates stay small: shape and gradient only
            label = style.html_label("", *_tensor_lines(t, False, show_grads), bold=False)
            attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": style.TENSOR_COLOUR, "fontsize": "8",
                     "color": "#aaaaaa"}
        plan.nodes.append(_Node(out_id, label, attrs, rec.scope))
        scope_of[out_id] = rec.scope
        plan.norms[out_id] = style.grad_norm(t.grad)
        plan.edges.append((op_id, out_id, {}))
        node_of[t] = out_id
    # leaf labels, now that we know which ops were folded into them
    by_id = {n.id: n for n in plan.nodes}
    leaves = {v: k for k, v in node_of.items() if v.startswith("in") and k.record is None}
    for nid, ops in suffix.items():
        if ops:
            _set_leaf_label(by_id[nid], leaves[nid], ops, show_values, show_grads)
    return plan


def _set_leaf_label(node: _Node, x: tg.Tensor, folded: list[str], show_values: bool, show_grads: bool) -> None:
    title = x.name or ("parameter" if x.requires_grad else "input")
    lines = _tensor_lines(x, show_values and x.size <= 3, show_grads)
    if folded:
        lines.append("used as " + ", ".join(f"{title}ᵀ" if op == "transpose" else f"{op}({title})"
                                            for op in sorted(set(folded))))
    node.label = style.html_label(title, *lines)


def _edge_style(src: str, src_scope: str, rec: tg.Record) -> dict[str, str]:
    """Edges that carry a value from one scope into another (e.g. from step i into step t) are
    drawn bold, in the darker colour of the consuming op's tag."""
    if not src_scope or src_scope == rec.scope:
        return {}
    eq = rec.tags.get("eq") if rec.tags else None
    return {"color": style.EQ_EDGE_COLOURS.get(eq, "#333333"), "penwidth": "1.6"}


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
    for (a, b), n in counts.items():  # dicts keep insertion (tape) order: deterministic
        if a in leaves:  # parameter → block: thin and grey, and not allowed to pull the layout around
            out.edges.append((a, b, {"color": "#bbbbbb", "constraint": "false", "arrowsize": "0.4"}))
        else:
            out.edges.append((a, b, {"label": f"×{n}" if n > 1 else "", "penwidth": f"{1 + math.log10(n):.2f}",
                                     "fontsize": "8"}))
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
    collapse: bool | Callable[[str], str | None] = False,
    fold: Iterable[str] = (),
    rankdir: str = "TB",
    title: str | None = None,
    tag_legend: dict[Any, str] | None = None,
    compact: bool = False,
) -> graphviz.Digraph:
    """The recorded forward graph that produced ``tensor``, as a ``graphviz.Digraph``.

    Tensor nodes show name, shape, a value summary and, after backward, the gradient norm
    (leaves always keep ``.grad``; call :func:`retain_grads` before backward for the others).
    Op nodes show the rule's name, its static arguments and tags (``eq 1``), filled by tag.
    Edges run in data-flow direction.  Ops recorded inside a scope are clustered by scope.

    ``color_by="grad"`` fills tensor nodes by ‖grad‖ on a log scale, with a legend.
    ``collapse=True`` draws one node per top-level scope (or per ``collapse(scope)`` group).
    ``fold`` names unary ops applied to leaves that are drawn as part of the leaf
    (``fold=("transpose",)`` draws W and Wᵀ as one node).  ``tag_legend`` maps ``eq`` tag values
    to text for a legend (the caller says what the tags mean).  ``compact=True`` draws no node for
    unnamed intermediate tensors: their op node shows the output's shape and gradient instead.  More than ``max_nodes`` nodes raises
    :class:`GraphTooLargeError`.
    """
    if color_by not in (None, "grad"):
        raise ValueError(f"draw: color_by must be None or 'grad', got {color_by!r}")
    if not isinstance(tensor, tg.Tensor):
        raise TypeError(f"draw: expected a tinygrad_rnn Tensor, got {type(tensor).__name__}")
    group = (collapse if callable(collapse) else (lambda scope: scope.split("/")[0])) if collapse else None
    plan = _plan(tensor, show_values, show_grads, fold, compact,
                 hidden=(lambda scope: group(scope) is not None) if group else (lambda scope: False))
    if group is not None:
        plan = _collapse(plan, group)
    if len(plan.nodes) > max_nodes:
        raise GraphTooLargeError(
            f"viz: the graph has {len(plan.nodes)} nodes, more than max_nodes={max_nodes}; a drawing that large "
            "is unreadable. Use the collapsed view (collapse=True, or --collapse on the command line), "
            "or raise max_nodes."
        )
    dot = graphviz.Digraph(
        "tinygrad_rnn",
        graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "nodesep": "0.15", "ranksep": "0.3",
                    "newrank": "true", **({"label": f"<{style.esc(title)}>", "labelloc": "t"} if title else {})},
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
    if tag_legend:
        rows = "".join(
            f'<TR><TD BGCOLOR="{style.EQ_COLOURS.get(k, style.OP_DEFAULT)}">eq {style.esc(k)}</TD>'
            f'<TD ALIGN="LEFT">{style.esc(v)}</TD></TR>' for k, v in tag_legend.items()
        )
        dot.node("tag_legend", f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0">{rows}</TABLE>>',
                 shape="plaintext", fontsize="9")
    return dot


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


def _legend(dot: graphviz.Digraph, scale: style.LogScale) -> None:
    rows = "".join(
        f'<TR><TD BGCOLOR="{c}" WIDTH="18"> </TD><TD ALIGN="LEFT">{style.esc(text)}</TD></TR>'
        for c, text in scale.legend_rows()
    )
    rows += f'<TR><TD BGCOLOR="{style.NO_GRAD_COLOUR}"> </TD><TD ALIGN="LEFT">no gradient kept</TD></TR>'
    dot.node("legend", f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0"><TR><TD COLSPAN="2">'
             f'<B>gradient norm (log scale)</B></TD></TR>{rows}</TABLE>>', shape="plaintext", fontsize="9")
