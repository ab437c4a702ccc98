"""The op set a learner reaches for (tinygrad_rnn/ops/), each op three ways:

1. its gradient against float64 central differences (hypothesis inputs kept away from kinks);
2. its second derivative (``gradgradcheck``: Hessian-vector products against differences of the
   recorded backward pass);
3. its value and gradient against PyTorch float64 (rtol 1e-10), an implementation we did not write.

Then the conventions (ties, ddof, prod at zeros, ...) with tests that show where PyTorch differs,
numpy interoperation, creation functions, and ``help()``: every public Tensor method documented.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tg
from tinygrad_rnn.testing import arrays, assert_grad_close, broadcastable_arrays, elements

RTOL, ATOL = 1e-10, 1e-12


class Case(NamedTuple):
    engine: Callable[..., Any]  # on Tensors
    torch: Callable[..., Any]  # on torch float64 tensors
    inputs: Any  # strategy of a tuple of float arrays (the differentiated inputs)
    second: bool = True  # has a second derivative worth checking


def one(**kw: Any) -> Any:
    return arrays(**kw).map(lambda a: (a,))


def matrix(min_side: int = 1, max_side: int = 4, **kw: Any) -> Any:
    return arrays(hnp.array_shapes(min_dims=2, max_dims=2, min_side=min_side, max_side=max_side), **kw)


@st.composite
def untied_pair(draw: Any) -> tuple[np.ndarray, np.ndarray]:
    a = draw(arrays())
    d = draw(arrays(a.shape, avoid=(0.0,), margin=0.05))
    return a, a + d


@st.composite
def with_zeros(draw: Any) -> tuple[np.ndarray]:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    elems = st.one_of(st.just(0.0), elements(-2.0, 2.0))
    return (draw(hnp.arrays(np.float64, shape, elements=elems)),)


@st.composite
def spread_out(draw: Any, min_dims: int = 1, min_n: int = 2) -> tuple[np.ndarray]:
    """Distinct values (no ties for max/min, non-zero variance)."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=min_n, max_side=4))
    return (draw(arrays(shape, distinct=True, margin=0.05)),)


def classes_for(n: int, k: int, seed: int = 0, ignore: bool = False) -> np.ndarray:
    t = np.random.default_rng(seed).integers(0, k, n)
    if ignore and n > 1:
        t[::2] = -100
    return t


def torch_pad(x: Any, width: tuple[tuple[int, int], ...], value: float) -> Any:
    flat = [p for pair in reversed(width) for p in pair]  # torch wants the last axis first
    return TF.pad(x, flat, value=value)


def tri_input() -> Any:
    return one(shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4))


W3 = torch.tensor([0.5, 2.0, 1.5], dtype=torch.float64)

