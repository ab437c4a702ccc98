"""Behaviour other autodiff libraries' test suites pin (micrograd, MyGrad, PyTorch, HIPS autograd),
ported: each expected value from PyTorch float64, numpy or a hand derivation."""

from __future__ import annotations

import numpy as np
import pytest
import torch  # noqa: E402  (the test extra installs torch==2.13.0; a missing torch is a failure, never a skip)
from engine_helpers import _run
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg


def _t(values, rg=True, **kw):
    return tg.Tensor(np.array(values, dtype=np.float64), requires_grad=rg, **kw)


# ============================================================================ regressions found by the peers' suites
def test_max_and_min_over_all_of_a_transposed_tensor():
    a = tg.Tensor([[1.0, 5.0], [3.0, 2.0]], requires_grad=True)
    a.T.max().backward()
    np.testing.assert_array_equal(a.grad, [[0, 1], [0, 0]])
    b = tg.Tensor([[4.0, 5.0], [0.5, 2.0]], requires_grad=True)
    b.T.min().backward()
    np.testing.assert_array_equal(b.grad, [[0, 0], [1, 0]])


def test_a_tuple_of_ints_as_an_index_accumulates_repeats():
    x = tg.Tensor(np.ones((3, 2)), requires_grad=True)
    x[(0, 0), :].sum().backward()
    np.testing.assert_array_equal(x.grad, [[2, 2], [0, 0], [0, 0]])
    y = tg.Tensor(np.ones(3), requires_grad=True)
    y[[1, 1, 1]].sum().backward()
    np.testing.assert_array_equal(y.grad, [0, 3, 0])


def test_pow_limits_at_zero_are_zero_not_nan():
    x = tg.Tensor(0.0, requires_grad=True)
    (x ** 0).backward()
    assert x.grad == 0.0
    y = tg.Tensor(2.0, requires_grad=True)
    (tg.Tensor(0.0) ** y).backward()
    assert y.grad == 0.0
    z = tg.Tensor([0.0, 2.0], requires_grad=True)
    (z ** 2.0).sum().backward()
    np.testing.assert_array_equal(z.grad, [0.0, 4.0])


def test_sigmoid_keeps_relative_precision_for_negative_inputs():
    x = tg.Tensor([-30.0, -40.0, -700.0, 30.0], requires_grad=True)
    y = x.sigmoid()
    exact = np.exp([-30.0, -40.0, -700.0]) / (1 + np.exp([-30.0, -40.0, -700.0]))
    np.testing.assert_allclose(y.data[:3], exact, rtol=1e-15)
    lx = tg.Tensor(-40.0, requires_grad=True)
    ls = lx.sigmoid().log()
    ls.backward()
    assert ls.item() == pytest.approx(-40.0, rel=1e-15) and lx.grad == pytest.approx(1.0, rel=1e-15)


def test_static_arguments_can_be_passed_positionally_while_recording():
    x = tg.Tensor(np.arange(120.0).reshape(4, 30), requires_grad=True)
    assert tg.sum(x, 0).shape == (30,)
    assert tg.reshape(x, (20, 6)).shape == (20, 6)
    assert tg.softmax(x, 0).shape == (4, 30)
    assert tg.max(x, 1, True).shape == (4, 1)
    with pytest.raises(TypeError, match="sum: takes 1 input"):
        tg.sum(x, 0, False, 3)


def test_zero_dim_and_empty_edge_cases():
    s = tg.Tensor(3.0, requires_grad=True)
    y = s.softmax()
    assert y.item() == 1.0
    y.backward()
    assert s.grad == 0.0
    assert tg.Tensor(2.0).sum(0).item() == 2.0
    with pytest.raises(ValueError, match="axis 1 is out of bounds"):
        tg.Tensor(2.0).sum(1)
    assert tg.Tensor([False, True]).min().item() is False
    assert tg.Tensor([False, True]).max().item() is True
    e = tg.Tensor(np.zeros((2, 0)), requires_grad=True)
    assert e.softmax().shape == (2, 0) and e.log_softmax(axis=1).shape == (2, 0)


@pytest.mark.parametrize("grad", [np.array([1 + 1j, 2.0]), [1.0, None], ["a", "b"]])
def test_backward_refuses_a_complex_or_non_numeric_grad(grad):
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="backward: grad must be a real numeric array"):
        (x * 2.0).backward(grad)
    assert x.grad is None


