"""Optimizers against hand computations, and clipping."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg


def param(values, grad):
    p = tg.Tensor(np.array(values, dtype=float), requires_grad=True)
    p.grad = np.array(grad, dtype=float)
    return p


def test_sgd_plain():
    p = param([1.0, -2.0], [0.5, 1.0])
    tg.optim.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [1.0 - 0.05, -2.0 - 0.1], rtol=1e-15)


def test_sgd_momentum_two_steps_by_hand():
    p = param([1.0], [2.0])
    opt = tg.optim.SGD([p], lr=0.1, momentum=0.9)
    opt.step()  # v = 2, p = 1 - 0.2 = 0.8
    p.grad = np.array([1.0])
    opt.step()  # v = 0.9*2 + 1 = 2.8, p = 0.8 - 0.28 = 0.52
    np.testing.assert_allclose(p.data, [0.52], rtol=1e-15)
    np.testing.assert_allclose(opt.velocity[0], [2.8], rtol=1e-15)


def test_adam_two_steps_by_hand():
    p = param([1.0], [0.5])
    opt = tg.optim.Adam([p], lr=0.1, betas=(0.9, 0.99), eps=1e-8)
    opt.step()
    # m = 0.05, s = 0.0025; m̂ = 0.5, ŝ = 0.25; step = 0.1 * 0.5 / (0.5 + 1e-8)
    expected = 1.0 - 0.1 * 0.5 / (0.5 + 1e-8)
    np.testing.assert_allclose(p.data, [expected], rtol=1e-15)
    p.grad = np.array([-1.0])
    opt.step()
    m = 0.9 * 0.05 + 0.1 * -1.0
    s = 0.99 * 0.0025 + 0.01 * 1.0
    expected -= 0.1 * (m / (1 - 0.9**2)) / (np.sqrt(s / (1 - 0.99**2)) + 1e-8)
    np.testing.assert_allclose(p.data, [expected], rtol=1e-14)


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    a, b = param([1.0], [1.0]), tg.Tensor([5.0], requires_grad=True)
    opt = tg.optim.Adam({"a": a, "b": b}, lr=0.1)
    opt.step()
    assert b.data.tolist() == [5.0] and a.data[0] < 1.0
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_optimizer_state_round_trip_gives_identical_steps():
    def run(split):
        p = param([1.0, 2.0], [0.0, 0.0])
        opt = tg.optim.Adam([p], lr=0.05)
        for k in range(6):
            if k == split:
                state = {k2: np.array(v) for k2, v in opt.state_dict().items()}
                data = p.data.copy()
                p = param(data, [0.0, 0.0])
                opt = tg.optim.Adam([p], lr=0.05)
                opt.load_state_dict(state)
            p.grad = np.array([np.sin(k), np.cos(k)])
            opt.step()
        return p.data

    np.testing.assert_array_equal(run(split=3), run(split=-1))


def test_clip_grad_norm():
    a, b = param([0.0], [3.0]), param([0.0, 0.0], [0.0, 4.0])
    total = tg.optim.clip_grad_norm([a, b], max_norm=1.0)
    assert total == 5.0
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]), [0.6, 0.0, 0.8], rtol=1e-15)
    assert tg.optim.clip_grad_norm([a, b], max_norm=10.0) == pytest.approx(1.0, rel=1e-15)
    np.testing.assert_allclose(a.grad, [0.6], rtol=1e-15)  # below the limit: untouched


def test_sgd_trains_a_tiny_regression():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    w = tg.Tensor(np.zeros(3), requires_grad=True)
    opt = tg.optim.SGD([w], lr=0.1, momentum=0.5)
    for _ in range(200):
        opt.zero_grad()
        ((x @ w - y) ** 2).mean().backward()
        opt.step()
    np.testing.assert_allclose(w.data, [1.0, -2.0, 0.5], atol=1e-6)


def test_bad_optimizer_arguments():
    p = tg.Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="lr must be a positive"):
        tg.optim.SGD([p], lr=0.0)
    with pytest.raises(ValueError, match="momentum"):
        tg.optim.SGD([p], lr=0.1, momentum=1.5)
    with pytest.raises(TypeError, match="requires_grad=True"):
        tg.optim.SGD([tg.Tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        tg.optim.Adam([], lr=0.1)
    with pytest.raises(ValueError, match="max_norm"):
        tg.optim.clip_grad_norm([p], 0.0)
