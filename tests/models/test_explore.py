"""viz.explore: the interactive page of the forward replay and the backward walk.

Two halves: the data the page is built from (the engine's walk, reported by an observer) checked
in Python against hand values and against plain ``backward()``; and the page itself, loaded in a
real headless Chromium (Debian's package, driven by Playwright) and read from its DOM the way a
reader sees it.  No test here is skipped: ``make test`` installs the browser.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import viz
from tinygrad_rnn.backward import backward as engine_backward
from tinygrad_rnn.models.attention_rnn import AttentionRNN
from tinygrad_rnn.models.explore import explore_unrolled, main as explore_main
from tinygrad_rnn.viz.browser import BROWSER_ARGS, chromium_path

D, H, K, T, SEED = 2, 3, 3, 4, 0


def micrograd(names: bool = True) -> tuple[tg.Tensor, dict[str, tg.Tensor]]:
    """micrograd's README example: L = (a*b + c) * f."""
    leaves = {k: tg.Tensor(v, requires_grad=True, name=k if names else None)
              for k, v in (("a", 2.0), ("b", -3.0), ("c", 10.0), ("f", -2.0))}
    e = leaves["a"] * leaves["b"]
    e.name = "e"
    d = e + leaves["c"]
    d.name = "d"
    L = d * leaves["f"]
    L.name = "L"
    return L, leaves


def model_case(seed: int = SEED, steps: int = T) -> tuple[AttentionRNN, np.ndarray, np.ndarray]:
    model = AttentionRNN(D, H, K, seed=seed)
    rng = np.random.default_rng(seed + 1)
    return model, rng.standard_normal((steps, D)), rng.integers(0, K, steps)


def page_data(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="walk-data">(.*?)</script>', text, re.S)
    assert m is not None
    return json.loads(m.group(1))


# ----------------------------------------------------------------------------- the engine's observer
class Log:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def arrive(self, rec, g):
        self.events.append(("arrive", rec.op.name, None if g is None else np.array(g)))

    def added(self, rec, i, x, gx, total):
        self.events.append(("added", rec.op.name, i, x.name, np.array(gx), np.array(total)))


def test_observer_reports_the_walk_of_micrograds_example_by_hand():
    L, leaves = micrograd()
    log = Log()
    engine_backward(L, None, False, log)
    kinds = [(e[0], e[1]) for e in log.events]
    assert kinds == [("arrive", "mul"), ("added", "mul"), ("added", "mul"),
                     ("arrive", "add"), ("added", "add"), ("added", "add"),
                     ("arrive", "mul"), ("added", "mul"), ("added", "mul")]
    # dL/dL = 1; mul gives d: f = -2 and f: d = 4; add passes -2 to e and c; mul gives a: -2*b = 6, b: -2*a = -4
    arrivals = [float(e[2]) for e in log.events if e[0] == "arrive"]
    assert arrivals == [1.0, -2.0, -2.0]
    added = {(e[3]): float(e[4]) for e in log.events if e[0] == "added"}
    assert added == {"d": -2.0, "f": 4.0, "e": -2.0, "c": -2.0, "a": 6.0, "b": -4.0}
    assert {k: float(v.grad) for k, v in leaves.items()} == {"a": 6.0, "b": -4.0, "c": -2.0, "f": 4.0}


def test_observer_sees_partial_sums_of_a_fanned_out_value_and_changes_no_number():
    x = tg.Tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True, name="x")
    h = (x * 3.0).tanh()
    h.name = "h"
    L = (h * h).sum() + (h * x).sum() + h[1] * 2.0  # h used 4 times (twice by one mul), one use via indexing
    log = Log()
    engine_backward(L, None, True, log)
    totals = [e[5] for e in log.events if e[0] == "added" and e[3] == "h"]
    parts = [e[4] for e in log.events if e[0] == "added" and e[3] == "h"]
    assert len(totals) == 4
    np.testing.assert_array_equal(totals[-1], np.sum(parts, axis=0))  # the partial sums add up, in walk order
    for k in range(1, 4):
        np.testing.assert_allclose(totals[k], totals[k - 1] + parts[k], rtol=0, atol=1e-15)
    observed = x.grad.copy()
    x.grad = None
    L.backward()  # the same graph (retained), walked without an observer
    np.testing.assert_array_equal(observed, x.grad)