def test_defop_mistakes_name_the_op():
    @tg.defop("only_array")
    def only_array(x):
        return x * 2.0

    @tg.defop("not_a_tuple")
    def not_a_tuple(x):
        return x * 2.0, lambda g: g

    @tg.defop("none_grad")
    def none_grad(x):
        return x * 2.0, (lambda g: None,)

    @tg.defop("str_grad")
    def str_grad(x):
        return x * 2.0, (lambda g: "oops",)

    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(tg.OpDefinitionError, match="op 'only_array': the forward must return"):
        only_array(x)
    with pytest.raises(tg.OpDefinitionError, match="op 'not_a_tuple'.*got a function as the rules"):
        not_a_tuple(x)
    for op, kind in ((none_grad, "NoneType"), (str_grad, "str")):
        with pytest.raises(tg.GradientShapeError, match=f"'{op.name}'.*returned {kind} for input 0"):
            op(x).sum().backward()


def test_comparisons_are_elementwise_and_tensors_still_hash_by_identity():
    x = tg.Tensor([0.0, 1.0, 0.0])
    assert (x == 0).tolist() == [True, False, True] and (x != 0).tolist() == [False, True, False]
    np.testing.assert_array_equal(tg.where(x == 0, 5.0, x).data, [5.0, 1.0, 5.0])
    a, b = tg.Tensor(1.0), tg.Tensor(1.0)
    assert len({a, b}) == 2 and {a: 1, b: 2}[a] == 1


def test_a_one_element_tensor_formats_like_a_float():
    assert f"{tg.Tensor(1.23456):.3f}" == "1.235"
    assert f"{tg.Tensor([2.5]):g}" == "2.5"
    with pytest.raises(TypeError, match="only one-element tensors"):
        f"{tg.Tensor([1.0, 2.0]):.2f}"


def test_sparse_gradient_after_a_fan_out_copies_before_adding():
    # add hands p and q the same upstream array; the slice's sparse gradient for p arrives later
    # and must not be added into that shared array (the copy-on-write step in Gradients.add)
    def f(p, q):
        s = p[0:2]
        r = p + q
        return (r * np.arange(1.0, 5.0)).sum() + (s * 10.0).sum()

    p = tg.Tensor(np.ones(4), requires_grad=True)
    q = tg.Tensor(np.ones(4), requires_grad=True)
    f(p, q).backward()
    np.testing.assert_array_equal(p.grad, [11, 12, 3, 4])
    np.testing.assert_array_equal(q.grad, [1, 2, 3, 4])
    p2, q2 = tg.Tensor(np.ones(4), requires_grad=True), tg.Tensor(np.ones(4), requires_grad=True)
    s = p2 * 1.0  # not a leaf: its gradient waits in the walk's pending table
    head = s[0:2]  # recorded first, so its sparse gradient arrives last, after add shared g
    out = ((s + q2) * np.arange(1.0, 5.0)).sum() + (head * 10.0).sum()
    out.backward()
    np.testing.assert_array_equal(p2.grad, [11, 12, 3, 4])
    np.testing.assert_array_equal(q2.grad, [1, 2, 3, 4])


def test_the_walk_and_tape_do_not_import_tensor():
    import ast
    import inspect

    from tinygrad_rnn import backward, op, recording, saved, tape

    for module in (recording, saved, tape, backward, op):
        tree = ast.parse(inspect.getsource(module))
        typing_only = {id(inner) for n in ast.walk(tree) if isinstance(n, ast.If)
                       and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING" for inner in n.body}
        run = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and id(n) not in typing_only]
        imported = {a.name for n in run for a in n.names}
        modules = {n.module for n in run}
        assert "Tensor" not in imported and "tensor" not in modules, module.__name__  # (annotations aside)


def test_the_walk_reads_on_one_screen():
    import inspect

    from tinygrad_rnn import backward

    body = [ln for ln in inspect.getsource(backward.walk).splitlines()
            if ln.strip() and not ln.strip().startswith(("#", '"""', "@"))]
    assert len(body) <= 25, len(body)