CASES: dict[str, Case] = {
    # elementwise
    "square": Case(lambda x: x.square(), torch.square, one()),
    "sign": Case(lambda x: x.sign() * x, lambda x: torch.sign(x) * x, one(avoid=(0.0,))),
    "log1p": Case(lambda x: x.log1p(), torch.log1p, one(min_value=-0.8)),
    "expm1": Case(lambda x: x.expm1(), torch.expm1, one()),
    "sin": Case(lambda x: x.sin(), torch.sin, one()),
    "cos": Case(lambda x: x.cos(), torch.cos, one()),
    "softplus": Case(lambda x: x.softplus(), TF.softplus, one(min_value=-6.0, max_value=6.0)),
    "softplus_beta": Case(lambda x: tg.softplus(x, beta=2.0), lambda x: TF.softplus(x, beta=2.0), one()),
    "logsigmoid": Case(lambda x: x.logsigmoid(), TF.logsigmoid, one(min_value=-30.0, max_value=30.0)),
    "leaky_relu": Case(lambda x: x.leaky_relu(0.2), lambda x: TF.leaky_relu(x, 0.2), one(avoid=(0.0,))),
    "elu": Case(lambda x: x.elu(1.5), lambda x: TF.elu(x, 1.5), one(avoid=(0.0,))),
    "gelu": Case(lambda x: x.gelu(), lambda x: TF.gelu(x, approximate="tanh"), one()),
    "silu": Case(lambda x: x.silu(), TF.silu, one()),
    "maximum": Case(tg.maximum, torch.maximum, untied_pair()),
    "minimum": Case(tg.minimum, torch.minimum, untied_pair()),
    "clip": Case(lambda x: x.clip(-1.0, 1.0), lambda x: torch.clamp(x, -1.0, 1.0), one(avoid=(-1.0, 1.0))),
    "clip_lo": Case(lambda x: tg.clip(x, lo=0.5), lambda x: torch.clamp(x, min=0.5), one(avoid=(0.5,))),
    "logaddexp": Case(tg.logaddexp, torch.logaddexp, broadcastable_arrays(2)),
    # issue 23: the ops MyGrad and numpy have that the first op set lacked
    "tan": Case(lambda x: x.tan(), torch.tan, one(min_value=-1.3, max_value=1.3)),
    "arcsin": Case(lambda x: x.arcsin(), torch.arcsin, one(min_value=-0.9, max_value=0.9)),
    "arccos": Case(lambda x: x.arccos(), torch.arccos, one(min_value=-0.9, max_value=0.9)),
    "arctan": Case(lambda x: x.arctan(), torch.arctan, one()),
    "arctan2": Case(tg.arctan2, torch.atan2, broadcastable_arrays(2).map(lambda p: (p[0], np.abs(p[1]) + 0.5))),
    "sinh": Case(lambda x: x.sinh(), torch.sinh, one()),
    "cosh": Case(lambda x: x.cosh(), torch.cosh, one()),
    "arcsinh": Case(lambda x: x.arcsinh(), torch.arcsinh, one()),
    "arccosh": Case(lambda x: x.arccosh(), torch.arccosh, one(min_value=1.1, max_value=4.0)),
    "arctanh": Case(lambda x: x.arctanh(), torch.atanh, one(min_value=-0.9, max_value=0.9)),
    "exp2": Case(lambda x: x.exp2(), torch.exp2, one()),
    "log2": Case(lambda x: x.log2(), torch.log2, one(min_value=0.2, max_value=5.0)),
    "log10": Case(lambda x: x.log10(), torch.log10, one(min_value=0.2, max_value=5.0)),
    "cbrt": Case(lambda x: x.cbrt(), lambda x: torch.sign(x) * torch.abs(x) ** (1.0 / 3.0), one(avoid=(0.0,), margin=0.2)),
    "reciprocal": Case(lambda x: x.reciprocal(), torch.reciprocal, one(avoid=(0.0,), margin=0.3)),
    "logaddexp2": Case(tg.logaddexp2, torch.logaddexp2, broadcastable_arrays(2)),
    "astype": Case(lambda x: x.astype(np.float32).astype(np.float64) * 0.0 + x.astype(np.float64) ** 2,
                   lambda x: x ** 2, one()),
    "cumprod": Case(lambda x: x.cumprod(axis=0), lambda x: torch.cumprod(x, 0), one(min_dims=1)),
    "cumprod_zeros": Case(lambda x: x.cumprod(axis=-1), lambda x: torch.cumprod(x, -1), with_zeros()),
    # (values near 1: a product of 16 values up to 3 is ~1e7, whose second differences are rounding noise)
    "cumprod_flat": Case(lambda x: x.cumprod(), lambda x: torch.cumprod(x.reshape(-1), 0),
                         one(min_value=-1.5, max_value=1.5)),
    "roll": Case(lambda x: x.roll(1, axis=-1) * np.arange(1.0, 1 + x.shape[-1]),
                 lambda x: torch.roll(x, 1, -1) * torch.arange(1.0, 1 + x.shape[-1], dtype=torch.float64),
                 one(min_dims=1)),
    "roll_flat": Case(lambda x: x.roll(-2).ravel() ** 2, lambda x: torch.roll(x.reshape(-1), -2) ** 2, one()),
    "atleast_3d": Case(lambda x: tg.atleast_3d(x) ** 2, lambda x: torch.atleast_3d(x) ** 2, one(max_dims=2)),
    "norm": Case(lambda x: tg.linalg.norm(x), lambda x: torch.linalg.norm(x.reshape(-1)), one(avoid=(0.0,), margin=0.1)),
    "norm_vector_axis": Case(lambda x: tg.linalg.norm(x, axis=-1), lambda x: torch.linalg.vector_norm(x, dim=-1),
                             matrix().map(lambda a: (a + np.sign(a) * 0.1 + (a == 0) * 0.1,))),
    "norm_1": Case(lambda x: tg.linalg.norm(x, 1), lambda x: torch.linalg.matrix_norm(x, 1),
                   matrix(min_value=0.5, max_value=1.5).map(lambda a: (a + 2.0 * np.arange(a.shape[1]),))),
    "norm_inf": Case(lambda x: tg.linalg.norm(x, np.inf), lambda x: torch.linalg.matrix_norm(x, float("inf")),
                     matrix(min_value=0.5, max_value=1.5).map(lambda a: (a + 2.0 * np.arange(a.shape[0])[:, None],))),
    "norm_fro": Case(lambda x: tg.linalg.norm(x, "fro", axis=(0, 1)), lambda x: torch.linalg.matrix_norm(x, "fro"),
                     matrix(min_value=0.5, max_value=2.0).map(lambda a: (a,))),
    "norm_vector_1": Case(lambda x: tg.linalg.norm(x.ravel(), 1), lambda x: torch.linalg.vector_norm(x, 1),
                          one(avoid=(0.0,))),
    "norm_vector_inf": Case(lambda x: tg.linalg.norm(x.ravel(), np.inf),
                            lambda x: torch.linalg.vector_norm(x, float("inf")),
                            one(min_value=0.5, max_value=1.5).map(
                                lambda t: (t[0] + 2.0 * np.arange(t[0].size).reshape(t[0].shape),))),
    # reductions
    "prod": Case(lambda x: x.prod(), torch.prod, with_zeros(), second=False),
    "prod_axis": Case(lambda x: x.prod(axis=0, keepdims=True), lambda x: torch.prod(x, 0, keepdim=True), with_zeros(),
                      second=False),
    "prod_nonzero": Case(lambda x: x.prod(axis=-1), lambda x: torch.prod(x, -1), one(avoid=(0.0,), margin=0.3)),
    "var": Case(lambda x: x.var(), lambda x: torch.var(x, correction=0), spread_out()),
    "var_ddof1_axis": Case(lambda x: x.var(axis=0, ddof=1), lambda x: torch.var(x, 0, correction=1), spread_out()),
    "std": Case(lambda x: x.std(), lambda x: torch.std(x, correction=0), spread_out()),
    "std_axis": Case(lambda x: x.std(axis=-1, ddof=1, keepdims=True),
                     lambda x: torch.std(x, -1, correction=1, keepdim=True), spread_out()),
    "logsumexp": Case(lambda x: x.logsumexp(), lambda x: torch.logsumexp(x.reshape(-1), 0), one(max_dims=3)),
    "logsumexp_axis": Case(lambda x: x.logsumexp(axis=-1), lambda x: torch.logsumexp(x, -1), one(min_dims=1)),
    "cumsum": Case(lambda x: x.cumsum(axis=0), lambda x: torch.cumsum(x, 0), one(min_dims=1)),
    "cumsum_flat": Case(lambda x: x.cumsum(), lambda x: torch.cumsum(x.reshape(-1), 0), one()),
    "max_axes": Case(lambda x: x.max(axis=(0, -1)), lambda x: torch.amax(x, (0, -1)), spread_out(min_dims=2, min_n=1)),
    "min_axes_keep": Case(lambda x: x.min(axis=(0, 1), keepdims=True), lambda x: torch.amin(x, (0, 1), keepdim=True),
                          spread_out(min_dims=2, min_n=1)),
    # shape and indexing
    "flip": Case(lambda x: x.flip(0) * np.arange(1.0, 1 + x.shape[-1]) if x.ndim else x.flip(),
                 lambda x: torch.flip(x, (0,)) * torch.arange(1.0, 1 + x.shape[-1], dtype=torch.float64) if x.dim()
                 else x, one()),
    "pad": Case(lambda x: tg.pad(x, ((1, 0), (2, 1)), 0.5) ** 2, lambda x: torch_pad(x, ((1, 0), (2, 1)), 0.5) ** 2,
                matrix().map(lambda a: (a,))),
    "tile": Case(lambda x: x.tile((2, 1, 3)) * 1.5, lambda x: torch.tile(x, (2, 1, 3)) * 1.5, one()),
    "repeat": Case(lambda x: x.repeat(3, axis=-1) ** 2, lambda x: torch.repeat_interleave(x, 3, dim=-1) ** 2,
                   one(min_dims=1)),
    "repeat_flat": Case(lambda x: x.repeat(2) ** 2, lambda x: torch.repeat_interleave(x.reshape(-1), 2) ** 2, one()),
    "tril": Case(lambda x: x.tril(-1) ** 2, lambda x: torch.tril(x, -1) ** 2, tri_input()),
    "triu": Case(lambda x: x.triu(1) ** 2, lambda x: torch.triu(x, 1) ** 2, tri_input()),
    "diagonal": Case(lambda x: x.diagonal(1, 0, -1) ** 2, lambda x: torch.diagonal(x, 1, 0, -1) ** 2, tri_input()),
    "trace": Case(lambda x: x.trace() ** 2, lambda x: torch.trace(x) ** 2, matrix().map(lambda a: (a,))),
    "take_along_axis": Case(
        lambda x: tg.take_along_axis(x, classes_for(x.shape[0], x.shape[1]).reshape(-1, 1).repeat(2, 1), 1) ** 2,
        lambda x: torch.take_along_dim(x, torch.from_numpy(classes_for(x.shape[0], x.shape[1]).reshape(-1, 1)
                                                           .repeat(2, 1)), 1) ** 2, matrix().map(lambda a: (a,))),
    "gather": Case(lambda x: x.gather(0, np.zeros((1, x.shape[1]), dtype=np.int64)) ** 2,
                   lambda x: torch.gather(x, 0, torch.zeros((1, x.shape[1]), dtype=torch.int64)) ** 2,
                   matrix().map(lambda a: (a,))),
    # linear algebra
    "outer": Case(tg.outer, torch.outer, st.tuples(arrays(shape=(3,)), arrays(shape=(4,)))),
    "einsum_matmul": Case(lambda a, b: tg.einsum("ij,jk->ik", a, b), lambda a, b: torch.einsum("ij,jk->ik", a, b),
                          st.tuples(arrays(shape=(2, 3)), arrays(shape=(3, 4)))),
    "einsum_batched_ellipsis": Case(lambda a, b: tg.einsum("...ij,jk", a, b), lambda a, b: torch.einsum("...ij,jk", a, b),
                                    st.tuples(arrays(shape=(2, 2, 3)), arrays(shape=(3, 2)))),
    "einsum_one_operand_sum": Case(lambda a: tg.einsum("ijk->ik", a) ** 2, lambda a: torch.einsum("ijk->ik", a) ** 2,
                                   one(shape=(2, 3, 2))),
    "einsum_three": Case(lambda a, b, c: tg.einsum("i,ij,j->", a, b, c), lambda a, b, c: torch.einsum("i,ij,j->", a, b, c),
                         st.tuples(arrays(shape=(3,)), arrays(shape=(3, 2)), arrays(shape=(2,)))),
    "einsum_outer_transpose": Case(lambda a, b: tg.einsum("ij,kl->ljki", a, b),
                                   lambda a, b: torch.einsum("ij,kl->ljki", a, b),
                                   st.tuples(arrays(shape=(2, 3)), arrays(shape=(2, 2)))),
    "tensordot": Case(lambda a, b: tg.tensordot(a, b, axes=([0, 2], [1, 0])),
                      lambda a, b: torch.tensordot(a, b, dims=([0, 2], [1, 0])),
                      st.tuples(arrays(shape=(2, 3, 4)), arrays(shape=(4, 2, 3)))),
    "addmm": Case(tg.addmm, torch.addmm, st.tuples(arrays(shape=(3,)), arrays(shape=(2, 4)), arrays(shape=(4, 3)))),
    "addmm_stack": Case(tg.addmm, lambda c, a, b: c + a @ b,
                        st.tuples(arrays(shape=(2, 3)), arrays(shape=(2, 2, 4)), arrays(shape=(4, 3)))),
    "dot_nd": Case(tg.dot, lambda a, b: torch.tensordot(a, b, dims=([2], [1])),
                   st.tuples(arrays(shape=(2, 2, 3)), arrays(shape=(2, 3, 2)))),
    # losses
    "mse_loss": Case(tg.mse_loss, TF.mse_loss, st.tuples(arrays(shape=(3, 2)), arrays(shape=(3, 2)))),
    "mse_loss_none": Case(lambda a, b: tg.mse_loss(a, b, reduction="none"), lambda a, b: TF.mse_loss(a, b, reduction="none"),
                          st.tuples(arrays(shape=(4,)), arrays(shape=(4,)))),
    "nll_loss": Case(lambda x: tg.nll_loss(x.log_softmax(), classes_for(x.shape[0], 3, 1), weight=W3.numpy()),
                     lambda x: TF.nll_loss(torch.log_softmax(x, -1), torch.from_numpy(classes_for(x.shape[0], 3, 1)),
                                           weight=W3), one(shape=(5, 3))),
    "nll_loss_ignore_sum": Case(
        lambda x: tg.nll_loss(x.log_softmax(), classes_for(x.shape[0], 3, 2, True), reduction="sum"),
        lambda x: TF.nll_loss(torch.log_softmax(x, -1), torch.from_numpy(classes_for(x.shape[0], 3, 2, True)),
                              reduction="sum"), one(shape=(5, 3))),
    "bce": Case(lambda p, y: tg.binary_cross_entropy(p, y, weight=np.array([1.0, 2.0, 0.5])),
                lambda p, y: TF.binary_cross_entropy(p, y, weight=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)),
                st.tuples(arrays(shape=(2, 3), min_value=0.05, max_value=0.95), arrays(shape=(2, 3), min_value=0.0,
                                                                                       max_value=1.0))),
    "bce_with_logits": Case(
        lambda x, y: tg.binary_cross_entropy_with_logits(x, y, pos_weight=np.array([1.0, 3.0, 0.5])),
        lambda x, y: TF.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor([1.0, 3.0, 0.5],
                                                                                         dtype=torch.float64)),
        st.tuples(arrays(shape=(2, 3), min_value=-30.0, max_value=30.0), arrays(shape=(2, 3), min_value=0.0,
                                                                              max_value=1.0))),
    "cross_entropy_options": Case(
        lambda x: tg.cross_entropy(x, classes_for(x.shape[0], 3, 3, True), weight=W3.numpy(), label_smoothing=0.1,
                                   reduction="mean"),
        lambda x: TF.cross_entropy(x, torch.from_numpy(classes_for(x.shape[0], 3, 3, True)), weight=W3,
                                   label_smoothing=0.1, reduction="mean"), one(shape=(6, 3))),
    "cross_entropy_probs_options": Case(
        lambda x, y: tg.cross_entropy(x, y.softmax(), weight=W3.numpy(), label_smoothing=0.2, reduction="mean"),
        lambda x, y: TF.cross_entropy(x, torch.softmax(y, -1), weight=W3, label_smoothing=0.2, reduction="mean"),
        st.tuples(arrays(shape=(4, 3)), arrays(shape=(4, 3)))),
}


