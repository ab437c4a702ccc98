"""viz: structure of the drawings (not pixels), determinism, escaping, rendering, limits."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import graphviz
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
import viz
from models.attention_rnn import AttentionRNN

ROOT = Path(__file__).resolve().parents[1]


def sequence(T: int, D: int = 2, K: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, D)), rng.integers(0, K, T)


def unrolled(T: int, **kw) -> graphviz.Digraph:
    return viz.draw_unrolled(AttentionRNN(2, 3, 3, seed=0), *sequence(T), **kw)


def node_labels(src: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*(\w+) \[label=(<.*?>)\s", src, flags=re.M))


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


def test_dot_is_deterministic_within_and_across_processes(tmp_path):
    assert unrolled(3).source == unrolled(3).source
    outs = []
    for k in range(2):
        out = tmp_path / f"g{k}.dot"
        subprocess.run([sys.executable, "-m", "viz", "unrolled", "--steps", "3", "-o", str(out)], cwd=ROOT,
                       check=True, capture_output=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert not re.search(rb"\d{9,}", outs[0])  # no id()-like numbers anywhere


NASTY = ["/", "//", "a/", "\n", "<B>", "</TD>", "&amp;", "\\", "\\\"", '"', "{|}", "t=1/<x>", "\\N"]


def assert_drawable(name: str) -> None:
    x = tg.Tensor(np.ones(2), requires_grad=True, name=name)
    with tg.scope(name):
        y = (x * 2.0).tanh()
    y.name = name + "_out"
    src = viz.draw(y).source
    svg = graphviz.Source(src).pipe(format="svg", quiet=True).decode()  # dot must accept it
    assert "<svg" in svg


@pytest.mark.parametrize("name", NASTY)
def test_nasty_names_are_escaped(name):
    assert_drawable(name)


@settings(max_examples=30)
@given(name=st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from('<>"{}|\\\n&;/'),
                    min_size=1, max_size=12))
def test_names_are_escaped(name):
    assert_drawable(name)


def test_render_svg_and_png_with_the_real_dot(tmp_path):
    assert viz.dot_binary() is not None, "make test installs Graphviz; the dot binary must be present"
    g = unrolled(3, color_by="grad")
    svg = viz.render(g, tmp_path / "u.svg").read_text()
    assert "<svg" in svg and "t=3" in svg
    png = viz.render(g, tmp_path / "u.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u.png", "u.svg"]  # no temporary files left


def test_missing_dot_fails_early_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("viz.rendering.dot_binary", lambda: None)
    g = unrolled(2)
    with pytest.raises(viz.VizError, match=r"needs the Graphviz 'dot' program.*apt-get install graphviz"):
        viz.render(g, tmp_path / "u.svg")
    assert list(tmp_path.iterdir()) == []
    assert viz.render(g, tmp_path / "u.dot").read_text() == g.source  # DOT needs no binary


def test_bad_paths(tmp_path):
    g = unrolled(1)
    with pytest.raises(viz.VizError, match="cannot tell the format"):
        viz.render(g, tmp_path / "u.txt")
    with pytest.raises(viz.VizError, match="does not exist"):
        viz.render(g, tmp_path / "missing" / "u.svg")


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
    from viz import style

    src = unrolled(3, color_by="grad").source
    assert "gradient norm (log scale)" in src
    used = set(re.findall(r'fillcolor="?(#[0-9a-f]{6})', src))
    assert used & set(style.RAMP)
    forward_only = unrolled(3, backward=False).source
    assert "∇" not in forward_only and "gradient norm" not in forward_only


def test_draw_after_a_freeing_backward_says_what_to_do():
    x = tg.Tensor(np.ones(2), requires_grad=True)
    y = (x * 2.0).tanh().sum()
    y.backward()
    with pytest.raises(viz.VizError, match="retain_graph=True"):
        viz.draw(y)


def test_draw_unrolled_leaves_the_models_gradients_alone():
    model = AttentionRNN(2, 3, 3, seed=0)
    model.W.grad = np.full((3, 3), 7.0)
    viz.draw_unrolled(model, *sequence(3))
    assert (model.W.grad == 7.0).all() and model.U.grad is None


def test_deep_graphs_need_no_recursion():
    x = tg.Tensor(0.5, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0
    src = viz.draw(y, max_nodes=10**6, show_values=False).source
    assert src.count(" -> ") == 40_000


def test_nested_scopes_nest_clusters():
    x = tg.Tensor(np.ones(2), requires_grad=True)
    with tg.scope("outer"):
        a = x * 2.0
        with tg.scope("inner"):
            b = a.tanh()
    src = viz.draw(b.sum()).source
    assert src.index("subgraph cluster_0") < src.index("subgraph cluster_1") < src.rindex("}")
    assert re.search(r"subgraph cluster_0 \{.*subgraph cluster_1 \{.*inner.*\}.*\}", src, flags=re.S)


def test_cli(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "viz", *a], cwd=ROOT, capture_output=True, text=True)  # noqa: E731
    ok = run("unrolled", "--steps", "3", "--color-by", "grad", "-o", str(tmp_path / "u.svg"))
    assert ok.returncode == 0 and "wrote" in ok.stdout and (tmp_path / "u.svg").exists()
    collapsed = run("unrolled", "--steps", "40", "--collapse", "-o", str(tmp_path / "c.dot"))
    assert collapsed.returncode == 0
    bad = run("unrolled", "--steps", "3", "-o", str(tmp_path / "u.txt"))
    assert bad.returncode == 1 and bad.stderr.startswith("error: viz: cannot tell the format") and \
        "Traceback" not in bad.stderr
    big = run("unrolled", "--steps", "25", "-o", str(tmp_path / "big.svg"))
    assert big.returncode == 1 and "--collapse" in big.stderr and not (tmp_path / "big.svg").exists()
    helptext = run("unrolled", "--help")
    assert helptext.returncode == 0 and "--color-by" in helptext.stdout and "--no-backward" in helptext.stdout