def test_one_walk_and_one_broadcasting_step_in_the_whole_engine():
    """Every order (backward, observed, create_graph, tg.grad) runs backward.walk; only
    backward.fit_gradient undoes broadcasting (finds the size-1 axes a gradient is summed over)."""
    import re
    from pathlib import Path

    import tinygrad_rnn

    walks, fits = [], []
    for path in sorted(Path(tinygrad_rnn.__file__).parent.rglob("*.py")):
        text = path.read_text()
        walks += [(path.name, m.group(0)) for m in re.finditer(r"for \w+ in reversed\(", text)]
        fits += [(path.name, m.group(1)) for m in re.finditer(r"n == 1 and (\w+)\.shape\[k\] != 1", text)]
    assert walks == [("backward.py", "for t in reversed(")], walks
    assert fits == [("backward.py", "g")], fits


@settings(max_examples=30)
@given(st.lists(st.sampled_from(["mul", "tanh", "add_x", "slice"]), min_size=1, max_size=8))
def test_threads_building_the_same_program_agree_with_one_thread(program):
    def run():
        x = tg.Tensor(np.linspace(0.1, 0.9, 4), requires_grad=True)
        h = x
        for step in program:
            if step == "mul":
                h = h * 1.1
            elif step == "tanh":
                h = h.tanh()
            elif step == "add_x":
                h = h + x
            else:
                h = tg.concatenate([h[0:2] * 2.0, h[2:]])
        h.sum().backward()
        return x.grad

    expected = run()
    got = []
    _run(*[lambda: got.append(run()) for _ in range(3)])
    for g in got:
        np.testing.assert_array_equal(g, expected)


def test_one_op_protocol_the_closure_form_is_known_in_op_py_only():
    """The tape and the walk see rules only: the closure form is adapted in one place
    (op.ClosureRule); no other engine file tells the two forms apart."""
    import re
    from pathlib import Path

    import tinygrad_rnn

    tells_apart = re.compile(r"ClosureRule|arrays is None|rules is None|closure rule")
    found = sorted({path.name for path in Path(tinygrad_rnn.__file__).parent.rglob("*.py")
                    if tells_apart.search(path.read_text())})
    assert found == ["op.py"], found


def test_a_closure_op_is_recorded_with_rules_and_agrees_with_its_rules_form():
    @tg.defop("cube_closure")
    def cube_closure(x):
        return x ** 3, (lambda g: g * 3.0 * x ** 2,)

    @tg.defop("cube_rules", rules=(lambda F, g, y, x: g * 3.0 * x * x,))
    def cube_rules(x):
        return x ** 3

    x0 = np.array([0.5, -1.5, 2.0])
    grads = []
    for op in (cube_closure, cube_rules):
        x = tg.Tensor(x0, requires_grad=True)
        y = op(x)
        rec = y.record
        assert rec.arrays is not None and all(callable(r) for r in rec.vjps)  # the same record shape
        y.sum().backward()
        grads.append(x.grad)
        grads.append(tg.grad(lambda t: op(t).sum())(tg.Tensor(x0, requires_grad=True)).data)
    for g in grads:
        np.testing.assert_array_equal(g, 3.0 * x0 ** 2)  # an oracle by hand, not the engine
    assert type(cube_closure(tg.Tensor(x0, requires_grad=True)).record.vjps[0]).__name__ == "ClosureRule"


# ============================================================================ peers' tests, ported
def test_einsum_broadcasts_a_size_one_label_as_numpy_and_torch():
    a, b = _t(np.ones(3)), _t(np.ones(1))
    out = tg.einsum("i,i", a, b)
    assert out.item() == 3.0 == np.einsum("i,i", np.ones(3), np.ones(1))
    out.backward()
    np.testing.assert_array_equal(a.grad, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(b.grad, [3.0])


@pytest.mark.parametrize("spec, shapes", [
    ("ii", [(3, 3)]), ("ii->i", [(3, 3)]), ("ijji->i", [(2, 3, 3, 2)]), ("ii,ij->j", [(3, 3), (3, 2)]),
    ("iij->j", [(2, 2, 3)]), ("ij,j->i", [(2, 1), (3,)]), ("bii->b", [(2, 3, 3)]),
])
def test_einsum_repeated_subscripts_against_torch(spec, shapes):
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal(s) for s in shapes]
    ts = [_t(x) for x in xs]
    out = tg.einsum(spec, *ts)
    txs = [torch.tensor(x, requires_grad=True) for x in xs]
    tout = torch.einsum(spec, *txs)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    seed = rng.standard_normal(out.shape)
    out.backward(seed)
    tout.backward(torch.tensor(seed))
    for t, tx in zip(ts, txs):
        np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert tg.gradgradcheck(lambda *a: tg.einsum(spec, *a), [tg.Tensor(x, requires_grad=True) for x in xs])