def engine_value_and_grads(case: Case, arrs: tuple[np.ndarray, ...], w: np.ndarray | None = None):
    ts = [tg.Tensor(a, requires_grad=True) for a in arrs]
    out = case.engine(*ts)
    w = np.random.default_rng(7).standard_normal(out.shape) if w is None else w
    (out * w).sum().backward()
    return out.data, [t.grad for t in ts], w


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_gradient_matches_central_differences(name, data):
    case = CASES[name]
    arrs = data.draw(case.inputs)
    assert_grad_close(case.engine, list(arrs))


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.second))
@settings(max_examples=8)
@given(data=st.data())
def test_second_derivative(name, data):
    case = CASES[name]
    arrs = data.draw(case.inputs)
    assert tg.gradgradcheck(case.engine, [np.array(a) for a in arrs])


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=15)
@given(data=st.data())
def test_value_and_gradient_match_pytorch(name, data):
    case = CASES[name]
    arrs = data.draw(case.inputs)
    value, grads, w = engine_value_and_grads(case, arrs)
    tt = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrs]
    ref = case.torch(*tt)
    (ref * torch.from_numpy(np.asarray(w))).sum().backward()
    np.testing.assert_allclose(value, ref.detach().numpy(), rtol=RTOL, atol=ATOL)
    for g, t in zip(grads, tt):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_the_pytorch_comparison_catches_a_wrong_rule(monkeypatch):
    """Negative control: a gelu rule with a wrong constant is caught by both oracles."""
    monkeypatch.setattr(tg.gelu, "rules", (lambda F, g, y, x: g * (0.5 * (1.0 + F.tanh(x))),))
    x = np.linspace(-2, 2, 7)
    with pytest.raises(AssertionError):
        value, grads, w = engine_value_and_grads(CASES["gelu"], (x,))
        t = torch.tensor(x, requires_grad=True)
        (TF.gelu(t, approximate="tanh") * torch.from_numpy(w)).sum().backward()
        np.testing.assert_allclose(grads[0], t.grad.numpy(), rtol=RTOL, atol=ATOL)
    with pytest.raises(tg.GradcheckError):
        assert_grad_close(CASES["gelu"].engine, [x])


