"""One table of the op set's checks (issue 24): for every op the engine records (``ops.REGISTRY``),
the inputs its per-op checks use, in one place.

- ``CASES``: name → :class:`Case` (the function on Tensors, the same in PyTorch, a strategy for its
  inputs, whether a second derivative is checked).  ``tests/engine/test_op_checks.py`` runs every
  case three ways: central differences, ``gradgradcheck``, PyTorch float64.  A case checks the op
  in ``Case.op`` (default: its own name up to the first variant suffix, see :func:`op_of`).
- ``SAVED``: op name → the op applied straight to two fixed leaves ``a``, ``b`` (3×4, values in
  0.5…2): the saved-data mutation check (``tests/engine/test_saved_data.py``) writes into each input and
  the output after the forward.  Those inputs are fixed, not drawn, because the check needs the
  op under test to be the one that touches the leaves.

Coverage is tested: every recorded op has a case for each of the four checks, or a stated reason.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as TF
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tg
from tinygrad_rnn import ops
from tinygrad_rnn.testing import arrays, broadcastable_arrays, elements

class Case(NamedTuple):
    engine: Callable[..., Any]  # on Tensors
    torch: Callable[..., Any]  # on torch float64 tensors
    inputs: Any  # strategy of a tuple of float arrays (the differentiated inputs)
    second: bool = True  # has a second derivative worth checking
    op: str | None = None  # the recorded op this case checks (None: op_of(name))


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
    "prod": Case(lambda x: x.prod(), torch.prod, with_zeros()),
    "prod_axis": Case(lambda x: x.prod(axis=0, keepdims=True), lambda x: torch.prod(x, 0, keepdim=True), with_zeros()),
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




# ----------------------------------------------------------------------------- the core ops (ops.CORE)
# inputs kept away from kinks and poles; each function ends in a non-linear use of the op's output,
# so that second derivatives through the rule are exercised
POS = dict(min_value=0.3, max_value=2.0)
ANY = dict(min_value=-2.0, max_value=2.0)


@st.composite
def same_shape(draw: Any, n: int, **kw: Any) -> tuple[np.ndarray, ...]:
    shape = draw(st.sampled_from([(3,), (2, 3)]))
    return tuple(draw(arrays(shape, **kw)) for _ in range(n))


def _alternate(a: Any) -> np.ndarray:
    return np.arange(int(np.prod(a.shape))).reshape(tuple(a.shape)) % 2 == 0


def _weights(n: int, like: Any = None) -> Any:
    w = np.arange(1.0, 1.0 + n)
    return torch.from_numpy(w) if like is not None else w


def _scatter_tg(a: Any) -> Any:
    if a.ndim > 1:
        return ops.scatter(a, index=(np.array([0, 0]),), shape=(2,) + a.shape[1:], advanced=True)
    return ops.scatter(a, index=(np.array([1, 1, 0]),), shape=(2,), advanced=True)


def _scatter_torch(a: Any) -> Any:
    if a.dim() > 1:
        return torch.zeros((2,) + tuple(a.shape[1:]), dtype=a.dtype).index_add(0, torch.tensor([0, 0]), a)
    return torch.zeros(2, dtype=a.dtype).index_add(0, torch.tensor([1, 1, 0]), a)


def _ce_targets(a: Any) -> Any:
    return np.zeros(tuple(a.shape[:-1]), dtype=np.int64)


CASES.update({
    "add": Case(lambda a, b: ((a + b) ** 2).sum(), lambda a, b: ((a + b) ** 2).sum(), same_shape(2, **ANY)),
    "sub": Case(lambda a, b: ((a - b) ** 3).sum(), lambda a, b: ((a - b) ** 3).sum(), same_shape(2, **ANY)),
    "mul": Case(lambda a, b: (a * b * a).sum(), lambda a, b: (a * b * a).sum(), same_shape(2, **ANY)),
    "div": Case(lambda a, b: (a / b).sum(), lambda a, b: (a / b).sum(), same_shape(2, **POS)),
    "pow": Case(lambda a, b: (a ** b).sum(), lambda a, b: (a ** b).sum(), same_shape(2, **POS)),
    "neg": Case(lambda a: ((-a) ** 3).sum(), lambda a: ((-a) ** 3).sum(), same_shape(1, **ANY)),
    "tanh": Case(lambda a: a.tanh().sum(), lambda a: a.tanh().sum(), same_shape(1, **ANY)),
    "exp": Case(lambda a: (a.exp() * a).sum(), lambda a: (a.exp() * a).sum(), same_shape(1, **ANY)),
    "log": Case(lambda a: (a.log() * a).sum(), lambda a: (a.log() * a).sum(), same_shape(1, **POS)),
    "sigmoid": Case(lambda a: a.sigmoid().sum(), lambda a: a.sigmoid().sum(), same_shape(1, **ANY)),
    "relu": Case(lambda a: (a.relu() ** 2).sum(), lambda a: (a.relu() ** 2).sum(), same_shape(1, **ANY, avoid=(0.0,))),
    "sqrt": Case(lambda a: a.sqrt().sum(), lambda a: a.sqrt().sum(), same_shape(1, **POS)),
    "abs": Case(lambda a: (a.abs() ** 3).sum(), lambda a: (a.abs() ** 3).sum(), same_shape(1, **ANY, avoid=(0.0,))),
    "where": Case(lambda a, b: (tg.where(_alternate(a), a, b) ** 3).sum(),
                  lambda a, b: (torch.where(torch.from_numpy(_alternate(a)), a, b) ** 3).sum(), same_shape(2, **ANY)),
    "sum": Case(lambda a: (a.sum(axis=0) ** 3).sum(), lambda a: (a.sum(0) ** 3).sum(), same_shape(1, **ANY)),
    "mean": Case(lambda a: (a.mean(axis=-1) ** 3).sum(), lambda a: (a.mean(-1) ** 3).sum(), same_shape(1, **ANY)),
    "max": Case(lambda a: a.max(axis=-1).tanh().sum() + a.max() ** 2,
                lambda a: a.amax(-1).tanh().sum() + a.max() ** 2, same_shape(1, **ANY, distinct=True)),
    "min": Case(lambda a: a.min(axis=0).tanh().sum() + a.min() ** 2,
                lambda a: a.amin(0).tanh().sum() + a.min() ** 2, same_shape(1, **ANY, distinct=True)),
    "softmax": Case(lambda a: (a.softmax(axis=-1) * _weights(a.shape[-1])).sum() ** 2,
                    lambda a: (a.softmax(-1) * _weights(a.shape[-1], a)).sum() ** 2, same_shape(1, **ANY)),
    "log_softmax": Case(lambda a: (a.log_softmax(axis=-1) * _weights(a.shape[-1])).sum(),
                        lambda a: (a.log_softmax(-1) * _weights(a.shape[-1], a)).sum(), same_shape(1, **ANY)),
    "cross_entropy": Case(lambda a, b: tg.cross_entropy(a * b, _ce_targets(a)) + tg.cross_entropy(a, b.softmax(axis=-1)),
                          lambda a, b: (TF.cross_entropy((a * b).reshape(-1, a.shape[-1]),  # (ours sums by default)
                                                         torch.from_numpy(_ce_targets(a)).reshape(-1), reduction="sum")
                                        + TF.cross_entropy(a.reshape(-1, a.shape[-1]),
                                                           b.softmax(-1).reshape(-1, a.shape[-1]), reduction="sum")),
                          same_shape(2, **ANY)),
    "matmul": Case(lambda a, b: (a @ b.T).tanh().sum(), lambda a, b: (a @ b.permute(*reversed(range(b.dim())))).tanh().sum(),
                   same_shape(2, **ANY)),
    "dot": Case(lambda a, b: tg.dot(a.reshape(-1), b.reshape(-1)) ** 2,
                lambda a, b: torch.dot(a.reshape(-1), b.reshape(-1)) ** 2, same_shape(2, **ANY)),
    "addmm_core": Case(lambda a, b: tg.addmm(b, a, np.full((a.shape[-1], a.shape[-1]), 0.3)).tanh().sum(),
                       lambda a, b: (b + a @ torch.full((a.shape[-1], a.shape[-1]), 0.3, dtype=a.dtype)).tanh().sum(),
                       same_shape(2, **ANY), op="addmm"),
    "reshape": Case(lambda a: (a.reshape(-1) ** 3).sum(), lambda a: (a.reshape(-1) ** 3).sum(), same_shape(1, **ANY)),
    "transpose": Case(lambda a: (a.T.tanh() * np.arange(a.size).reshape(a.T.shape)).sum(),
                      lambda a: (a.permute(*reversed(range(a.dim()))).tanh()
                                 * torch.arange(a.numel(), dtype=a.dtype).reshape(tuple(reversed(a.shape)))).sum(),
                      same_shape(1, **ANY)),
    "broadcast_to": Case(lambda a: a.broadcast_to(2, *a.shape).tanh().sum(),
                         lambda a: a.broadcast_to((2,) + tuple(a.shape)).tanh().sum(), same_shape(1, **ANY)),
    "getitem": Case(lambda a: (a[..., [0, 0, -1]] ** 3).sum(), lambda a: (a[..., [0, 0, -1]] ** 3).sum(),
                    same_shape(1, **ANY)),
    "scatter": Case(lambda a: _scatter_tg(a).tanh().sum(), lambda a: _scatter_torch(a).tanh().sum(), same_shape(1, **ANY)),
    "stack": Case(lambda a, b: (tg.stack([a, b * a]) ** 2).sum(), lambda a, b: (torch.stack([a, b * a]) ** 2).sum(),
                  same_shape(2, **ANY)),
    "concatenate": Case(lambda a, b: (tg.concatenate([a, a * b], axis=-1) ** 3).sum(),
                        lambda a, b: (torch.cat([a, a * b], -1) ** 3).sum(), same_shape(2, **ANY)),
})


# ----------------------------------------------------------------------------- saved-data mutation
_rng = np.random.default_rng(7)
_A = _rng.uniform(0.5, 2.0, (3, 4))
_B = _rng.uniform(0.5, 2.0, (3, 4))
SAVED: dict[str, Callable[[Any, Any], Any]] = {  # the op applied straight to the leaves a and b
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b, "neg": lambda a, b: -a, "tanh": lambda a, b: a.tanh(),
    "exp": lambda a, b: a.exp(), "log": lambda a, b: a.log(), "sigmoid": lambda a, b: a.sigmoid(),
    "relu": lambda a, b: a.relu(), "sqrt": lambda a, b: a.sqrt(), "abs": lambda a, b: a.abs(),
    "where": lambda a, b: tg.where(a.data > 1.0, a, b), "sum": lambda a, b: a.sum(0),
    "mean": lambda a, b: a.mean(1), "max": lambda a, b: a.max(1), "min": lambda a, b: a.min(),
    "softmax": lambda a, b: a.softmax(-1), "log_softmax": lambda a, b: a.log_softmax(0),
    "cross_entropy": lambda a, b: tg.cross_entropy(a, b), "matmul": lambda a, b: a @ b.T,
    "dot": lambda a, b: tg.dot(a, b.T), "reshape": lambda a, b: a.reshape(4, 3), "transpose": lambda a, b: a.T,
    "broadcast_to": lambda a, b: tg.broadcast_to(a, (2, 3, 4)), "getitem": lambda a, b: a[[0, 0, 2], 1:],
    "stack": lambda a, b: tg.stack([a, b]), "concatenate": lambda a, b: tg.concatenate([a, b], 1),
    "scatter": lambda a, b: ops.scatter(a, index=(np.array([0, 0, 2]),), shape=(4, 4), advanced=True),
    "addmm": lambda a, b: tg.addmm(b, a, np.eye(4) * 0.5),
    # the rest of the op set
    "square": lambda a, b: a.square(), "sign": lambda a, b: a.sign(), "log1p": lambda a, b: a.log1p(),
    "expm1": lambda a, b: a.expm1(), "sin": lambda a, b: a.sin(), "cos": lambda a, b: a.cos(),
    "softplus": lambda a, b: a.softplus(), "logsigmoid": lambda a, b: a.logsigmoid(),
    "leaky_relu": lambda a, b: a.leaky_relu(), "elu": lambda a, b: a.elu(), "gelu": lambda a, b: a.gelu(),
    "silu": lambda a, b: a.silu(), "maximum": lambda a, b: tg.maximum(a, b), "minimum": lambda a, b: tg.minimum(a, b),
    "clip": lambda a, b: a.clip(0.8, 1.5), "logaddexp": lambda a, b: tg.logaddexp(a, b),
    "prod": lambda a, b: a.prod(1), "var": lambda a, b: a.var(0), "std": lambda a, b: a.std(1),
    "logsumexp": lambda a, b: a.logsumexp(1), "cumsum": lambda a, b: a.cumsum(1), "flip": lambda a, b: a.flip(0),
    "pad": lambda a, b: tg.pad(a, 1, 2.0), "tile": lambda a, b: a.tile((2, 1)), "repeat": lambda a, b: a.repeat(2, 0),
    "tril": lambda a, b: a.tril(), "triu": lambda a, b: a.triu(1), "take_along_axis": lambda a, b: tg.take_along_axis(a, np.array([[0, 3, 3]]).T, 1),
    "diagonal": lambda a, b: a.diagonal(), "outer": lambda a, b: tg.outer(a, b),
    "einsum": lambda a, b: tg.einsum("ij,ij->i", a, b), "mse_loss": lambda a, b: tg.mse_loss(a, b),
    "nll_loss": lambda a, b: tg.nll_loss(a, np.array([0, 1, 3])),
    "binary_cross_entropy": lambda a, b: tg.binary_cross_entropy(a / 2.5, b / 2.5),
    "binary_cross_entropy_with_logits": lambda a, b: tg.binary_cross_entropy_with_logits(a, b / 2.5),
    "tan": lambda a, b: (a / 2.5).tan(), "arcsin": lambda a, b: (a / 2.5).arcsin(),
    "arccos": lambda a, b: (a / 2.5).arccos(), "arctan": lambda a, b: a.arctan(),
    "arctan2": lambda a, b: tg.arctan2(a, b), "sinh": lambda a, b: a.sinh(), "cosh": lambda a, b: a.cosh(),
    "arcsinh": lambda a, b: a.arcsinh(), "arccosh": lambda a, b: (a + 1.0).arccosh(),
    "arctanh": lambda a, b: (a / 2.5).arctanh(), "exp2": lambda a, b: a.exp2(), "log2": lambda a, b: a.log2(),
    "log10": lambda a, b: a.log10(), "cbrt": lambda a, b: a.cbrt(), "reciprocal": lambda a, b: a.reciprocal(),
    "logaddexp2": lambda a, b: tg.logaddexp2(a, b), "cumprod": lambda a, b: a.cumprod(1),
    "roll": lambda a, b: a.roll(1, 0), "astype": lambda a, b: a.astype(np.float32),
    "norm2": lambda a, b: tg.linalg.norm(a, axis=1),
}


# ----------------------------------------------------------------------------- which op a case checks
VARIANT_OPS = {"bce": "binary_cross_entropy", "bce_with_logits": "binary_cross_entropy_with_logits",
               "softplus_beta": "softplus", "clip_lo": "clip", "dot_nd": "einsum", "tensordot": "einsum", "gather": "take_along_axis",
               "trace": "diagonal", "norm": "norm2", "norm_vector_axis": "norm2", "norm_fro": "norm2",
               "norm_1": "abs", "norm_inf": "abs", "norm_vector_1": "abs", "norm_vector_inf": "abs",
               "cumsum_flat": "cumsum", "roll_flat": "roll", "repeat_flat": "repeat", "atleast_3d": "reshape",
               "cross_entropy_options": "cross_entropy", "cross_entropy_probs_options": "cross_entropy"}


def op_of(name: str) -> str:
    """The recorded op case ``name`` checks: ``Case.op``, a listed variant, else the longest
    registered op name the case's name starts with (``einsum_three`` checks ``einsum``)."""
    case = CASES[name]
    if case.op is not None:
        return case.op
    if name in VARIANT_OPS:
        return VARIANT_OPS[name]
    if name in ops.REGISTRY:
        return name
    prefixes = [op for op in ops.REGISTRY if name.startswith(op + "_")]
    if not prefixes:
        raise KeyError(f"case {name!r}: which op does it check? give Case(op=...)")
    return max(prefixes, key=len)
