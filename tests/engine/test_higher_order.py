"""Higher-order gradients: recorded backward passes, the functional API, second derivatives of
every built-in op, the seed model's Hessian-vector product against the closed form, and the
backward pass drawn."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.models import closed_form as cf
from tinygrad_rnn.models import attention_rnn
from tinygrad_rnn.models.attention_rnn import AttentionRNN

# ----------------------------------------------------------------------------- negative controls
@tg.defop("tanh_frozen_second", saves=("out",), rules=(lambda F, g, y, x: g * (1.0 - F.value(y) ** 2),))
def _tanh_frozen(x):
    """First derivative right, but the rule reads y as a constant: the second derivative is lost."""
    return np.tanh(x)


def test_gradgradcheck_catches_a_rule_whose_second_derivative_is_wrong():
    x = np.array([0.3, -0.7, 1.1])
    assert tg.gradcheck(lambda t: _tanh_frozen(t).sum(), [x])  # first order is fine
    with pytest.raises(tg.GradcheckError, match="second derivative"):
        tg.gradgradcheck(lambda t: _tanh_frozen(t).sum(), [x])


def test_gradgradcheck_fails_on_nan():
    with np.errstate(all="ignore"), pytest.raises(tg.GradcheckError, match="non-finite"):
        tg.gradgradcheck(lambda t: t.sqrt().sum(), [np.array([0.0, 1.0])])


def test_a_closure_rule_has_no_higher_order_and_says_so():
    @tg.defop("closure_square")
    def sq(x):
        return x * x, (lambda g: 2 * g * x,)

    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    # the first derivative goes through it in every API (tg.grad, create_graph=True, backward) ...
    np.testing.assert_array_equal(tg.grad(lambda t: sq(t).sum())(x).data, [2.0, 4.0])
    sq(x).sum().backward(create_graph=True)
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])
    x.grad = None
    sq(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    # ... and differentiating that gradient again is an error naming the op, never a silent zero
    with pytest.raises(RuntimeError, match=r"'closure_square'.*only a numpy backward rule.*defop\(name, rules=...\)"):
        tg.hessian(lambda t: sq(t).sum())(x)
    g = tg.grad(lambda t: sq(t).sum())(x)
    with pytest.raises(RuntimeError, match=r"'closure_square'.*only a numpy backward rule"):
        g.sum().backward()


# ----------------------------------------------------------------------------- the API, against formulas
def test_grad_of_grad_of_tanh_cubed_against_its_formula():
    x = tg.Tensor([0.3, -0.5, 1.2], requires_grad=True)
    f = lambda t: (t.tanh() ** 3).sum()  # noqa: E731
    df = tg.grad(f)
    d2 = tg.grad(lambda t: df(t).sum())
    th = np.tanh(x.data)
    sech2 = 1 - th ** 2
    np.testing.assert_allclose(df(x).data, 3 * th ** 2 * sech2, rtol=1e-14)
    np.testing.assert_allclose(d2(x).data, 6 * th * sech2 ** 2 - 6 * th ** 3 * sech2, rtol=1e-12)
    H = tg.hessian(f)(x)
    np.testing.assert_allclose(H.data, np.diag(6 * th * sech2 ** 2 - 6 * th ** 3 * sech2), rtol=1e-12, atol=1e-15)


def test_hessian_hvp_vjp_and_jvp_agree_with_each_other_and_with_jacobians():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    f = lambda t: ((A @ t).tanh() * t).sum()  # noqa: E731
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    H = tg.hessian(f)(x).data
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tg.hvp(f, (x,), (v,)).data, H @ v, rtol=1e-12, atol=1e-14)
    g = lambda t: (A @ t).tanh()  # noqa: E731
    J = tg.jacobian(g, x)  # first-order engine, one backward pass per output
    _, jv = tg.jvp(g, (x,), (v,))
    np.testing.assert_allclose(jv.data, J @ v, rtol=1e-12, atol=1e-14)
    out, vjp_fn = tg.vjp(g, x)
    np.testing.assert_allclose(vjp_fn(v).data, v @ J, rtol=1e-12, atol=1e-14)
    numeric = np.stack([(tg.grad(f)(x + 1e-6 * e).data - tg.grad(f)(x - 1e-6 * e).data) / 2e-6 for e in np.eye(4)])
    np.testing.assert_allclose(H, numeric, rtol=1e-6, atol=1e-8)


def test_backward_create_graph_gives_grads_with_history():
    x = tg.Tensor([0.5, -1.0], requires_grad=True)
    y = (x.sigmoid() * x).sum()
    y.backward(create_graph=True)
    assert isinstance(x.grad, tg.Tensor) and x.grad.requires_grad
    g1 = x.grad
    x.grad = None
    (g1 ** 2).sum().backward()
    s = 1 / (1 + np.exp(-x.data))
    d1 = s + x.data * s * (1 - s)
    d2 = 2 * s * (1 - s) + x.data * s * (1 - s) * (1 - 2 * s)
    np.testing.assert_allclose(g1.data, d1, rtol=1e-14)
    np.testing.assert_allclose(x.grad, 2 * d1 * d2, rtol=1e-12)


# ----------------------------------------------------------------------------- the seed's model
@pytest.mark.parametrize("mode", ["fused", "unrolled"])
@pytest.mark.parametrize("seed", [0, 1])
def test_model_hessian_vector_product_against_differences_of_the_closed_form(mode, seed):
    """H v of the seed's loss in all five parameters, against central differences of the closed-form
    gradient ``bptt`` (plain numpy, no engine code).  ε = 1e-5: truncation ~1e-10, rounding ~1e-11;
    tolerance 1e-7 relative to the largest entry."""
    rng = np.random.default_rng(seed)
    model = AttentionRNN(3, 4, 3, seed=seed)
    params = model.numpy_params()
    xs, ys = rng.standard_normal((2, 5, 3)), rng.integers(0, 3, (2, 5))
    names = ("W", "U", "b", "V", "c")
    v = {k: rng.standard_normal(params[k].shape) for k in names}

    def loss(*ts):
        return attention_rnn.loss(dict(zip(names, ts)), xs, ys, mode=mode)

    hv = tg.hvp(loss, [params[k] for k in names], [v[k] for k in names])
    eps = 1e-5
    plus = cf.bptt({k: params[k] + eps * v[k] for k in names}, xs, ys)
    minus = cf.bptt({k: params[k] - eps * v[k] for k in names}, xs, ys)
    scale = max(np.abs((plus[k] - minus[k]) / (2 * eps)).max() for k in names)
    for k, h in zip(names, hv):
        numeric = (plus[k] - minus[k]) / (2 * eps)
        np.testing.assert_allclose(h.data, numeric, rtol=0, atol=1e-7 * scale, err_msg=k)


# ----------------------------------------------------------------------------- the backward pass, drawn
def test_backward_graph_of_the_unrolled_model_is_drawn_grouped_and_tagged(tmp_path):
    from tinygrad_rnn.models.draw import draw_backward

    src = draw_backward(AttentionRNN(2, 2, 2, seed=0), *_seq(2)).source
    assert src == draw_backward(AttentionRNN(2, 2, 2, seed=0), *_seq(2)).source  # deterministic
    assert re.search(r"label=<<B>t=1</B>>", src) and re.search(r"label=<<B>backward</B>>", src)
    assert "grad_of=tanh" in src and "eq 1" in src and "tag_legend" in src
    run = subprocess.run([sys.executable, "-m", "tinygrad_rnn.models.draw", "--steps", "2", "-H", "2", "-K", "2",
                          "--backward-graph", "-o", str(tmp_path / "b.dot")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "b.dot").read_text().count("grad_of=") > 20


def _seq(T):
    rng = np.random.default_rng(1)
    return rng.standard_normal((T, 2)), rng.integers(0, 2, T)


# ----------------------------------------------------------------------------- the recorded walk's details
def test_gradients_with_respect_to_intermediates_and_the_output_itself():
    x = tg.Tensor([0.2, -0.4], requires_grad=True)
    h = x.tanh()  # not a leaf
    y = (h * h).sum()
    gh, gy, gx = tg.gradients(y, [h, y, x])
    np.testing.assert_allclose(gh.data, 2 * np.tanh(x.data), rtol=1e-14)
    assert float(gy.data) == 1.0
    np.testing.assert_allclose(gx.data, 2 * np.tanh(x.data) * (1 - np.tanh(x.data) ** 2), rtol=1e-14)
    # and the gradient with respect to the intermediate is differentiable again
    (ggx,) = tg.gradients(gh.sum(), [x])
    np.testing.assert_allclose(ggx.data, 2 * (1 - np.tanh(x.data) ** 2), rtol=1e-14)


def test_create_graph_accumulates_into_grad_and_retained_intermediates():
    x = tg.Tensor([0.5, 1.5], requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    y = (h * h).sum()
    y.backward(create_graph=True)
    y.backward(create_graph=True)  # the graph is kept; gradients add up, as Tensors
    assert isinstance(h.grad, tg.Tensor) and isinstance(x.grad, tg.Tensor)
    np.testing.assert_allclose(h.grad.data, 2 * 2 * h.data, rtol=1e-14)
    np.testing.assert_allclose(x.grad.data, 2 * 18 * x.data, rtol=1e-14)
    x2 = tg.Tensor([1.0], requires_grad=True)
    x2.grad = np.array([10.0])  # an existing first-order gradient is added to
    (x2 * x2).sum().backward(create_graph=True)
    assert isinstance(x2.grad, tg.Tensor) and x2.grad.data.tolist() == [12.0]


def test_recorded_backward_ops_are_scoped_and_tagged_after_their_forward_op():
    x = tg.Tensor([0.5, -1.0], requires_grad=True)
    a = x.tanh()  # no scope
    with tg.scope("s"), tg.tag(eq=2):
        b = (a * a).sum()  # mul's rule reads a (which requires grad), so its backward op is recorded
    (g,) = tg.gradients(b, [x])
    recs = [t.record for t in g.history() if t.record.tags.get("grad_of")]
    scopes = {(r.tags["grad_of"], r.scope) for r in recs}
    assert ("tanh", "backward") in scopes and ("mul", "s/backward") in scopes
    assert all(r.tags.get("eq") == 2 for r in recs if r.scope == "s/backward")


def test_recorded_broadcasting_is_undone_and_differentiable():
    a = np.array([0.3, -0.2, 0.5])
    b = np.array([[1.0, 2.0, -1.0], [0.5, 0.1, 2.0]])
    assert tg.gradgradcheck(lambda u, v: (u * v).tanh().sum(), [a, b])  # u broadcast over v's rows
    assert tg.gradgradcheck(lambda u, v: (u.reshape(1, 3) + v).sin().sum() if hasattr(u, "sin") else
                            ((u.reshape(1, 3) + v) ** 3).sum(), [a, b])
    ga, = tg.gradients((tg.Tensor(a, requires_grad=True).reshape(1, 3) * b).sum(),
                       [tg.Tensor(a, requires_grad=True)])
    assert ga.shape == (3,)


def test_a_rule_failing_while_recorded_is_named():
    @tg.defop("boom_traced", rules=(lambda F, g, out, x: (_ for _ in ()).throw(ZeroDivisionError("in rule")),))
    def boom(x):
        return np.asarray(x) * 1.0

    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"^backward rule 'boom_traced' \(tape #\d+\) failed for input 0 of shape "
                                           r"\(2,\) with upstream gradient of shape \(2,\): in rule$"):
        boom(x).sum().backward(create_graph=True)


@tg.defop("first_only", rules=(None, lambda F, g, out, a, b: g * a))
def _first_only(a, b):
    """a·b with a rule for b only (a gets no gradient, by declaration)."""
    return np.multiply(a, b)


def test_recorded_walk_skips_inputs_without_a_rule_and_records_without_a_gradient():
    x = tg.Tensor([0.5, -1.0], requires_grad=True)
    y = tg.Tensor([2.0, 3.0], requires_grad=True)
    c = y * 1.0  # recorded before a: the walk must go on past a's gradient-less record to reach it
    a = x.tanh()  # its only consumer declares no rule for it: its record never receives a gradient
    out = _first_only(a, c).sum()
    gx, gy = tg.gradients(out, [x, y])
    assert gx.data.tolist() == [0.0, 0.0]
    np.testing.assert_allclose(gy.data, np.tanh(x.data), rtol=1e-15)
    out.backward(create_graph=True)
    np.testing.assert_allclose(y.grad.data, np.tanh(x.data), rtol=1e-15)
    assert x.grad is None and a.grad is None  # no gradient stored where none flows, nor on intermediates


def test_a_recorded_rule_returning_the_wrong_shape_is_named():
    @tg.defop("bad_shape_traced", rules=(lambda F, g, out, x: F.broadcast_to(F.reshape(g, (2, 1)), (2, 3)),))
    def bad(x):
        return np.asarray(x) * 1.0

    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(tg.GradientShapeError, match=r"^backward rule 'bad_shape_traced' \(tape #\d+\) returned a "
                                                    r"gradient of shape \(2, 3\) for input 0 of shape \(2,\); they "
                                                    r"are not broadcast-compatible$"):
        bad(x).sum().backward(create_graph=True)


def test_gradients_never_touch_grad_even_of_retained_intermediates():
    x = tg.Tensor([0.5, -1.0], requires_grad=True)
    h = (x * 2.0).retain_grad()
    (g,) = tg.gradients((h * h).sum(), [x])
    np.testing.assert_allclose(g.data, 8.0 * x.data, rtol=1e-15)
    assert h.grad is None and x.grad is None
