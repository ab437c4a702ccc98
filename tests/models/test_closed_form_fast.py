"""The speed floor (benchmarks/floor.py's bptt_fast) is the same gradient: against the readable closed form,
the literal nested sums (a second oracle), the engine in both modes and PyTorch, to 1e-12."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_rnn.models import closed_form as cf

from benchmarks import floor
from tinygrad_rnn.models.attention_rnn import AttentionRNN
from benchmarks.train_step import make_case, torch_impls


def rel(a: dict, b: dict) -> float:
    return max(float(np.abs(a[k] - b[k]).max() / max(np.abs(b[k]).max(), 1e-300)) for k in b)


@settings(max_examples=25)
@given(B=st.integers(1, 3), T=st.integers(1, 7), D=st.integers(1, 4), H=st.integers(1, 5), K=st.integers(2, 4),
       seed=st.integers(0, 10_000))
def test_floor_equals_bptt_and_the_engine(B, T, D, H, K, seed):
    params, xs, ys = make_case(B, T, D, H, K, seed)
    fast = floor.bptt_fast(params, xs, ys)
    assert rel(fast, cf.bptt(params, xs, ys)) < 1e-12
    model = AttentionRNN.from_params(params)
    for mode in ("fused", "unrolled"):
        for p in model.params().values():
            p.grad = None
        model.loss(xs, ys, mode=mode).backward()
        assert rel(fast, {k: p.grad for k, p in model.params().items()}) < 1e-12


def test_floor_equals_the_nested_sums_and_pytorch():
    params, xs, ys = make_case(2, 5, 3, 4, 3, seed=3)
    fast = floor.bptt_fast(params, xs, ys)
    assert rel(fast, cf.nested_sums(params, xs, ys)) < 1e-12
    assert rel(fast, torch_impls(params)["torch fused"](xs, ys)) < 1e-12
    assert rel({k: v * (1 + 1e-9) for k, v in fast.items()}, cf.bptt(params, xs, ys)) > 1e-10  # the check can fail


def test_reused_buffers_carry_nothing_between_calls():
    a = make_case(2, 6, 3, 4, 3, seed=1)
    b = make_case(2, 6, 3, 4, 3, seed=2)
    first = floor.bptt_fast(*a)
    floor.bptt_fast(*b)
    floor.bptt_fast(*make_case(1, 4, 3, 4, 3, seed=5))  # another shape in between
    again = floor.bptt_fast(*a)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert all(first[k] is not again[k] for k in first)  # the caller owns the returned arrays


def test_floor_refuses_what_it_does_not_handle():
    params, xs, ys = make_case(1, 4, 3, 4, 3)
    with pytest.raises(ValueError, match="integer class targets"):
        floor.bptt_fast(params, xs, np.eye(3)[ys])
    with pytest.raises(ValueError, match=r"xs \(B, T, D\)"):
        floor.bptt_fast(params, xs[0], ys[0])


def test_flop_count_matches_the_matmuls_it_names():
    B, T, D, H, K = 2, 3, 4, 5, 6
    matmuls = [(T * B, D, H), (B * T, H, H), (B * T, T, H), (B * T, T, H), (B * T, H, K),  # forward
               (K, B * T, H), (B * T, K, H), (B * T, H, T), (B * T, T, H), (B * T, T, H), (B * T, T, H),
               (B * T, H, H), (H, T * B, H), (H, T * B, D)]  # backward
    assert floor.bptt_flops(B, T, D, H, K) == sum(2 * m * n * k for m, n, k in matmuls)
