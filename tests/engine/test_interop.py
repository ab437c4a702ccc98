"""numpy on Tensors: ufuncs and array functions recorded as the engine's ops, or refused."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg


def _t(values, rg=True, **kw):
    return tg.Tensor(np.array(values, dtype=np.float64), requires_grad=rg, **kw)


RTOL, ATOL = 1e-10, 1e-12


# ============================================================================ numpy interop
@pytest.mark.parametrize("call", [
    lambda a, b: np.sum([a, b]), lambda a, b: np.mean([a, b]), lambda a, b: np.max([a, b]),
    lambda a, b: np.dot([a, b], [1.0, 1.0]), lambda a, b: np.array([a, b]), lambda a, b: np.std([a, a + 2]),
], ids=["sum", "mean", "max", "dot", "array", "std"])
def test_numpy_functions_of_lists_of_tensors_refuse_instead_of_dropping_the_graph(call):
    a, b = _t([1.0]), _t([2.0])
    with pytest.raises(TypeError, match=r"requires grad.*tg.stack"):
        call(a, b)


def test_lists_of_tensors_without_grad_still_go_through_numpy():
    a, b = tg.Tensor([1.0]), tg.Tensor([2.0])
    assert np.sum([a, b]) == 3.0


def test_ufunc_reduce_refuses_keywords_it_cannot_honour():
    t = _t([1.0, 2.0, 3.0])
    for kw in ({"where": np.array([True, False, True])}, {"initial": 5.0}, {"dtype": np.float32}):
        with pytest.raises(TypeError, match=r"np.add.reduce on a Tensor: .*not supported"):
            np.add.reduce(t, **kw)
    np.testing.assert_array_equal(np.add.reduce(t, axis=0).data, 6.0)


def test_numpy_einsum_sublist_form_and_reshape_shape_keyword():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(3.0)
    ta, tb = _t(a), _t(b)
    out = np.einsum(ta, [0, 1], tb, [1], [0])
    np.testing.assert_array_equal(out.data, np.einsum(a, [0, 1], b, [1], [0]))
    out.sum().backward()
    np.testing.assert_array_equal(tb.grad, a.sum(axis=0))
    np.testing.assert_array_equal(np.reshape(ta, shape=(3, 2)).data, a.reshape(3, 2))
    assert np.reshape(ta, (3, 2)).op == "reshape"


# ----------------------------------------------------------------------------- numpy interoperation
def test_numpy_ufuncs_and_functions_record_the_engines_ops():
    x = tg.Tensor(np.array([[0.5, -1.0], [2.0, 0.25]]), requires_grad=True)
    y = np.tanh(x)
    assert isinstance(y, tg.Tensor) and y.op == "tanh"
    z = np.sum(np.exp(x) * np.ones(2), axis=0)
    assert isinstance(z, tg.Tensor) and z.op == "sum"
    total = np.sum(np.stack([y.sum(), np.mean(x), np.max(x), np.dot(x, x).sum(), np.einsum("ij->", x)]))
    total.backward()
    want = tg.Tensor(x.data, requires_grad=True)
    (tg.stack([want.tanh().sum(), want.mean(), want.max(), tg.dot(want, want).sum(), want.sum()]).sum()).backward()
    np.testing.assert_allclose(x.grad, want.grad, rtol=1e-14)
    assert isinstance(np.ones(2) + x, tg.Tensor)  # ndarray + Tensor


def test_numpy_functions_the_engine_lacks_never_drop_the_graph_silently():
    x = tg.Tensor(np.array([3.0, 4.0]), requires_grad=True)
    with pytest.raises(TypeError, match=r"np.linalg.det on a Tensor that requires grad would return a plain array"):
        np.linalg.det(tg.Tensor(np.eye(2), requires_grad=True))
    with pytest.raises(TypeError, match=r"np.fmod on a Tensor that requires grad"):
        np.fmod(x, 2.0)
    with pytest.raises(TypeError, match=r"np.sum on a Tensor: the argument\(s\) out= are not supported"):
        np.sum(x, out=np.zeros(()))
    with pytest.raises(TypeError, match="keyword arguments"):
        np.exp(x, out=np.zeros(2))
    assert np.linalg.det(np.eye(2) + tg.Tensor(np.zeros((2, 2)))) == 1.0  # nothing to lose: runs on the plain array
    assert np.linalg.norm(x).op == "norm2"  # (the engine has this one)
    assert np.shape(x) == (2,) and np.allclose(x, [3.0, 4.0])