# ----------------------------------------------------------------------------- the page's data (no browser)
def test_page_data_are_the_engines_walk(tmp_path):
    model, xs, ys = model_case()
    page = explore_unrolled(model, xs, ys, tmp_path / "bptt.html")
    data = page_data(page)
    assert all(p.grad is None for p in model.params().values())  # the model's .grad is left as it was
    loss = model.loss(xs, ys, mode="unrolled")
    n_records = len(tg.graph_of(loss))
    loss.backward()
    assert len(data["records"]) == len(data["backward"]) == n_records
    # backward steps visit the records in reverse tape order
    seqs = [data["records"][int(s["rec"][1:])]["seq"] for s in data["backward"]]
    assert seqs == sorted(seqs, reverse=True)
    names = {leaf["key"]: leaf["name"] for leaf in data["leaves"]}
    for key, enc in data["final"].items():
        want = model.params()[names[key]].grad.reshape(-1)
        np.testing.assert_allclose(enc["v"], want, rtol=1e-8, atol=0)  # 9 significant digits stored
    # the last partial sum of each parameter is its final gradient
    last = {}
    for s in data["backward"]:
        for o in s["out"]:
            last[o["to"]] = o["tot"]
    assert {k: last[k] for k in data["final"]} == data["final"]


def test_explore_adds_to_grad_like_backward(tmp_path):
    L, leaves = micrograd()
    for t in leaves.values():
        t.grad = np.array(100.0)
    viz.explore(L, tmp_path / "m.html")
    assert {k: float(v.grad) for k, v in leaves.items()} == {"a": 106.0, "b": 96.0, "c": 98.0, "f": 104.0}
    data = page_data(tmp_path / "m.html")
    assert {leaf["name"]: leaf["gradBefore"]["v"] for leaf in data["leaves"]} == {k: [100.0] for k in "abcf"}


def test_page_records_sparse_contributions_from_indexing(tmp_path):
    x = tg.Tensor(np.arange(6.0), requires_grad=True, name="x")
    L = (x[np.array([1, 1, 4])] * 2.0).sum() + x.sum()
    viz.explore(L, tmp_path / "s.html")
    data = page_data(tmp_path / "s.html")
    contribs = [o["c"]["v"] for s in data["backward"] for o in s["out"] if o["to"] == "l0"]
    assert sorted(contribs) == sorted([[0, 4, 0, 0, 2, 0], [1] * 6])
    assert data["final"]["l0"]["v"] == [1, 5, 1, 1, 3, 1]


@pytest.mark.parametrize("bad, message", [
    ("leaf", "no recorded history"), ("freed", "already freed"), ("ext", "as .html"), ("panel", "not a tensor computed"),
])
def test_explore_refuses_bad_input_with_one_line(tmp_path, bad, message):
    L, leaves = micrograd()
    kwargs = {}
    target, path = L, tmp_path / "p.html"
    if bad == "leaf":
        target = leaves["a"]
    elif bad == "freed":
        L.backward()
    elif bad == "ext":
        path = tmp_path / "p.svg"
    elif bad == "panel":
        kwargs = {"track_grads": {"x": [tg.Tensor(1.0, requires_grad=True) * 2.0]}}
    with pytest.raises(viz.VizError, match=message) as info:
        viz.explore(target, path, **kwargs)
    assert "\n" not in str(info.value)
    assert not path.exists()


def test_explore_refuses_an_oversized_model_before_running_it(tmp_path):
    model, xs, ys = model_case(steps=40)
    with pytest.raises(viz.GraphTooLargeError, match="T=40"):
        explore_unrolled(model, xs, ys, tmp_path / "big.html")
    assert not (tmp_path / "big.html").exists()