def test_max_and_min_over_no_axes_return_the_input():
    x = _t([1.0, 3.0])
    np.testing.assert_array_equal(x.max(axis=()).data, np.max(np.array([1.0, 3.0]), axis=()))
    x.min(axis=()).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_zero_sized_products_and_repeats_backpropagate():
    a, b = _t(np.ones((8, 8))), _t(np.ones((8, 0)))
    (a @ b).sum().backward()
    assert a.grad.shape == (8, 8) and not a.grad.any() and b.grad.shape == (8, 0)
    c, d = _t(np.ones((3, 0))), _t(np.ones((0, 3)))
    (c @ d).sum().backward()
    assert c.grad.shape == (3, 0) and d.grad.shape == (0, 3)
    e, f = _t(np.ones((2, 4, 0))), _t(np.ones((0, 5)))
    (e @ f).sum().backward()
    assert e.grad.shape == (2, 4, 0) and f.grad.shape == (0, 5)
    x = _t([1.0, 2.0])
    tg.repeat(x, 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    assert tg.Tensor([])[[]].shape == np.array([])[[]].shape == (0,)


def test_pow_at_zero_and_infinity_against_torch():
    a = np.array([0.0, 0, 0, 0, 0, np.inf, np.inf, -np.inf, -np.inf, 2.0, 0.5, 3.0])
    b = np.array([-1.0, -0.5, 0, 0.5, 2, 1, -1, 2, 3, np.inf, np.inf, -2.0])
    ta, tb = _t(a), _t(b)
    with np.errstate(all="ignore"):
        out = ta ** tb
        out.sum().backward()
    qa, qb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (qa ** qb).sum().backward()
    np.testing.assert_array_equal(out.data, (qa ** qb).detach().numpy())
    np.testing.assert_array_equal(ta.grad, qa.grad.numpy())
    np.testing.assert_array_equal(tb.grad, qb.grad.numpy())


def test_variance_with_no_degrees_of_freedom_is_nan_not_a_crash():
    x = _t([1.0])
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        v = x.var(ddof=1)
        v.backward()
    q = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    with pytest.warns(UserWarning):
        tv = q.var(correction=1)
    tv.backward()
    assert np.isnan(v.item()) and np.isnan(tv.item())
    assert np.isnan(x.grad).all() and np.isnan(q.grad.numpy()).all()


def test_zero_d_edges_follow_numpy_or_torch():
    s = tg.Tensor(1.5)
    assert s.squeeze(0).shape == np.squeeze(np.array(1.5), 0).shape == tuple(torch.tensor(1.5).squeeze(0).shape) == ()
    with pytest.raises(np.exceptions.AxisError, match="squeeze: axis 1 is out of bounds"):
        s.squeeze(1)  # (used to raise ZeroDivisionError)
    with pytest.raises(np.exceptions.AxisError):
        np.squeeze(np.array(1.5), 1)
    assert s.cumsum(axis=0).shape == tuple(torch.tensor(1.5).cumsum(0).shape) == ()
    assert s.cumsum().shape == np.cumsum(np.array(1.5)).shape == (1,)
    with pytest.raises(ValueError, match=r"squeeze: axis 0 has size 2, not 1"):
        tg.Tensor(np.ones((2, 1))).squeeze(0)  # numpy's choice (torch returns it unchanged): documented


def test_chunk_of_an_empty_axis_gives_torchs_number_of_parts():
    parts = tg.Tensor(np.ones((0, 2))).chunk(2)
    assert len(parts) == len(torch.ones((0, 2)).chunk(2)) == 2
    assert all(p.shape == (0, 2) for p in parts)


def test_creation_dtypes_follow_numpy_and_torch():
    assert tg.full((2,), 4).dtype == np.full((2,), 4).dtype == np.int64
    assert tg.full((2,), 4.0).dtype == np.float64
    assert tg.full((2,), 4, requires_grad=True).dtype == np.float64
    np.testing.assert_array_equal(tg.linspace(-5, 0, 4, dtype=np.int64).data,
                                  torch.linspace(-5, 0, 4, dtype=torch.int64).numpy())
    with pytest.raises(TypeError, match="linspace: dtype must be a float or integer type, got bool"):
        tg.linspace(0, 1, 3, dtype=bool)


@pytest.mark.parametrize("name, ours, theirs, shapes", [
    ("addmm", tg.addmm, torch.addmm, [(3,), (2, 0), (0, 3)]),
    ("addmm_stack", tg.addmm, lambda c, a, b: c + a @ b, [(2, 3, 0), (2, 3, 4), (4, 0)]),
    ("dot_1d", tg.dot, torch.dot, [(0,), (0,)]),
    ("dot_2d", tg.dot, torch.mm, [(3, 0), (0, 2)]),
    ("tensordot", lambda a, b: tg.tensordot(a, b, 1), lambda a, b: torch.tensordot(a, b, 1), [(2, 0), (0, 3)]),
    ("einsum", lambda a, b: tg.einsum("ij,jk->ik", a, b), lambda a, b: torch.einsum("ij,jk->ik", a, b),
     [(2, 0), (0, 3)]),
    ("outer", tg.outer, torch.outer, [(0,), (3,)]),
    ("matmul_batch", lambda a, b: a @ b, lambda a, b: a @ b, [(0, 2, 3), (3, 4)]),
    ("matmul_batch_empty_columns", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 2, 3), (2, 3, 0)]),
])
def test_zero_sized_products_against_torch(name, ours, theirs, shapes):
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal(s) for s in shapes]
    ts = [_t(x) for x in xs]
    out = ours(*ts)
    qs = [torch.tensor(x, requires_grad=True) for x in xs]
    ref = theirs(*qs)
    assert out.shape == tuple(ref.shape)
    w = rng.standard_normal(out.shape)
    out.backward(w)
    ref.backward(torch.tensor(w))
    for t, q in zip(ts, qs):
        np.testing.assert_array_equal(t.grad, q.grad.numpy())