# ----------------------------------------------------------------------------- conventions
def test_maximum_tie_splits_the_gradient_like_pytorch():
    a, b = tg.Tensor([1.0, 2.0], requires_grad=True), tg.Tensor([1.0, 3.0], requires_grad=True)
    tg.maximum(a, b).sum().backward()
    ta, tb = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 3.0], requires_grad=True)
    torch.maximum(ta, tb).sum().backward()
    assert a.grad.tolist() == ta.grad.tolist() == [0.5, 0.0] and b.grad.tolist() == tb.grad.tolist() == [0.5, 1.0]


def test_max_over_axes_ties_go_to_the_first_where_pytorch_splits():
    x = tg.Tensor(np.ones((2, 2)), requires_grad=True)
    x.max(axis=(0, 1)).backward()
    t = torch.ones((2, 2), dtype=torch.float64, requires_grad=True)
    torch.amax(t, (0, 1)).backward()
    assert x.grad.tolist() == [[1.0, 0.0], [0.0, 0.0]]  # the first maximum, C order
    assert t.grad.tolist() == [[0.25, 0.25], [0.25, 0.25]]  # PyTorch: shared evenly


def test_var_default_is_numpys_ddof_0_pytorchs_is_1():
    x = np.array([1.0, 2.0, 4.0])
    assert tg.var(x).item() == pytest.approx(np.var(x)) and tg.var(x, ddof=1).item() == pytest.approx(np.var(x, ddof=1))
    assert torch.var(torch.tensor(x)).item() == pytest.approx(np.var(x, ddof=1))


