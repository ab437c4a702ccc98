"""gradcheck and jacobian, and the negative controls: deliberately wrong rules
(registered only here) must fail, in full and in fast mode, with a useful message."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.testing import arrays, assert_grad_close


# ---------------------------------------------------------------- deliberately wrong rules
@tg.defop("tanh_missing_square")
def tanh_missing_square(x):
    """Wrong on purpose: d/dx tanh x written as 1 − tanh x."""
    y = np.tanh(x)
    return y, (lambda g: g * (1.0 - y),)


@tg.defop("mul_slightly_off")
def mul_slightly_off(a, b):
    """Wrong on purpose by a relative 1e-5: tight tolerances must notice."""
    return a * b, (lambda g: g * b * (1 + 1e-5), lambda g: g * a)


@tg.defop("softmax_diag_only")
def softmax_diag_only(x):
    """The seed's eq 8 read as a diagonal Jacobian ŷ_i(1 − ŷ_i): wrong off the diagonal."""
    e = np.exp(x - x.max())
    y = e / e.sum()
    return y, (lambda g: g * y * (1 - y),)


def test_wrong_rule_fails_full_mode_and_names_input_entry_and_rule():
    x = np.array([0.3, -0.7, 1.1])

    def fn(t):
        with tg.scope("t=2"):
            h = tanh_missing_square(t * 2.0)
        return (h * h).sum()

    with pytest.raises(tg.GradcheckError) as err:
        tg.gradcheck(fn, [x])
    msg = str(err.value)
    assert "input 0 of shape (3,)" in msg and "worst: d out() / d in(" in msg
    assert "analytic" in msg and "numeric" in msg
    assert "suspect rule: 'tanh_missing_square'" in msg and "scope 't=2'" in msg
    assert "op path to the output: 'tanh_missing_square'" in msg and "'sum'" in msg
    assert tg.gradcheck(fn, [x], raise_exception=False) is False


def test_wrong_rule_fails_fast_mode():
    x = np.random.default_rng(0).standard_normal(600)  # > 512 entries: fast mode by default
    with pytest.raises(tg.GradcheckError, match=r"fast mode.*input 0 of shape \(600,\)"):
        tg.gradcheck(lambda t: tanh_missing_square(t).sum(), [x])
    assert tg.gradcheck(lambda t: t.tanh().sum(), [x])  # the right rule passes the same check


@pytest.mark.parametrize("fast", [False, True])
def test_a_1e5_relative_error_is_caught(fast):
    a = np.array([[0.5, -1.2], [2.0, 0.7]])
    b = np.array([[1.5, 0.4], [-0.3, 0.9]])
    with pytest.raises(tg.GradcheckError, match="input 0"):
        tg.gradcheck(lambda p, q: mul_slightly_off(p, q), [a, b], fast_mode=fast)
    assert tg.gradcheck(lambda p, q: p * q, [a, b], fast_mode=fast)


@given(x=arrays((4,), min_value=-2.0, max_value=2.0, distinct=True, margin=0.1))
def test_diagonal_softmax_jacobian_is_caught_on_every_input(x):
    """Negative control for softmax: the diagonal-only Jacobian must always fail."""
    weights = np.array([1.0, -2.0, 0.5, 3.0])
    assert not tg.gradcheck(lambda t: (softmax_diag_only(t) * weights).sum(), [x], raise_exception=False)
    assert_grad_close(lambda t: (t.softmax() * weights).sum(), [x])


def test_wrong_gradient_shape_names_the_rule():
    @tg.defop("bad_shape")
    def bad_shape(x):
        return x * 2.0, (lambda g: np.ones(x.shape + (2,)),)

    t = tg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(tg.GradientShapeError, match=r"'bad_shape'.*shape \(3, 2\) for input 0 of shape \(3,\)"):
        bad_shape(t).sum().backward()


def test_a_rule_that_raises_is_reported_with_its_name():
    @tg.defop("raises")
    def raises(x):
        return x * 1.0, (lambda g: np.linalg.inv(np.ones((2, 3))),)

    t = tg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"backward rule 'raises' \(tape #\d+\) failed for input 0"):
        raises(t).sum().backward()


def test_wrong_number_of_rules_is_reported_when_recorded():
    @tg.defop("two_inputs_one_rule")
    def two_inputs_one_rule(a, b):
        return a + b, (lambda g: g,)

    with pytest.raises(TypeError, match="returned 1 VJP rule.*2 positional input"):
        two_inputs_one_rule(tg.Tensor([1.0], requires_grad=True), 2.0)


# ---------------------------------------------------------------- jacobian and its users
@given(x=arrays((5,), min_value=-3.0, max_value=3.0))
def test_softmax_jacobian_is_diag_minus_outer(x):
    """The correct form of eq 8: ∂ŷ_i/∂x_j = ŷ_i (δ_ij − ŷ_j), to 1e-14."""
    y = np.exp(x - x.max())
    y /= y.sum()
    np.testing.assert_allclose(tg.jacobian(lambda t: t.softmax(), x), np.diag(y) - np.outer(y, y), atol=1e-14)


@given(x=arrays(min_dims=1, max_dims=2))
def test_jacobian_matches_numerical_jacobian(x):
    fn = lambda t: (t * t).tanh().sum(axis=0)  # noqa: E731
    j = tg.jacobian(fn, x)
    assert j.shape == fn(tg.Tensor(x)).shape + x.shape
    np.testing.assert_allclose(j, tg.numerical_jacobian(fn, x), rtol=1e-6, atol=1e-8)


def test_gradcheck_leaves_the_callers_tensors_alone():
    w = tg.Tensor([0.1, 0.2], requires_grad=True)
    w.grad = np.array([7.0, 7.0])
    assert tg.gradcheck(lambda t: (t * t).sum(), [w])
    assert w.grad.tolist() == [7.0, 7.0] and w.data.tolist() == [0.1, 0.2]


def test_gradcheck_bad_inputs():
    with pytest.raises(TypeError, match="float64"):
        tg.gradcheck(lambda t: t.sum(), [tg.Tensor(np.ones(2, np.float32), requires_grad=True)])
    with pytest.raises(ValueError, match="no input requires grad"):
        tg.gradcheck(lambda t: t.sum(), [np.arange(3)])
    with pytest.raises(TypeError, match="must return a Tensor"):
        tg.gradcheck(lambda t: 1.0, [np.ones(2)])


def test_constant_inputs_are_not_checked_but_used():
    idx = np.array([2, 0, 0])
    assert tg.gradcheck(lambda t, i: t[i.data].sum(), [np.array([1.0, 2.0, 3.0]), idx])


@tg.defop("constant_with_bogus_rule")
def constant_with_bogus_rule(v):
    """Wrong on purpose: a constant function whose rule claims a 1e-4 slope."""
    return v * 0.0 + 1.0, (lambda g: g * 1e-4,)


@given(x=st.floats(-3, 3))
def test_gradcheck_tolerance_is_not_vacuous(x):
    """A rule off by 1e-4 absolute fails even where the true gradient is 0."""
    plus_bias = constant_with_bogus_rule
    assert not tg.gradcheck(lambda t: plus_bias(t), [np.array(x)], raise_exception=False)
