"""The functional API (``tg.grad``, ``vjp``, ``jvp``, ``hessian``, ``gradients``): edge cases against
hand derivations and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import optim


def _t(values, rg=True, **kw):
    return tg.Tensor(np.array(values, dtype=np.float64), requires_grad=rg, **kw)


# ============================================================================ functional API
def test_gradients_of_a_leaf_with_respect_to_itself_is_the_cotangent():
    x = _t([1.0, 2.0])
    (g,) = tg.gradients(x, [x], np.array([3.0, 4.0]))
    np.testing.assert_array_equal(g.data, [3.0, 4.0])  # torch.autograd.grad(x, x, v) == v
    _, f = tg.vjp(lambda t: t, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(f(np.array([5.0, 6.0])).data, [5.0, 6.0])
    _, jv = tg.jvp(lambda t: t, (np.array([1.0, 2.0]),), (np.array([7.0, 8.0]),))
    np.testing.assert_array_equal(jv.data, [7.0, 8.0])


def test_jvp_output_is_differentiable_in_the_tangent():
    # J u for f(x) = x², J = diag(2x): d(Σ J u)/du = 2x
    x = np.array([1.0, 3.0])
    u = _t([0.5, 0.5])
    _, jv = tg.jvp(lambda t: t * t, (x,), (u,))
    jv.sum().backward()
    np.testing.assert_array_equal(u.grad, [2.0, 6.0])


@pytest.mark.parametrize("fn", ["jvp", "hvp"])
def test_tangents_of_the_wrong_shape_are_refused(fn):
    f = lambda t: (t * t).sum()  # noqa: E731
    with pytest.raises(ValueError, match=rf"{fn}: tangent 0 has shape \(1,\) but its primal has shape \(3,\)"):
        getattr(tg, fn)(f, (np.ones(3),), (np.ones(1),))


def test_clip_grad_norm_scales_gradients_that_hold_tensors():
    p = _t([3.0, 4.0])
    (p * p).sum().backward(create_graph=True)  # p.grad = 2p, a Tensor: norm 10
    total = optim.clip_grad_norm([p], max_norm=5.0)
    assert total == pytest.approx(10.0, rel=1e-15)
    np.testing.assert_allclose(p.grad.data, [3.0, 4.0], rtol=1e-15)
