"""Every built-in op's backward rule against float64 central differences (rtol 1e-6).

Each test also checks that the gradient has its input's shape.  Inputs are kept
away from kinks (relu, abs at 0; max ties) and poles (log, sqrt, div near 0).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tg
from tinygrad_rnn.testing import arrays, assert_grad_close, broadcastable_arrays, shapes


def grads_have_input_shapes(fn, *arrays_):
    ts = [tg.Tensor(a, requires_grad=True) for a in arrays_]
    out = fn(*ts)
    out.backward(np.ones(out.shape))
    for t in ts:
        assert t.grad is not None and t.grad.shape == t.shape and t.grad.dtype == t.dtype


# ---------------------------------------------------------------- binary, broadcasting
@pytest.mark.parametrize(
    "fn",
    [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: tg.add(a, b)],
    ids=["add", "sub", "mul", "tg.add"],
)
@given(pair=broadcastable_arrays(2))
def test_binary_broadcasting(fn, pair):
    assert_grad_close(fn, list(pair))
    grads_have_input_shapes(fn, *pair)


@given(a=st.data())
def test_div_broadcasting(a):
    x, y = a.draw(broadcastable_arrays(2, avoid=(0.0,), margin=0.5))
    assert_grad_close(lambda p, q: p / q, [x, y])
    grads_have_input_shapes(lambda p, q: p / q, x, y)


@given(x=arrays(min_value=0.2, max_value=3.0), p=st.sampled_from([-2.0, -0.5, 0.5, 1.0, 2, 3]))
def test_pow_scalar_exponent(x, p):
    assert_grad_close(lambda t: t**p, [x])


@given(pair=broadcastable_arrays(2, min_value=0.2, max_value=2.0))
def test_pow_tensor_exponent(pair):
    assert_grad_close(lambda a, b: a**b, list(pair))
    assert_grad_close(lambda b: 2.0**b, [pair[1]])  # __rpow__


@given(x=arrays(), c=st.floats(-2, 2))
def test_scalars_and_arrays_on_either_side(x, c):
    k = np.linspace(0.5, 1.5, x.size).reshape(x.shape) if x.size else x
    assert_grad_close(lambda t: c - t * c + (k / (t * t + 1.0)) + k - (2.0 / (1.0 + t * t)), [x])
    t = tg.Tensor(x, requires_grad=True)
    assert isinstance(np.ones(x.shape) + t, tg.Tensor)  # numpy defers to Tensor.__radd__


# ---------------------------------------------------------------- unary
UNARY = {
    "neg": (lambda t: -t, {}),
    "tanh": (lambda t: t.tanh(), {}),
    "exp": (lambda t: t.exp(), {}),
    "log": (lambda t: t.log(), {"min_value": 0.1}),
    "sigmoid": (lambda t: t.sigmoid(), {"min_value": -8.0, "max_value": 8.0}),
    "relu": (lambda t: t.relu(), {"avoid": (0.0,)}),
    "sqrt": (lambda t: t.sqrt(), {"min_value": 0.1}),
    "abs": (lambda t: t.abs(), {"avoid": (0.0,)}),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary(name, data):
    fn, kw = UNARY[name]
    x = data.draw(arrays(**kw))
    assert_grad_close(fn, [x])
    grads_have_input_shapes(fn, x)


def test_relu_and_abs_subgradient_at_zero_is_zero():
    x = tg.Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]
    y = tg.Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    y.abs().sum().backward()
    assert y.grad.tolist() == [-1.0, 0.0, 1.0]


def test_sigmoid_does_not_overflow():
    x = tg.Tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    y = x.sigmoid()
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.25, 0.0])


# ---------------------------------------------------------------- reductions
@st.composite
def array_and_axis(draw, allow_tuple=True, **kw):
    x = draw(arrays(min_dims=1, **kw))
    choices = [None] + list(range(-x.ndim, x.ndim))
    if allow_tuple and x.ndim >= 2:
        choices.append((0, x.ndim - 1))
    return x, draw(st.sampled_from(choices)), draw(st.booleans())


@given(case=array_and_axis())
def test_sum_and_mean(case):
    x, axis, keepdims = case
    for fn in (lambda t: t.sum(axis=axis, keepdims=keepdims), lambda t: t.mean(axis=axis, keepdims=keepdims)):
        assert_grad_close(fn, [x])
        grads_have_input_shapes(fn, x)
    np.testing.assert_allclose(tg.Tensor(x).sum(axis=axis, keepdims=keepdims).data,
                               np.sum(x, axis=axis, keepdims=keepdims), rtol=1e-15)
    np.testing.assert_allclose(tg.Tensor(x).mean(axis=axis, keepdims=keepdims).data,
                               np.mean(x, axis=axis, keepdims=keepdims), rtol=1e-15)


@given(case=array_and_axis(allow_tuple=False, distinct=True))
def test_max_and_min(case):
    x, axis, keepdims = case
    assert_grad_close(lambda t: t.max(axis=axis, keepdims=keepdims), [x])
    assert_grad_close(lambda t: t.min(axis=axis, keepdims=keepdims), [x])
    np.testing.assert_array_equal(tg.Tensor(x).max(axis=axis, keepdims=keepdims).data,
                                  np.max(x, axis=axis, keepdims=keepdims))


def test_max_ties_send_the_whole_gradient_to_the_first_maximum():
    x = tg.Tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    y = tg.Tensor([5.0, 5.0], requires_grad=True)
    y.max().backward()
    assert y.grad.tolist() == [1.0, 0.0]


# ---------------------------------------------------------------- softmax family
@given(case=array_and_axis(allow_tuple=False, min_value=-5.0, max_value=5.0))
def test_softmax_and_log_softmax(case):
    x, axis, _ = case
    axis = -1 if axis is None else axis
    assert_grad_close(lambda t: t.softmax(axis=axis), [x])
    assert_grad_close(lambda t: t.log_softmax(axis=axis), [x])
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    np.testing.assert_allclose(tg.Tensor(x).softmax(axis).data, e / e.sum(axis=axis, keepdims=True), rtol=1e-13)


def test_softmax_and_log_softmax_are_single_ops():
    t = tg.Tensor(np.ones(3), requires_grad=True)
    assert [r.record.name for r in t.softmax().history()] == ["softmax"]
    assert [r.record.name for r in t.log_softmax().history()] == ["log_softmax"]


def test_softmax_is_stable_for_huge_scores():
    x = tg.Tensor([1000.0, 999.0, -1000.0], requires_grad=True)
    y = x.softmax()
    (y * np.array([1.0, 2.0, 3.0])).sum().backward()
    assert np.isfinite(y.data).all() and np.isfinite(x.grad).all()
    np.testing.assert_allclose(y.data[:2], [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1))], rtol=1e-14)


@st.composite
def logits_and_targets(draw):
    shape = draw(shapes(min_dims=1, max_dims=3, min_side=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    logits = draw(arrays(shape, min_value=-4.0, max_value=4.0))
    k = shape[axis]
    if draw(st.booleans()):
        targets = draw(hnp.arrays(np.int64, tuple(int(v) for v in np.delete(np.array(shape), axis % len(shape))),
                                  elements=st.integers(0, k - 1)))
    else:
        raw = draw(arrays(shape, min_value=0.0, max_value=1.0))
        targets = raw / np.maximum(raw.sum(axis=axis, keepdims=True), 1e-3)
    return logits, targets, axis, draw(st.sampled_from(["sum", "mean", "none"]))


@given(case=logits_and_targets())
def test_cross_entropy(case):
    logits, targets, axis, reduction = case
    fn = lambda z: tg.cross_entropy(z, targets, axis=axis, reduction=reduction)  # noqa: E731
    assert_grad_close(fn, [logits])
    lsm = logits - logits.max(axis=axis, keepdims=True)
    lsm = lsm - np.log(np.exp(lsm).sum(axis=axis, keepdims=True))
    if targets.dtype.kind == "i":
        onehot = np.moveaxis(np.eye(logits.shape[axis])[targets], -1, axis % logits.ndim)
    else:
        onehot = targets
        assert_grad_close(lambda y: tg.cross_entropy(logits, y, axis=axis, reduction=reduction), [targets])
    per = -(onehot * lsm).sum(axis=axis)
    expected = {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]
    np.testing.assert_allclose(fn(tg.Tensor(logits)).data, expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- linear algebra
@given(data=st.data())
def test_matmul_numpy_semantics(data):
    shapes_ = data.draw(hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=2, max_side=4))
    a = data.draw(arrays(shapes_.input_shapes[0]))
    b = data.draw(arrays(shapes_.input_shapes[1]))
    assert_grad_close(lambda p, q: p @ q, [a, b])
    grads_have_input_shapes(lambda p, q: tg.matmul(p, q), a, b)
    np.testing.assert_allclose((tg.Tensor(a) @ b).data, a @ b, rtol=1e-14, atol=1e-14)


@given(data=st.data())
def test_dot_1d_and_2d(data):
    n, m, k = (data.draw(st.integers(1, 4)) for _ in range(3))
    a_shape = data.draw(st.sampled_from([(k,), (n, k)]))
    b_shape = data.draw(st.sampled_from([(k,), (k, m)]))
    a, b = data.draw(arrays(a_shape)), data.draw(arrays(b_shape))
    assert_grad_close(lambda p, q: tg.dot(p, q), [a, b])
    np.testing.assert_allclose(tg.dot(a, b).data, np.dot(a, b), rtol=1e-14, atol=1e-14)


# ---------------------------------------------------------------- shape ops
@given(x=arrays(min_dims=1))
def test_reshape_transpose_T(x):
    assert_grad_close(lambda t: t.reshape(-1), [x])
    assert_grad_close(lambda t: t.reshape(*reversed(t.shape)) * np.arange(t.size).reshape(*reversed(t.shape)), [x])
    assert_grad_close(lambda t: t.T * np.arange(t.size).reshape(t.T.shape), [x])
    perm = tuple(np.random.default_rng(x.size).permutation(x.ndim))
    assert_grad_close(lambda t: t.transpose(*perm) * np.arange(t.size).reshape(t.transpose(perm).shape), [x])


@given(data=st.data())
def test_broadcast_to(data):
    bs = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3))
    x = data.draw(arrays(bs.input_shapes[0]))
    w = np.arange(1.0, 1.0 + np.prod(bs.result_shape)).reshape(bs.result_shape)
    assert_grad_close(lambda t: t.broadcast_to(bs.result_shape) * w, [x])


@given(x=arrays(min_dims=1, min_side=2), data=st.data())
def test_getitem(x, data):
    n = x.shape[0]
    idx = data.draw(hnp.arrays(np.int64, st.integers(1, 6), elements=st.integers(-n, n - 1)))
    w = np.arange(1.0, 1.0 + np.prod((len(idx),) + x.shape[1:])).reshape((len(idx),) + x.shape[1:])
    assert_grad_close(lambda t: t[idx] * w, [x])  # integer arrays, repeats accumulate
    assert_grad_close(lambda t: t[1:], [x])
    assert_grad_close(lambda t: t[::-1][0], [x])
    assert_grad_close(lambda t: t[x > 0], [x])  # boolean mask


def test_getitem_repeated_indices_accumulate():
    x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


@given(data=st.data())
def test_stack_and_concatenate(data):
    shape = data.draw(shapes(min_dims=1, max_dims=2))
    n = data.draw(st.integers(1, 3))
    xs = [data.draw(arrays(shape)) for _ in range(n)]
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    w = np.arange(1.0, 1.0 + np.stack(xs, axis=axis).size).reshape(np.stack(xs, axis=axis).shape)
    assert_grad_close(lambda *ts: tg.stack(ts, axis=axis) * w, xs)
    cat_axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    w2 = np.arange(1.0, 1.0 + np.concatenate(xs, axis=cat_axis).size).reshape(np.concatenate(xs, axis=cat_axis).shape)
    assert_grad_close(lambda *ts: tg.concatenate(ts, axis=cat_axis) * w2, xs)


@given(pair=broadcastable_arrays(2), data=st.data())
def test_where(pair, data):
    a, b = pair
    shape = np.broadcast_shapes(a.shape, b.shape)
    cond = data.draw(hnp.arrays(np.bool_, shape))
    assert_grad_close(lambda p, q: tg.where(cond, p, q), [a, b])


def test_where_minus_inf_mask_gives_exact_zeros_and_finite_backward():
    scores = tg.Tensor(np.arange(9.0).reshape(3, 3), requires_grad=True)
    causal = np.tril(np.ones((3, 3), dtype=bool))
    with tg.detect_anomaly():
        weights = tg.where(causal, scores, -np.inf).softmax(axis=-1)
        (weights * np.arange(9.0).reshape(3, 3)).sum().backward()
    assert (weights.data[~causal] == 0.0).all()
    assert np.isfinite(scores.grad).all() and (scores.grad[~causal] == 0.0).all()
    assert_grad_close(lambda s: tg.where(causal, s, -np.inf).softmax(axis=-1) * np.arange(9.0).reshape(3, 3),
                      [scores])


def test_softmax_family_accepts_integer_inputs():
    ints = tg.Tensor([[1, 2, 3], [0, 0, 5]])
    e = np.exp(np.array([[1.0, 2, 3], [0, 0, 5]]))
    np.testing.assert_allclose(ints.softmax().data, e / e.sum(axis=1, keepdims=True), rtol=1e-15)
    np.testing.assert_allclose(ints.log_softmax().data, np.log(e / e.sum(axis=1, keepdims=True)), rtol=1e-14)
    assert tg.cross_entropy(ints, np.array([2, 2])).item() > 0
