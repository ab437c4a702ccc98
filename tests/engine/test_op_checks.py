"""Every op the engine records, checked three ways from one table (``op_table.CASES``):

1. its gradient against float64 central differences (hypothesis inputs kept away from kinks);
2. its second derivative (``gradgradcheck``: Hessian-vector products against differences of the
   recorded backward pass);
3. its value and gradient against PyTorch float64 (rtol 1e-10), an implementation we did not write.

The fourth per-op check, saved-data mutation, reads ``op_table.SAVED`` (``test_saved_data.py``).  The
coverage tests below fail if an op of ``ops.REGISTRY`` lacks any of the four, or if a case does
not record the op the table says it checks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import find, given, settings
from hypothesis import strategies as st
from op_table import CASES, SAVED, Case, op_of

import tinygrad_rnn as tg
from tinygrad_rnn import ops
from tinygrad_rnn.testing import assert_grad_close

RTOL, ATOL = 1e-10, 1e-12


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



# ----------------------------------------------------------------------------- coverage of the one table
def test_every_recorded_op_has_all_four_checks():
    checked = {op_of(n) for n in CASES}
    second = {op_of(n) for n, c in CASES.items() if c.second}
    vs_torch = {op_of(n) for n, c in CASES.items() if c.torch is not None}
    registry = set(ops.REGISTRY)
    assert len(registry) > 80
    assert registry - checked == set() and registry - second == set() and registry - vs_torch == set()
    assert registry - set(SAVED) == set() and set(SAVED) - registry == set()
    assert set(ops.CORE) <= registry and all(op.rules is not None for op in ops.REGISTRY.values())


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_records_the_op_it_is_said_to_check(name):
    case = CASES[name]
    arrs = find(case.inputs, lambda _: True)  # the simplest input (deterministic)
    out = case.engine(*[tg.Tensor(a, requires_grad=True) for a in arrs])
    assert op_of(name) in {t.record.name for t in out.history()}
