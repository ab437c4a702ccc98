"""The op set's conventions, where numpy and PyTorch differ or an edge needs a rule (ties, ddof, prod
at zeros, thresholds, ignored classes, ...), each against PyTorch or numpy; numpy interoperation;
the creation functions; and ``help()``: every public function documented.  (Each op's gradient,
second derivative and PyTorch comparison: ``test_op_checks.py``, from ``op_table.py``.)
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tinygrad_rnn as tg
from tinygrad_rnn.testing import assert_grad_close

RTOL, ATOL = 1e-10, 1e-12


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


def test_prod_second_derivative_at_a_zero_is_exact():
    x = np.array([2.0, 0.0, 3.0])
    H = tg.hessian(lambda t: t.prod())(tg.Tensor(x, requires_grad=True)).data
    # by hand: ∂²/∂x_i∂x_j Π x = Π_{k ≠ i, j} x_k (i ≠ j), 0 on the diagonal
    np.testing.assert_array_equal(H, [[0.0, 3.0, 0.0], [3.0, 0.0, 2.0], [0.0, 2.0, 0.0]])
    t = tg.Tensor(x, requires_grad=True)
    t.prod().backward()
    assert t.grad.tolist() == [0.0, 6.0, 0.0]


def test_prod_gradient_does_not_divide_so_an_underflowing_product_is_right():
    """out / x_i was the rule: with a subnormal element the product rounds, and the quotient
    gave 2·g instead of 1.5·g (found by the op table's PyTorch check)."""
    x = np.array([1.5, 5e-324])
    t = tg.Tensor(x, requires_grad=True)
    t.prod().backward()
    assert t.grad.tolist() == [5e-324, 1.5]  # Π_{j≠i} x_j, by hand
    t = tg.Tensor(np.array([1e-200, 1e-200, 3.0]), requires_grad=True)  # the product underflows to 0
    t.prod().backward()
    np.testing.assert_allclose(t.grad, [3e-200, 3e-200, 0.0], rtol=1e-15, atol=0)


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