def test_command_line_writes_the_page_and_reports_bad_flags(tmp_path, capsys):
    out = tmp_path / "sub" / "bptt.html"
    assert explore_main(["--steps", "3", "-o", str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    assert explore_main(["--steps", "3", "-o", str(tmp_path / "x.txt")]) == 1
    assert "as .html" in capsys.readouterr().err
    assert explore_main(["--steps", "3", "-o", str(out), "--screenshot", str(tmp_path / "x.jpg")]) == 1
    assert "expected a .png" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        explore_main(["--steps", "0", "-o", str(out)])
    assert e.value.code == 2


def test_page_is_self_contained(tmp_path):
    model, xs, ys = model_case()
    text = explore_unrolled(model, xs, ys, tmp_path / "bptt.html").read_text(encoding="utf-8")
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    assert "default-src 'none'" in text  # the page's own policy forbids any request


# ----------------------------------------------------------------------------- in a real browser
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=BROWSER_ARGS)
        yield b
        b.close()


class Visit:
    """A page opened in the browser, with every console message, page error and request seen."""

    def __init__(self, browser, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_function("() => window.walk !== undefined")  # (a function: the page's policy forbids eval)

    def counter(self) -> str:
        return self.page.inner_text("#counter")

    def numbers(self, selector: str) -> list[float]:
        return [float(t) for t in self.page.locator(selector).all_inner_texts()]

    def close(self) -> None:
        self.page.close()


@pytest.fixture(scope="module")
def model_page(tmp_path_factory):
    model, xs, ys = model_case()
    path = explore_unrolled(model, xs, ys, tmp_path_factory.mktemp("page") / "bptt.html")
    loss = model.loss(xs, ys, mode="unrolled")
    records = tg.graph_of(loss)
    values = {t.name: t.data.copy() for _, t in records if t.name}
    loss.backward()
    grads = {k: p.grad.copy() for k, p in model.params().items()}
    return path, len(records), grads, values, model


def close_to_printed(printed: list[float], want: np.ndarray) -> bool:
    """Equal to 6 significant digits (what the page prints)."""
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    return len(printed) == want.size and bool(np.all(np.abs(np.array(printed) - want) <= 5.01e-6 * np.abs(want)))


def test_page_loads_with_no_errors_and_no_requests(browser, model_page):
    v = Visit(browser, model_page[0])
    v.page.keyboard.press("End")
    v.page.keyboard.press("f")
    v.page.keyboard.press("End")
    assert v.errors == []
    assert v.requests == [v.url]  # the file itself, nothing else
    v.close()


def test_request_detector_sees_a_request(browser, tmp_path, model_page):
    """Negative control for the test above: a copy of the page without its policy and with one
    external image must show up as a request."""
    text = model_page[0].read_text(encoding="utf-8")
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    text = text.replace("<body>", '<body><img src="http://127.0.0.1:9/x.png" alt="">', 1)
    leaky = tmp_path / "leaky.html"
    leaky.write_text(text, encoding="utf-8")
    v = Visit(browser, leaky)
    assert any(u.startswith("http://127.0.0.1:9/") for u in v.requests)
    v.close()


def test_backward_steps_equal_the_records_and_end_with_the_engines_gradients(browser, model_page):
    path, n_records, grads, _, _ = model_page
    v = Visit(browser, path)
    assert v.counter() == f"backward step 0 of {n_records}"
    assert v.page.get_attribute("#slider", "max") == str(n_records)
    v.page.click("#last")
    assert v.counter() == f"backward step {n_records} of {n_records}"
    for name, want in grads.items():
        printed = v.numbers(f'#leaf-grads tr[data-leaf="{name}"] td.grad .num')
        assert close_to_printed(printed, want), (name, printed, want)
        # negative control: the same comparison fails for a gradient off in its 4th digit
        assert not close_to_printed(printed, want * (1 + 1e-4))
    assert "complete (= .grad)" in v.page.inner_text("#leaf-grads")
    v.close()


def test_partial_sums_fill_up_while_walking(browser, model_page):
    """Each parameter's 'so far' count grows from 0 to its number of uses; h_1's bar grows."""
    path = model_page[0]
    v = Visit(browser, path)
    data = page_data(path)
    n = len(data["records"])
    b_key = next(leaf["key"] for leaf in data["leaves"] if leaf["name"] == "b")
    uses = data["fanout"][b_key]
    assert uses == T  # b is added once per step
    seen = []
    for p in range(0, n + 1, max(1, n // 12)):
        v.page.evaluate(f"walk.go({p})")
        status = v.page.inner_text('#leaf-grads tr[data-leaf="b"] td:first-child')
        m = re.search(r"Σ (\d+) of (\d+)", status)
        seen.append(int(m.group(1)) if m else uses)
    assert seen[0] == 0 and seen == sorted(seen) and len(set(seen)) > 2
    v.close()


def test_keyboard_alone_steps_plays_and_switches(browser, model_page):
    path, n_records, *_ = model_page
    v = Visit(browser, path)
    kb = v.page.keyboard
    for _ in range(3):
        kb.press("ArrowRight")
    assert v.counter() == f"backward step 3 of {n_records}"
    kb.press("ArrowLeft")
    assert v.counter() == f"backward step 2 of {n_records}"
    assert "Backward step 2 of" in v.page.inner_text("#step-title")
    kb.press("End")
    kb.press("ArrowRight")  # stays at the end
    assert v.counter() == f"backward step {n_records} of {n_records}"
    kb.press("Home")
    kb.press("f")
    assert v.counter() == f"forward step 0 of {n_records}"
    kb.press("ArrowRight")
    assert "Forward step 1 of" in v.page.inner_text("#step-title")
    kb.press(" ")  # play
    v.page.wait_for_function("() => walk.pos >= 3", timeout=10_000)
    kb.press(" ")  # pause
    stopped = v.page.evaluate("walk.pos")
    v.page.wait_for_timeout(1200)
    assert v.page.evaluate("walk.pos") == stopped
    # Tab reaches a graph node; Enter selects it
    for _ in range(40):
        kb.press("Tab")
        if v.page.evaluate("document.activeElement.classList.contains('node')"):
            break
    assert v.page.evaluate("document.activeElement.classList.contains('node')")
    kb.press("Enter")
    assert "Click a node" not in v.page.inner_text("#node")
    assert v.errors == []
    v.close()


def test_clicking_a_node_shows_its_value_and_gradient_once_passed(browser, model_page):
    path, n_records, grads, values, model = model_page
    data = page_data(path)
    v = Visit(browser, path)
    w_node = next(leaf["node"] for leaf in data["leaves"] if leaf["name"] == "W")
    v.page.click("#zoom-whole")
    v.page.locator(f"g.node:has(> title:text-is('{w_node}'))").click()
    info = v.page.locator('#node .nodeinfo[data-key^="l"]')
    assert close_to_printed(v.numbers('#node .nodeinfo[data-key^="l"] .value .num'), model.W.data)
    assert "not reached yet" in info.inner_text()
    v.page.click("#last")
    assert close_to_printed(v.numbers('#node .nodeinfo[data-key^="l"] .gradient .num'), grads["W"])
    # an intermediate: h_2's value is the engine's; its gradient appears only once the walk passed its record
    h2 = next(r for r in data["records"] if r["name"] == "h_2")
    v.page.click("#first")
    v.page.locator(f"g.node:has(> title:text-is('{h2['valueNode']}'))").click()
    assert close_to_printed(v.numbers(f'#node .nodeinfo[data-key="{h2["key"]}"] .value .num'), values["h_2"])
    assert "not reached yet" in v.page.inner_text("#node")
    v.page.click("#last")
    assert "complete" in v.page.inner_text(f'#node .nodeinfo[data-key="{h2["key"]}"] .gradient')
    assert v.errors == []
    v.close()


def test_hostile_names_are_shown_as_text(browser, tmp_path):
    a = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True, name='</script><script>window.pwned=1</script>')
    b = a * 3.0
    b.name = '<img src=x onerror="window.pwned=2">{{DATA}}'
    L = b.sum()
    path = viz.explore(L, tmp_path / "hostile.html", title="<b>t</b>{{SCRIPT}}")
    v = Visit(browser, path)
    v.page.click("#last")
    assert v.page.evaluate("window.pwned === undefined")
    assert "</script><script>window.pwned=1</script>" in v.page.inner_text("#leaf-grads")
    assert v.page.title() == "<b>t</b>{{SCRIPT}}"
    assert v.errors == []
    v.close()


def test_mid_walk_screenshot_is_written(tmp_path):
    """The command line's --screenshot (its own process: Playwright's sync API allows one driver per
    thread, and this module's browser is still open)."""
    png = tmp_path / "shots" / "mid.png"
    done = subprocess.run([sys.executable, "-m", "tinygrad_rnn.models.explore", "--steps", "3", "-o",
                           str(tmp_path / "p.html"), "--screenshot", str(png)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert f"wrote {png}" in done.stdout


def test_screenshot_without_browser_or_playwright_is_one_line(tmp_path, monkeypatch, capsys):
    argv = ["--steps", "2", "-o", str(tmp_path / "p.html"), "--screenshot", str(tmp_path / "p.png")]
    monkeypatch.setenv("TINYGRAD_RNN_CHROMIUM", str(tmp_path / "no-such-browser"))
    assert explore_main(argv) == 1
    err = capsys.readouterr().err
    assert "TINYGRAD_RNN_CHROMIUM" in err and err.count("\n") == 1
    monkeypatch.delenv("TINYGRAD_RNN_CHROMIUM")
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)
    assert explore_main(argv) == 1
    err = capsys.readouterr().err
    assert "pip install 'tinygrad_rnn[browser]'" in err and err.count("\n") == 1
    assert not (tmp_path / "p.png").exists()


def test_explore_works_for_closure_ops_and_non_scalar_roots(tmp_path):
    @tg.defop("cube_closure")
    def cube(x):
        return x**3, (lambda g: g * 3.0 * x**2,)

    x = tg.Tensor(np.array([1.0, -2.0]), requires_grad=True, name="x")
    y = cube(x) * np.array([1.0, 10.0])
    viz.explore(y, tmp_path / "c.html", grad=np.array([1.0, 0.5]))
    assert x.grad.tolist() == [3.0, 60.0]
    data = page_data(tmp_path / "c.html")
    assert [r["op"] for r in data["records"]] == ["cube_closure", "mul"]
    assert data["backward"][0]["g"]["v"] == [1.0, 0.5]
    assert data["final"]["l0"]["v"] == [3.0, 60.0]


def test_large_tensors_are_summarised_with_the_engines_norm(browser, tmp_path):
    rng = np.random.default_rng(4)
    W = tg.Tensor(rng.standard_normal((12, 10)), requires_grad=True, name="W")  # 120 elements > MAX_SHOWN
    L = (tg.Tensor(rng.standard_normal((5, 12))) @ W).tanh().sum()
    path = viz.explore(L, tmp_path / "big.html")
    v = Visit(browser, path)
    v.page.click("#last")
    text = v.page.inner_text('#leaf-grads tr[data-leaf="W"] td.grad')
    assert "shape (12, 10)" in text and "‖·‖" in text
    printed = v.numbers('#leaf-grads tr[data-leaf="W"] td.grad .num')
    # the summary prints min, max, the norm, then the first values: compare them with the engine's .grad
    g = W.grad.reshape(-1)
    assert close_to_printed(printed[:3], np.array([g.min(), g.max(), np.linalg.norm(g)]))
    assert close_to_printed(printed[3:], g[:4])
    assert v.errors == []
    v.close()


def test_attention_gradient_rows_fill_in_backwards_through_time(browser, model_page):
    """The α panel's gradient grid: empty before the walk, complete (row t has t cells) at its end,
    filled from the last time step back in between; the row of the current step is marked."""
    v = Visit(browser, model_page[0])
    cells = "section.heat table.grad tr"
    counts = lambda: [len(r.query_selector_all("td")) for r in v.page.query_selector_all(cells)]  # noqa: E731
    assert counts() == [0] * T
    v.page.click("#last")
    assert counts() == list(range(1, T + 1))
    seen = []
    for p in range(0, v.page.evaluate("walk.steps") + 1, 6):
        v.page.evaluate(f"walk.go({p})")
        filled = [n > 0 for n in counts()]
        seen.append(filled)
        if any(filled):  # later steps fill first: the filled rows are a suffix
            first = filled.index(True)
            assert all(filled[first:]), filled
    assert any(0 < sum(f) < T for f in seen)
    v.page.evaluate("walk.go(Math.round(walk.steps / 2))")
    current = v.page.query_selector_all("section.heat table.grad tr.current th")
    assert len(current) == 1 and current[0].inner_text().startswith("α_")
    assert v.errors == []
    v.close()


# ----------------------------------------------------------------------------- where you are, at T = 16
@pytest.fixture(scope="module")
def page16(tmp_path_factory):
    model, xs, ys = model_case(steps=16)
    return explore_unrolled(model, xs, ys, tmp_path_factory.mktemp("page16") / "bptt16.html")


_IN_PANE = """(ids) => {
  const s = document.getElementById('graph').getBoundingClientRect();
  return ids.map((id) => {
    const g = [...document.querySelectorAll('g.node')].find((n) => n.querySelector('title').textContent === id);
    const r = g.getBoundingClientRect();
    return r.left >= s.left - 1 && r.right <= s.right + 1 && r.top >= s.top - 1 && r.bottom <= s.bottom + 1;
  });
}"""


def _neighbourhood(data: dict, mode: str, pos: int) -> list[str]:
    """The svg nodes the step panel talks about at step ``pos``: the record, and its inputs (forward)
    or the values receiving its gradient (backward)."""
    items = {r["key"]: r for r in data["records"]}
    items.update({leaf["key"]: leaf for leaf in data["leaves"]})

    def nodes(key):
        x = items.get(key)
        if x is None:
            return []
        return [n for n in ([x["node"]] if x.get("node") else [x.get("opNode"), x.get("valueNode")]) if n]

    if mode == "forward":
        r = data["records"][pos - 1]
        return nodes(r["key"]) + [n for k in r["inputs"] if k for n in nodes(k)]
    s = data["backward"][pos - 1]
    out = nodes(s["rec"])
    for o in s["out"]:
        x = items.get(o["to"])
        n = x.get("node") or x.get("valueNode") if x else None
        if n:
            out.append(n)
    return out


def test_the_current_step_stays_in_view_legibly_and_its_neighbours_are_shown(browser, page16):
    """At every sampled step: the current record is in the pane at ≥ 40 % of actual size (legible),
    and each value it reads or sends gradient to is in the pane too, or, when that would need a
    zoom below the legibility floor (attention reaches back across the whole graph), marked by a
    dot on the overview."""
    data = page_data(page16)
    v = Visit(browser, page16)
    n = len(data["records"])
    one = v.page.evaluate("() => document.getElementById('graph').getBoundingClientRect().width * 0.75")
    for mode in ("backward", "forward"):
        v.page.evaluate("(m) => walk.setMode(m)", mode)
        for pos in (1, n // 5, n // 2, (3 * n) // 4, n):
            v.page.evaluate("(p) => walk.go(p)", pos)
            ids = _neighbourhood(data, mode, pos)
            current, others = ids[0], sorted(set(ids[1:]) - {ids[0]})  # the record's op node, then the rest
            assert v.page.evaluate(_IN_PANE, [current]) == [True], (mode, pos)
            assert v.page.evaluate("() => walk.view.w") <= one / 0.4 + 1e-6  # never below the legibility floor
            seen = v.page.evaluate(_IN_PANE, others)
            dots = v.page.locator("#overview .near-dot").count()
            assert all(seen) or dots >= seen.count(False), (mode, pos, others, seen, dots)
    assert v.errors == []
    v.close()


def test_the_overview_shows_every_step_and_where_the_walk_is(browser, page16):
    data = page_data(page16)
    v = Visit(browser, page16)
    labels = v.page.locator("#overview text").all_text_contents()
    scopes = v.page.locator("#overview rect.scope").count()
    assert scopes == 16 and set(labels) <= {f"t={t}" for t in range(1, 17)} and len(labels) >= 8
    boxes = sorted((b["x"], b["x"] + b["width"]) for b in (t.bounding_box() for t in v.page.locator("#overview text").all()))
    assert all(a[1] <= b[0] for a, b in zip(boxes, boxes[1:])), boxes  # no label overlaps another
    scope_of = {r["key"]: r["scope"] for r in data["records"]}
    box = {}
    for pos in (len(data["records"]) // 3, (2 * len(data["records"])) // 3):
        v.page.evaluate("(p) => walk.go(p)", pos)
        here = v.page.locator("#overview rect.scope.here")
        assert here.count() == 1
        # the highlighted block is the current record's top-level scope: its rectangle holds that step's label
        want = scope_of[data["backward"][pos - 1]["rec"]].split("/")[0]
        rect = here.bounding_box()
        shown = [t for t in v.page.locator("#overview text").all() if t.text_content() == want]
        if shown:  # (a narrow early step may show no label)
            label = shown[0].bounding_box()
            assert rect["x"] <= label["x"] + label["width"] / 2 <= rect["x"] + rect["width"], want
        box[pos] = v.page.locator("#overview .here-dot").bounding_box()
    assert len({(round(b["x"]), round(b["y"])) for b in box.values()}) == 2  # the dot moved with the walk
    assert v.errors == []
    v.close()


def test_clicking_the_overview_moves_the_view_there(browser, page16):
    v = Visit(browser, page16)
    before = v.page.evaluate("() => walk.view")
    ov = v.page.locator("#overview svg").bounding_box()
    v.page.mouse.click(ov["x"] + ov["width"] * 0.9, ov["y"] + ov["height"] * 0.5)
    after = v.page.evaluate("() => walk.view")
    home = v.page.evaluate("() => walk.home")
    centre = after["x"] + after["w"] / 2
    assert abs(centre - (home["x"] + 0.9 * home["w"])) < 0.05 * home["w"] and after["w"] == before["w"]
    v.close()


def test_fit_is_legible_and_whole_shows_everything(browser, page16):
    data = page_data(page16)
    v = Visit(browser, page16)
    pos = len(data["records"]) // 2
    v.page.evaluate("(p) => walk.go(p)", pos)
    v.page.click("#zoom-whole")
    assert v.page.evaluate("() => walk.view") == v.page.evaluate("() => walk.home")
    v.page.click("#zoom-fit")
    cur = data["backward"][pos - 1]["rec"]
    op = next(r["opNode"] for r in data["records"] if r["key"] == cur)
    assert v.page.evaluate(_IN_PANE, [op]) == [True]
    # legible: the current node's text is at least 6 px tall on screen (the whole graph's is under 1 px)
    height = v.page.evaluate("""(id) => {
      const g = [...document.querySelectorAll('g.node')].find((n) => n.querySelector('title').textContent === id);
      return g.querySelector('text').getBoundingClientRect().height; }""", op)
    assert height >= 6, height
    v.page.keyboard.press("0")
    assert v.page.evaluate("() => walk.view") == v.page.evaluate("() => walk.home")
    whole = v.page.evaluate("""(id) => {
      const g = [...document.querySelectorAll('g.node')].find((n) => n.querySelector('title').textContent === id);
      return g.querySelector('text').getBoundingClientRect().height; }""", op)
    assert whole < height / 3  # the control: the whole graph is the unreadable sliver "fit" used to be
    v.page.keyboard.press("n")
    assert v.page.evaluate(_IN_PANE, [op]) == [True]
    assert v.errors == []
    v.close()
