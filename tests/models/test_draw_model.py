"""The seed's RNN drawn unrolled (tinygrad_rnn.models.draw): the model's structure in the drawing,
its command line, and oversized drawings refused before the model runs."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import graphviz
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import viz
from tinygrad_rnn.models.attention_rnn import AttentionRNN
from tinygrad_rnn.models.draw import draw_unrolled, unrolled_records


def sequence(T: int, D: int = 2, K: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, D)), rng.integers(0, K, T)


def unrolled(T: int, **kw) -> graphviz.Digraph:
    return draw_unrolled(AttentionRNN(2, 3, 3, seed=0), *sequence(T), **kw)


def node_labels(src: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*(\w+) \[label=(<.*?>)\s", src, flags=re.M))


def run_cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "tinygrad_rnn.models.draw", *args], cwd=tmp_path,
                          capture_output=True, text=True)


@pytest.mark.parametrize("T", [1, 2, 3, 5])
def test_one_cluster_per_step_and_parameters_once(T):
    src = unrolled(T, compact=False).source
    assert re.findall(r"subgraph (cluster_\d+)", src) == [f"cluster_{i}" for i in range(T)]
    assert re.findall(r"label=<<B>(t=\d+)</B>>", src) == [f"t={t}" for t in range(1, T + 1)]
    labels = node_labels(src)
    for name in ("W", "U", "b", "V", "c"):
        nodes = [n for n, lab in labels.items() if lab.startswith(f"<<B>{name}</B>")]
        assert len(nodes) == 1, name
        # drawn outside every cluster: the node line comes before the first subgraph
        assert src.index(f"\t{nodes[0]} [") < src.index("subgraph cluster_0")
    w = next(n for n, lab in labels.items() if lab.startswith("<<B>W</B>"))
    steps_fed = {m for m in re.findall(rf"\b{w} -> (op\d+)", src)}
    assert len(steps_fed) == T  # one matmul per step


@pytest.mark.parametrize("T", [1, 2, 3, 4, 6])
def test_edge_count_follows_the_unrolled_equations(T):
    """Per step t: eq 1 14 edges, eq 2 5t, eq 3 t+3, eq 4 8t−3, eq 5 6, eq 6 2, eq 7 9 → 14t + 31;
    then stack(L_1..L_T) and sum: T + 3.  Total 7T² + 39T + 3 (every value drawn, compact=False)."""
    assert unrolled(T, compact=False).source.count(" -> ") == 7 * T * T + 39 * T + 3


def test_attention_edges_reach_back_to_every_earlier_step():
    src = unrolled(4, compact=False).source
    labels = node_labels(src)
    h = {int(m.group(1)): n for n, lab in labels.items() if (m := re.match(r"<<B>h_(\d+)</B>", lab))}
    cluster_of = {}
    for i, block in enumerate(re.split(r"subgraph cluster_", src)[1:]):
        for node in re.findall(r"^\s*(\w+) \[", block, flags=re.M):
            cluster_of[node] = i + 1
    for t in range(1, 5):
        for i in range(1, t + 1):
            targets = {cluster_of.get(d) for d in re.findall(rf"\b{h[i]} -> (\w+)", src)}
            assert t in targets, f"no edge from h_{i} into step {t}"


def test_every_op_is_tagged_with_its_equation():
    src = unrolled(3).source
    for i, block in enumerate(re.split(r"subgraph cluster_", src)[1:]):
        eqs = {int(e) for e in re.findall(r"eq (\d)", block)}
        assert eqs == {1, 2, 3, 4, 5, 6, 7}, f"step {i + 1}"
    assert "tag_legend" in src  # the legend says what eq 1..7 are


def test_size_limit_suggests_the_collapsed_view():
    with pytest.raises(viz.GraphTooLargeError, match=r"more than max_nodes=1200.*collapsed view"):
        unrolled(20)
    g = unrolled(20, collapse=True)
    assert "subgraph cluster_" not in g.source
    assert len(re.findall(r"^\s*block\d+ \[", g.source, flags=re.M)) == 10  # T=20 in blocks of 2 (max_blocks=16)


def test_collapsed_view_groups_steps_into_blocks():
    g = unrolled(30, collapse=True, max_blocks=6, color_by="grad")
    blocks = re.findall(r"<<B>(t=\d+\.\.\d+)</B>", g.source)
    assert blocks == ["t=1..5", "t=6..10", "t=11..15", "t=16..20", "t=21..25", "t=26..30"]
    assert "gradient norm (log scale)" in g.source


def test_gradient_colouring_has_a_legend_and_uses_the_ramp():
    from tinygrad_rnn.viz import style

    src = unrolled(3, color_by="grad").source
    assert "gradient norm (log scale)" in src
    used = set(re.findall(r'fillcolor="?(#[0-9a-f]{6})', src))
    assert used & set(style.RAMP)
    forward_only = unrolled(3, backward=False).source
    assert "grad " not in forward_only and "gradient norm" not in forward_only


def test_draw_unrolled_leaves_the_models_gradients_alone():
    model = AttentionRNN(2, 3, 3, seed=0)
    model.W.grad = np.full((3, 3), 7.0)
    draw_unrolled(model, *sequence(3))
    assert (model.W.grad == 7.0).all() and model.U.grad is None


def test_the_model_tells_viz_what_its_tags_mean():
    src = unrolled(2).source
    for eq, text in AttentionRNN.EQUATIONS.items():
        assert f"eq {eq}</TD>" in src and viz.graph.style.esc(text) in src


def test_dot_is_deterministic_within_and_across_processes(tmp_path):
    assert unrolled(3).source == unrolled(3).source
    outs = []
    for k in range(2):
        out = tmp_path / f"g{k}.dot"
        assert run_cli(tmp_path, "--steps", "3", "-o", str(out)).returncode == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert not re.search(rb"\d{9,}", outs[0])  # no id()-like numbers anywhere


@pytest.mark.parametrize("T", [1, 2, 4, 5, 7])
def test_the_record_count_formula_matches_real_counts(T):
    model = AttentionRNN(2, 3, 3, seed=0)
    xs, ys = sequence(T)
    assert unrolled_records(model, T) == len(tg.graph_of(model.loss(xs, ys, mode="unrolled")))


def test_oversized_drawings_are_refused_in_under_a_second(tmp_path):
    for flags in (["--steps", "5000"], ["--steps", "5000", "--collapse"], ["--steps", "400"]):
        start = time.perf_counter()
        out = run_cli(tmp_path, *flags, "-o", str(tmp_path / "big.svg"))
        elapsed = time.perf_counter() - start
        assert out.returncode == 1 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
        assert elapsed < 5.0  # the process, interpreter start-up included; the refusal itself is milliseconds
    assert not (tmp_path / "big.svg").exists()
    start = time.perf_counter()
    with pytest.raises(viz.GraphTooLargeError, match="draw fewer steps"):
        draw_unrolled(AttentionRNN(2, 3, 3, seed=0), *sequence(5000), collapse=True)
    assert time.perf_counter() - start < 1.0


def test_cli(tmp_path):
    ok = run_cli(tmp_path, "--steps", "3", "--color-by", "grad", "-o", str(tmp_path / "u.svg"))
    assert ok.returncode == 0 and "wrote" in ok.stdout and (tmp_path / "u.svg").exists()
    collapsed = run_cli(tmp_path, "--steps", "40", "--collapse", "-o", str(tmp_path / "c.dot"))
    assert collapsed.returncode == 0
    bad = run_cli(tmp_path, "--steps", "3", "-o", str(tmp_path / "u.txt"))
    assert bad.returncode == 1 and bad.stderr.startswith("error: viz: cannot tell the format") and \
        "Traceback" not in bad.stderr
    big = run_cli(tmp_path, "--steps", "25", "-o", str(tmp_path / "big.svg"))
    assert big.returncode == 1 and "--collapse" in big.stderr and not (tmp_path / "big.svg").exists()
    helptext = run_cli(tmp_path, "--help")
    assert helptext.returncode == 0
    for flag in ("--steps", "--input-size", "--hidden-size", "--output-size", "--seed", "--attend-h0",
                 "--no-backward", "--color-by", "--collapse", "--max-blocks", "--full", "--max-nodes"):
        assert flag in helptext.stdout, flag


# ----------------------------------------------------------------------------- time reads in order
def _reading_order(source: str, rankdir: str) -> list[str]:
    """Graphviz lays the drawing out (-Tjson); the step clusters' labels in the order a reader meets
    them, asserting that each next cluster lies wholly after the one before: to its right or below
    it (rankdir=TB), below it or to its right (LR).  Graphviz's y grows upwards."""
    import json

    out = subprocess.run(["dot", "-Tjson"], input=source, capture_output=True, text=True, timeout=120, check=True)
    boxes = {re.sub(r"</?B>", "", o["label"]): [float(v) for v in o["bb"].split(",")]
             for o in json.loads(out.stdout)["objects"]
             if o.get("name", "").startswith("cluster") and re.fullmatch(r"<B>t=\d+</B>", o.get("label", ""))}
    order = sorted(boxes, key=lambda k: int(k[2:]))
    for a, b in zip(order, order[1:]):
        (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = boxes[a], boxes[b]
        right, below = bx0 >= ax1 - 1, by1 <= ay0 + 1
        assert right or below, f"{b} is not after {a}: boxes {boxes[a]} and {boxes[b]} ({rankdir})"
        if rankdir == "LR":
            assert below or by1 <= ay1, f"{b} is above {a} in a left-to-right layout"
    return order


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
@pytest.mark.parametrize("T", range(1, 9))
def test_time_reads_in_order_in_the_laid_out_drawing(T, rankdir):
    model = AttentionRNN(2, 2, 2, seed=T)
    rng = np.random.default_rng(T)
    g = draw_unrolled(model, rng.standard_normal((T, 2)), rng.integers(0, 2, T), rankdir=rankdir, max_nodes=5000)
    assert _reading_order(g.source, rankdir) == [f"t={t}" for t in range(1, T + 1)]


@pytest.mark.parametrize("T", [2, 3])
def test_the_backward_graph_reads_in_time_order_too(T):
    from tinygrad_rnn.models.draw import draw_backward

    model = AttentionRNN(2, 2, 2, seed=0)
    rng = np.random.default_rng(0)
    g = draw_backward(model, rng.standard_normal((T, 2)), rng.integers(0, 2, T))
    assert _reading_order(g.source, "TB") == [f"t={t}" for t in range(1, T + 1)]


def test_a_users_own_scopes_are_drawn_in_the_order_they_were_recorded():
    W = tg.Tensor(np.array([[0.5, -0.2], [0.1, 0.3]]), requires_grad=True, name="W")
    h = tg.Tensor(np.zeros(2))
    for t in range(1, 5):
        with tg.scope(f"t={t}"):
            h = (h @ W + np.array([1.0, -1.0]) * t).tanh()
    g = viz.draw(h.sum())
    assert _reading_order(g.source, "TB") == ["t=1", "t=2", "t=3", "t=4"]


@pytest.mark.parametrize("command", ["draw", "explore"])
def test_size_advice_names_only_flags_the_command_has(command, tmp_path, capsys):
    import importlib

    mod = importlib.import_module(f"tinygrad_rnn.models.{command}")
    out = tmp_path / ("x.svg" if command == "draw" else "x.html")
    assert mod.main(["--steps", "19", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "at most T=18 steps" in err
    named = set(re.findall(r"--[a-z][a-z-]+", err))
    flags = {f for a in mod.parser()._actions for f in a.option_strings}
    assert named and named <= flags, named - flags
    assert not out.exists()


def test_the_readmes_size_limits_are_the_codes():
    from pathlib import Path

    from tinygrad_rnn.models.draw import max_steps

    readme = (Path(__file__).resolve().parents[2] / "docs" / "guide" / "stepping.md").read_text()
    T = max_steps(AttentionRNN(2, 3, 3, seed=0), viz.DEFAULT_MAX_NODES)
    assert f"over {viz.DEFAULT_MAX_NODES} records (T > {T}) are refused" in readme
    assert T == 18


# ----------------------------------------------------------------------------- the long-sequence view
def test_the_long_views_gradients_match_a_hand_recurrence_without_attention():
    """Oracle: for Z_t = h_t, ∂L_T/∂h_T = Vᵀ(ŷ_T − y_T) and ∂L_T/∂h_{t−1} = Wᵀ((1 − h_t²) ⊙ ∂L_T/∂h_t)."""
    from tinygrad_rnn.models.long_view import gradient_reach

    rng = np.random.default_rng(3)
    model = AttentionRNN(2, 4, 3, seed=5, attention=False)
    T = 30
    xs, ys = rng.standard_normal((T, 2)), rng.integers(0, 3, T)
    W, U, b, V, c = (model.params()[k].data for k in ("W", "U", "b", "V", "c"))
    h, hs = np.zeros(4), []
    for t in range(T):
        h = np.tanh(W @ h + U @ xs[t] + b)
        hs.append(h)
    o = V @ hs[-1] + c
    p = np.exp(o - o.max())
    p /= p.sum()
    d = V.T @ (p - np.eye(3)[ys[-1]])
    hand = [0.0] * T
    for t in range(T - 1, -1, -1):
        hand[t] = np.linalg.norm(d)
        d = W.T @ ((1 - hs[t] ** 2) * d)
    got = gradient_reach(model, xs, ys)
    assert got["alpha"] is None
    np.testing.assert_allclose(got["grad_h"], hand, rtol=1e-10, atol=0)


def test_the_long_views_gradients_match_the_unrolled_graph_with_attention():
    from tinygrad_rnn.models.long_view import gradient_reach

    rng = np.random.default_rng(4)
    model = AttentionRNN(2, 3, 3, seed=1)
    T = 6
    xs, ys = rng.standard_normal((T, 2)), rng.integers(0, 3, T)
    got = gradient_reach(model, xs, ys)
    fwd = model.forward(xs[None], mode="unrolled")
    for h in fwd.steps:
        h.retain_grad()
    tg.cross_entropy(fwd.logits[:, -1], np.eye(3)[ys[-1:]], axis=-1, reduction="sum").backward()
    np.testing.assert_allclose(got["grad_h"], [np.linalg.norm(h.grad) for h in fwd.steps], rtol=1e-10)
    np.testing.assert_allclose(got["alpha"], fwd.attention.data[0], rtol=1e-12)


def test_the_long_view_command_line(tmp_path, capsys):
    from tinygrad_rnn.models import draw

    out = tmp_path / "long.png"
    assert draw.main(["--long", "--steps", "200", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    for argv, message in ((["--long", "--steps", "1", "-o", str(tmp_path / "a.png")], "draws 2 to 5000 steps"),
                          (["--long", "-o", str(tmp_path / "a.dot")], "writes .png, .svg or .pdf")):
        assert draw.main(argv) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.png"]


def test_the_long_view_leaves_the_models_gradients_alone():
    from tinygrad_rnn.models.long_view import gradient_reach

    model = AttentionRNN(2, 3, 3, seed=1)
    marker = np.full(model.W.shape, 7.0)
    model.W.grad = marker
    gradient_reach(model, np.ones((5, 2)), np.zeros(5, dtype=int))
    assert model.W.grad is marker and model.U.grad is None


def test_the_collapsed_view_reads_as_a_chain_in_time_order():
    """One block per group of steps, the recurrence block → next block drawn thick, attention's
    reach-back edges thin and out of the layout; dot places the blocks in time order, top to bottom."""
    import json

    model = AttentionRNN(2, 3, 3, seed=0)
    rng = np.random.default_rng(0)
    T = 48
    g = draw_unrolled(model, rng.standard_normal((T, 2)), rng.integers(0, 3, T), collapse=True, max_blocks=8)
    src = g.source
    chain = re.findall(r"^\s*block(\d+) -> block(\d+) \[([^\]]*)\]", src, re.M)
    assert chain and all((int(b) == int(a) + 1) == ("constraint=false" not in attrs) for a, b, attrs in chain)
    assert len([c for c in chain if int(c[1]) == int(c[0]) + 1]) == 7
    out = subprocess.run(["dot", "-Tjson"], input=src, capture_output=True, text=True, timeout=120, check=True)
    ys = {o["name"]: float(o["pos"].split(",")[1]) for o in json.loads(out.stdout)["objects"]
          if o.get("name", "").startswith("block")}
    order = [ys[f"block{i}"] for i in range(8)]
    assert order == sorted(order, reverse=True), order  # Graphviz's y grows upwards: each block below the last
