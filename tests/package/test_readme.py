"""The Python blocks of the README and of every page of the site run, in order, and do what they say.

Each page runs in its own namespace (a reader may open any page first), the README's blocks too."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: pathlib.Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def run_page(path: pathlib.Path) -> None:
    namespace: dict = {"__name__": f"page_{path.stem}"}
    for i, block in enumerate(blocks(path)):
        exec(compile(block, f"<{path.relative_to(ROOT)} python block {i + 1}>", "exec"), namespace)


@pytest.mark.parametrize("path", [p for p in PAGES if blocks(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(path, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_page(path)
    out = capsys.readouterr().out
    rel = path.relative_to(ROOT).as_posix()
    if rel == "README.md":
        assert "records on the tape" in out
    if rel == "docs/guide/testing.md":
        assert "suspect rule: 'my_tanh_wrong'" in out  # the negative control fails as promised
        assert "hand gradient of 'U' is wrong at sizes B=1, D=1, H=1, K=2, T=1\n" in out  # the seed's eqs as printed
        assert "hand gradient of 'V' is wrong at sizes B=1, D=1, H=1, K=2, T=2\n" in out
    if rel == "docs/guide/engine.md":
        assert "tanh((2,)) -> (2,) @t=2 {'eq': 1}" in out
    if rel == "docs/guide/nn.md":
        assert "xor: [0 1 1 0] loss 0.00" in out  # the nn example learns XOR, as it says
        m = re.search(r"char GRU: loss ([\d.]+) \(uniform guess ([\d.]+)\)", out)
        assert m and float(m.group(1)) < 0.5 * float(m.group(2))  # and the GRU beats a uniform guess by far


def test_the_pages_with_promised_output_have_python_blocks():
    with_blocks = {p.relative_to(ROOT).as_posix() for p in PAGES if blocks(p)}
    assert {"README.md", "docs/index.md", "docs/guide/testing.md", "docs/guide/engine.md", "docs/guide/nn.md",
            "docs/guide/model.md", "docs/guide/drawing.md", "docs/guide/stepping.md"} <= with_blocks


def test_nothing_the_readme_dropped_is_lost():
    """Every paragraph of the README before it became a front page (commit fdb1896) is in the site:
    each of its sections' headings is a page or a heading of one."""
    site = "\n".join(p.read_text() for p in PAGES)
    for heading in ("Quick tour", "Building blocks: `tg.nn`, saving, seeding", "The seed's model and its errata",
                    "Drawing graphs", "Stepping through the backward walk", "Training, and when the seed's attention helps",
                    "Layout", "Running the tests", "Speed and memory"):
        assert heading in site, heading


def test_the_readmes_generated_backward_is_what_tg_compile_generates_now():
    """The README shows the seed model's generated backward at T = 2; it must be today's code."""
    import numpy as np

    import tinygrad_rnn as tg
    from tinygrad_rnn.models.attention_rnn import AttentionRNN
    from tinygrad_rnn.models.data import as_batch

    model = AttentionRNN(2, 2, 2, seed=0)
    step = tg.compile(lambda X, Y: model.batch_loss(X, Y, mode="unrolled"))
    X, Y, _ = as_batch(np.array([[0.5, -1.0], [1.5, 0.2]]), np.array([0, 1]), 2, 2)
    src = step.source(X, Y)
    shown = re.search(r"```text\n(    # backward\n.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert shown is not None
    assert shown.group(1).rstrip() == src[src.index("    # backward"):].rstrip()