def test_prod_gradient_is_exact_at_zeros():
    x = tg.Tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]], requires_grad=True)
    x.prod(axis=1).sum().backward()
    assert x.grad.tolist() == [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]]


def test_prod_second_derivative_at_a_zero_is_a_clear_error():
    x = tg.Tensor([2.0, 0.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="prod: the second derivative where an element is exactly 0"):
        x.prod().backward(create_graph=True)
    x.grad = None
    x.prod().backward()  # first order is exact there
    assert x.grad.tolist() == [0.0, 6.0, 0.0]


def test_softplus_has_no_threshold_pytorch_does():
    x = np.array([30.0])
    assert tg.softplus(x).item() == np.logaddexp(0.0, 30.0) != 30.0
    assert TF.softplus(torch.tensor(x)).item() == 30.0  # PyTorch's threshold=20: the identity


def test_logsigmoid_and_bce_with_logits_are_stable_far_out():
    assert tg.logsigmoid(np.array(-800.0)).item() == -800.0
    x = tg.Tensor([-800.0, 800.0], requires_grad=True)
    loss = tg.binary_cross_entropy_with_logits(x, np.array([1.0, 0.0]), reduction="sum")
    loss.backward()
    assert loss.item() == 1600.0 and x.grad.tolist() == [-1.0, 1.0]


def test_sign_and_clip_conventions_at_the_edges():
    x = tg.Tensor([-1.0, 0.0, 1.0, 2.0], requires_grad=True)
    (x.clip(-1.0, 1.0) + x.sign()).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0]  # clip passes g at the bounds (inclusive); sign gives 0