def test_array_parameters_of_activations_are_frozen_at_record_time():
    x = _t(np.full((2, 3), -1.0))
    slope = np.array([0.1, 0.2, 0.3])
    alpha = np.array([1.0, 2.0, 3.0])
    y = (tg.leaky_relu(x, negative_slope=slope) + tg.elu(x, alpha=alpha)).sum()
    slope[:] = 5.0
    alpha[:] = 5.0
    y.backward()
    expected = 0.1 * np.arange(1, 4) + np.arange(1.0, 4.0) * np.exp(-1.0)
    np.testing.assert_allclose(x.grad, np.broadcast_to(expected, (2, 3)), rtol=1e-15)


def test_no_grad_on_a_generator_passes_send_and_throw_through():
    x = _t([1.0])

    @tg.no_grad()
    def echo():
        got = yield "ready"
        while True:
            try:
                got = yield ((x * got).requires_grad, got)
            except KeyError as e:
                got = yield ("caught", str(e), (x * 2).requires_grad)

    g = echo()
    assert next(g) == "ready"
    assert g.send(3.0) == (False, 3.0)
    assert g.throw(KeyError("k")) == ("caught", "'k'", False)
    assert g.send(5.0) == (False, 5.0)
    g.close()
    assert tg.is_grad_enabled()


def test_decorating_an_async_generator_is_refused_in_one_line():
    with pytest.raises(TypeError, match=r"^agen: decorating an async generator with a recording context is not "
                                        r"supported; use a `with` block inside it$"):
        @tg.no_grad()
        async def agen():
            yield 1


def test_enable_grad_and_detect_anomaly_keep_the_scope_and_tags_around_them():
    x = _t([1.0, 2.0])
    with tg.scope("outer"), tg.tag(eq=7), tg.no_grad():
        with tg.enable_grad():
            y = x * 2
        with tg.enable_grad(), tg.detect_anomaly():
            z = x * 3
            assert tg.is_anomaly_enabled()
    assert (y.record.scope, dict(y.record.tags)) == ("outer", {"eq": 7})
    assert (z.record.scope, dict(z.record.tags)) == ("outer", {"eq": 7})
    for inner in (tg.no_grad, lambda: tg.scope("s"), lambda: tg.tag(k=1)):
        with tg.detect_anomaly(), inner(), tg.enable_grad():
            with pytest.raises(tg.AnomalyError):
                x * np.nan  # anomaly mode survives no_grad, scope, tag and enable_grad


def test_a_record_names_raw_array_inputs_by_shape():
    x = _t([1.0, 2.0], name="x")
    r = (x * np.ones(2)).record
    assert repr(r).endswith("mul(x(2,), (2,)) -> (2,)")