def test_split_is_numpys_chunk_is_pytorchs():
    x = tg.Tensor(np.arange(7.0), requires_grad=True)
    assert [p.shape for p in x.chunk(3)] == [t.shape for t in torch.arange(7.0).chunk(3)] == [(3,), (3,), (1,)]
    assert [p.shape for p in x.split([2, 5])] == [(2,), (3,), (2,)]
    with pytest.raises(ValueError, match="does not divide into 3 equal parts"):
        x.split(3)
    sum(((k + 1) * p).sum() for k, p in enumerate(x.chunk(3))).backward()
    assert x.grad.tolist() == [1, 1, 1, 2, 2, 2, 3]


def test_cross_entropy_all_ignored_is_nan_like_pytorch():
    x = tg.Tensor(np.zeros((2, 3)), requires_grad=True)
    loss = tg.cross_entropy(x, np.array([-100, -100]), reduction="mean")
    assert np.isnan(loss.item())
    assert np.isnan(TF.cross_entropy(torch.zeros((2, 3)), torch.tensor([-100, -100])).item())


def test_bad_arguments_are_one_line_errors():
    x = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    cases = [
        (lambda: tg.clip(x), ValueError, "clip: give lo, hi or both"),
        (lambda: tg.addmm(np.ones((2, 3)), np.ones((2, 4)), np.ones((4, 1))), ValueError,
         r"addmm: c of shape \(2, 3\) must broadcast to the shape of a @ b, \(2, 1\)"),
        (lambda: tg.einsum("ii->i", np.ones((2, 3))), ValueError, r"subscript 'i' is repeated in 'ii' over axes of different sizes"),
        (lambda: tg.einsum("ij,jk->ik", x, np.ones((2, 2))), ValueError, "einsum"),
        (lambda: tg.one_hot(np.array([0, 3]), 3), ValueError, r"one_hot: index out of range \[0, 3\)"),
        (lambda: tg.binary_cross_entropy(np.array([0.0, 0.5]), np.array([0.0, 1.0])), ValueError, "strictly between"),
        (lambda: tg.cross_entropy(x, np.array([0, 5])), ValueError, r"class index out of range \[0, 3\)"),
        (lambda: tg.cross_entropy(x, np.array([0, 1]), weight=np.ones(2)), ValueError, "one entry per class"),
        (lambda: tg.take_along_axis(x, np.array([[0.5]]), 1), ValueError, "take_along_axis: indices must be integers"),
        (lambda: tg.gather(x, 1, np.array([[3]])), IndexError, r"gather: indices must be integers in \[0, 3\)"),
        (lambda: tg.repeat(x, 1.5), TypeError, "repeat: repeats must be a non-negative int"),
        (lambda: tg.pad(x, -1), ValueError, "pad: widths must be non-negative"),
        (lambda: tg.tril(np.ones(3)), ValueError, "tril: needs at least 2 axes"),
        (lambda: tg.randn(2, rng="seed"), TypeError, "randn: rng must be"),
    ]
    for call, kind, pattern in cases:
        with pytest.raises(kind, match=pattern) as info:
            call()
        assert "\n" not in str(info.value)


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


# ----------------------------------------------------------------------------- creation
def test_creation_functions():
    assert tg.full((2, 3), 1.5).data.tolist() == [[1.5] * 3] * 2
    assert tg.eye(3).data.tolist() == np.eye(3).tolist()
    assert tg.arange(5).data.dtype.kind == "i" and tg.arange(0, 1, 0.25, requires_grad=True).data.tolist() == [0, 0.25, 0.5, 0.75]
    assert tg.linspace(0, 1, 5).data.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    counted = tg.arange(3, requires_grad=True)  # integers become floats when a gradient is asked for
    assert counted.requires_grad and counted.dtype == np.float64 and counted.data.tolist() == [0.0, 1.0, 2.0]
    x = tg.Tensor(np.arange(6.0).reshape(2, 3))
    assert tg.zeros_like(x).shape == tg.ones_like(x).shape == tg.full_like(x, 2.0).shape == (2, 3)
    assert tg.zeros(2, 3).shape == tg.zeros((2, 3)).shape == tg.ones((2, 3)).shape == (2, 3)
    a = tg.randn(3, 4, rng=np.random.default_rng(5))
    b = tg.randn((3, 4), rng=np.random.default_rng(5))
    assert np.array_equal(a.data, b.data) and np.array_equal(a.data, np.random.default_rng(5).standard_normal((3, 4)))
    assert np.array_equal(tg.rand(4, rng=3).data, np.random.default_rng(3).random(4))
    p = tg.randn(2, rng=0, requires_grad=True)
    assert p.requires_grad and p.is_leaf
    assert tg.one_hot(np.array([2, 0]), 3).data.tolist() == [[0, 0, 1], [1, 0, 0]]
    assert tg.argmax(np.array([[1, 3], [4, 2]]), axis=1).data.tolist() == [1, 0]
    assert tg.any(np.array([0, 1])).item() and not tg.all(np.array([0, 1])).item()
    assert tg.isnan(np.array([np.nan, 1.0])).data.tolist() == [True, False]
    assert tg.isfinite(np.array([np.inf, 1.0])).data.tolist() == [False, True]


def test_shape_helpers_record_reshape_and_transpose():
    x = tg.Tensor(np.arange(24.0).reshape(2, 1, 3, 4), requires_grad=True)
    assert x.squeeze().shape == (2, 3, 4) and x.squeeze(1).op == "reshape"
    assert x.unsqueeze(0).shape == (1, 2, 1, 3, 4) and tg.expand_dims(x, -1).shape == (2, 1, 3, 4, 1)
    assert x.flatten().shape == (24,) and x.flatten(1, 2).shape == (2, 3, 4)
    assert x.swapaxes(0, 3).shape == (4, 1, 3, 2) and x.moveaxis(0, -1).shape == (1, 3, 4, 2)
    assert x.moveaxis(0, -1).op == "transpose"
    with pytest.raises(ValueError, match="squeeze: axis 2 has size 3"):
        x.squeeze(2)
    assert_grad_close(lambda t: (t.moveaxis(0, -1).flatten(1) * np.arange(24.0)).sum() + t.squeeze().swapaxes(1, 2).sum(),
                      [x.data])


# ----------------------------------------------------------------------------- documentation
def test_every_public_tensor_method_has_a_docstring():
    missing = [name for name, member in inspect.getmembers(tg.Tensor)
               if not name.startswith("_") and (callable(member) or isinstance(member, property))
               and not (getattr(member, "__doc__", None) or "").strip()]
    assert missing == []


def test_help_on_tensor_shows_no_bare_comments():
    """pydoc falls back to the comment above a method that has no docstring (it used to print
    `# ---- methods`): every method defined on Tensor, operators included, has its own."""
    import pydoc

    undocumented = [n for n, v in vars(tg.Tensor).items() if callable(v) and not (v.__doc__ or "").strip()]
    assert undocumented == []
    assert "# ---" not in pydoc.render_doc(tg.Tensor, renderer=pydoc.plaintext)


def test_every_exported_function_has_a_docstring_with_its_derivative_where_it_has_one():
    for name in tg.__all__:
        obj = getattr(tg, name)
        assert (getattr(obj, "__doc__", None) or "").strip(), name
    for name in ("square", "log1p", "expm1", "sin", "cos", "softplus", "logsigmoid", "leaky_relu", "elu", "gelu",
                 "silu", "maximum", "minimum", "clip", "logaddexp", "prod", "var", "std", "logsumexp", "cumsum",
                 "outer", "mse_loss", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"):
        assert "∂/∂" in getattr(tg, name).__doc__, name
