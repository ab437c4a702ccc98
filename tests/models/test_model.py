"""The attention RNN: both engine modes, bptt, nested sums and finite differences agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.models import closed_form as cf
from tinygrad_rnn.models import attention_rnn
from tinygrad_rnn.models.attention_rnn import AttentionRNN
from model_cases import assert_grads_close, engine_grads, make_case
from model_cases import model_configs

CONFIGS = model_configs(max_steps=10, max_hidden=6, max_input=4, max_classes=5, max_batch=3, scales=(0.3, 1.5))


@settings(max_examples=150)
@given(cfg=CONFIGS, onehot=st.booleans(), attend_h0=st.booleans(), batched=st.booleans())
def test_engine_modes_and_closed_forms_agree(cfg, onehot, attend_h0, batched):
    params, xs, ys = make_case(cfg, onehot, batched)
    loss_f, fused = engine_grads(params, xs, ys, "fused", attend_h0)
    loss_u, unrolled = engine_grads(params, xs, ys, "unrolled", attend_h0)
    reference = cf.bptt(params, xs, ys, attend_h0)
    np.testing.assert_allclose(loss_u, loss_f, rtol=1e-12)
    np.testing.assert_allclose(cf.loss(params, xs, ys, attend_h0), loss_f, rtol=1e-12)
    assert_grads_close(unrolled, fused, rtol=1e-12)
    assert_grads_close(fused, reference)
    if cfg["steps"] * cfg["batch"] <= 12:  # O(T⁴): small sizes only
        assert_grads_close(cf.nested_sums(params, xs, ys, attend_h0), reference)


@settings(max_examples=40)
@given(cfg=model_configs(max_steps=6, max_hidden=4, max_input=3, max_classes=4, max_batch=2), onehot=st.booleans(),
       attend_h0=st.booleans())
def test_model_gradients_match_finite_differences(cfg, onehot, attend_h0):
    params, xs, ys = make_case(cfg, onehot)
    names = ("W", "U", "b", "V", "c")

    def loss(*ts):  # the model as a function of the checked tensors themselves
        return attention_rnn.loss(dict(zip(names, ts)), xs, ys, attend_h0=attend_h0)

    tg.gradcheck(loss, [params[k] for k in names], rtol=1e-6, atol=1e-8)
    reference = cf.bptt(params, xs, ys, attend_h0)
    numeric = [tg.numerical_jacobian(lambda t, k=k: _loss_in(params, k, t, xs, ys, attend_h0), params[k])
               for k in names]
    for k, n in zip(names, numeric):
        np.testing.assert_allclose(reference[k], n, rtol=1e-6, atol=1e-8, err_msg=k)


def _loss_in(params, name, t, xs, ys, attend_h0):
    return attention_rnn.loss({**params, name: t}, xs, ys, attend_h0=attend_h0)


def test_negative_control_a_wrong_closed_form_is_caught():
    """The comparison above fails for a slightly wrong closed form (eq 10 with h_t for Z_t)."""
    cfg = {"steps": 4, "hidden": 3, "input": 2, "classes": 3, "batch": 2, "scale": 1.0, "seed": 3}
    params, xs, ys = make_case(cfg, onehot=False)
    _, fused = engine_grads(params, xs, ys, "fused")
    wrong = dict(cf.bptt(params, xs, ys))
    wrong["V"] = cf.as_printed(params, xs, ys)["V"]
    with pytest.raises(AssertionError, match="gradient of V"):
        assert_grads_close(fused, wrong)
    wrong = dict(cf.bptt(params, xs, ys))
    wrong["W"] = wrong["W"] * (1 + 1e-8)
    with pytest.raises(AssertionError, match="gradient of W"):
        assert_grads_close(fused, wrong)


# ---------------------------------------------------------------- forward intermediates
def test_forward_intermediates():
    model = AttentionRNN(3, 4, 5, seed=2)
    xs = np.random.default_rng(0).standard_normal((6, 3))
    for mode in ("fused", "unrolled"):
        f = model.forward(xs, mode=mode)
        assert f.hidden.shape == (6, 4) and f.attention.shape == (6, 6) and f.context.shape == (6, 4)
        assert f.logits.shape == (6, 5) and f.probs.shape == (6, 5) and f.attention_h0 is None
        a = f.attention.data
        assert (np.triu(a, k=1) == 0.0).all()
        np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-14)
        np.testing.assert_allclose(f.context.data, a @ f.hidden.data, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(f.probs.data.sum(axis=-1), 1.0, rtol=1e-14)
    batched = model.forward(xs[None].repeat(2, axis=0))
    assert batched.hidden.shape == (2, 6, 4) and batched.attention.shape == (2, 6, 6)


def test_attend_h0_reading():
    """k = 0..t: h_0 = 0 joins the softmax with score 0, so the weights on h_1..h_t sum to < 1."""
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((5, 2))
    params = AttentionRNN(2, 3, 2, seed=4).numpy_params()
    plain = AttentionRNN.from_params(params).forward(xs)
    with_h0 = AttentionRNN.from_params(params, attend_h0=True)
    for mode in ("fused", "unrolled"):
        f = with_h0.forward(xs, mode=mode)
        np.testing.assert_allclose(f.attention.data.sum(axis=1) + f.attention_h0.data, 1.0, rtol=1e-14)
        assert (f.attention_h0.data > 0.01).all()
        np.testing.assert_allclose(f.hidden.data, plain.hidden.data, rtol=1e-14, atol=1e-15)
        # at t = 1: Z_1 = h_1 · e^{|h_1|²} / (1 + e^{|h_1|²})
        h1 = f.hidden.data[0]
        np.testing.assert_allclose(f.context.data[0], h1 * np.exp(h1 @ h1) / (1 + np.exp(h1 @ h1)), rtol=1e-14)
    np.testing.assert_allclose(plain.context.data[0], plain.hidden.data[0], rtol=1e-15)
    assert not np.allclose(with_h0.forward(xs).context.data, plain.context.data)


# ---------------------------------------------------------------- edge cases
@pytest.mark.parametrize("T,H,D,K", [(1, 3, 2, 4), (5, 1, 2, 3), (4, 3, 2, 2), (1, 1, 1, 2)])
def test_small_edges(T, H, D, K):
    cfg = {"steps": T, "hidden": H, "input": D, "classes": K, "batch": 2, "scale": 1.0, "seed": T * 7 + H}
    params, xs, ys = make_case(cfg, onehot=False)
    _, fused = engine_grads(params, xs, ys, "fused")
    _, unrolled = engine_grads(params, xs, ys, "unrolled")
    assert_grads_close(unrolled, fused, rtol=1e-12)
    assert_grads_close(fused, cf.bptt(params, xs, ys))
    assert_grads_close(cf.nested_sums(params, xs, ys), fused)


def test_long_sequence_no_overflow():
    cfg = {"steps": 200, "hidden": 8, "input": 3, "classes": 4, "batch": 2, "scale": 1.5, "seed": 0}
    params, xs, ys = make_case(cfg, onehot=False)
    loss, fused = engine_grads(params, xs, ys, "fused")
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in fused.values())
    assert_grads_close(fused, cf.bptt(params, xs, ys))


def test_large_scores_are_stable():
    """Saturated states with H = 600 give scores h_i · h_t up to 600: exp would overflow without
    the max-shift inside softmax."""
    rng = np.random.default_rng(0)
    H = 600
    params = {"W": np.zeros((H, H)), "U": rng.standard_normal((H, 2)) * 20, "b": np.zeros(H),
              "V": rng.standard_normal((3, H)) * 0.01, "c": np.zeros(3)}
    xs, ys = rng.standard_normal((2, 4, 2)), rng.integers(0, 3, (2, 4))
    with tg.detect_anomaly():
        loss_f, fused = engine_grads(params, xs, ys, "fused")
        loss_u, unrolled = engine_grads(params, xs, ys, "unrolled")
    scores = cf.forward(params, xs, ys).hs[:, 1:] @ cf.forward(params, xs, ys).hs[:, 1:].transpose(0, 2, 1)
    assert scores.max() > 500
    np.testing.assert_allclose(loss_u, loss_f, rtol=1e-12)
    assert_grads_close(fused, cf.bptt(params, xs, ys))
    assert_grads_close(unrolled, fused, rtol=1e-12)


def test_reductions():
    model = AttentionRNN(2, 3, 4, seed=0)
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((3, 5, 2)), rng.integers(0, 4, (3, 5))
    for mode in ("fused", "unrolled"):
        per = model.loss(xs, ys, mode=mode, reduction="none")
        assert per.shape == (3, 5)
        np.testing.assert_allclose(model.loss(xs, ys, mode=mode).item(), per.data.sum(), rtol=1e-14)
        np.testing.assert_allclose(model.loss(xs, ys, mode=mode, reduction="mean").item(), per.data.mean(),
                                   rtol=1e-14)
    assert model.loss(xs[0], ys[0], reduction="none").shape == (5,)


def test_probability_targets():
    cfg = {"steps": 4, "hidden": 3, "input": 2, "classes": 3, "batch": 2, "scale": 1.0, "seed": 5}
    params, xs, _ = make_case(cfg, onehot=False)
    raw = np.random.default_rng(9).random((2, 4, 3))
    ys = raw / raw.sum(axis=-1, keepdims=True)
    _, fused = engine_grads(params, xs, ys, "fused")
    _, unrolled = engine_grads(params, xs, ys, "unrolled")
    assert_grads_close(fused, cf.bptt(params, xs, ys))
    assert_grads_close(unrolled, fused, rtol=1e-12)


def test_deterministic_initialisation_and_parameters():
    a, b = AttentionRNN(2, 3, 4, seed=7), AttentionRNN(2, 3, 4, seed=7)
    for k in "WUbVc":
        np.testing.assert_array_equal(a.params()[k].data, b.params()[k].data)
    assert not np.array_equal(a.W.data, AttentionRNN(2, 3, 4, seed=8).W.data)
    shapes = {k: t.shape for k, t in a.params().items()}
    assert shapes == {"W": (3, 3), "U": (3, 2), "b": (3,), "V": (4, 3), "c": (4,)}
    assert all(t.requires_grad and t.is_leaf for t in a.params().values())


def test_unrolled_graph_is_scoped_and_tagged():
    model = AttentionRNN(2, 3, 2, seed=0)
    rng = np.random.default_rng(0)
    loss = model.loss(rng.standard_normal((3, 2)), rng.integers(0, 2, 3), mode="unrolled")
    records = [t.record for t in loss.history()]
    scopes = {r.scope for r in records if r.scope}
    assert scopes == {"t=1", "t=2", "t=3"}
    for t in (1, 2, 3):
        eqs = {r.tags.get("eq") for r in records if r.scope == f"t={t}"}
        assert eqs == {1, 2, 3, 4, 5, 6, 7}
    # eq 2 at step t has t score products (mul + sum each)
    assert sum(1 for r in records if r.scope == "t=3" and r.tags.get("eq") == 2 and r.name == "mul") == 3


# ---------------------------------------------------------------- bad input
BAD = [
    (lambda m: m.loss(np.ones((4, 3)), np.zeros(4, int)), r"xs: last axis must be input_size=2"),
    (lambda m: m.loss(np.ones(4), np.zeros(4, int)), r"xs: expected shape \(T, 2\) or \(B, T, 2\)"),
    (lambda m: m.loss(np.ones((0, 2)), np.zeros(0, int)), r"xs: empty sequence"),
    (lambda m: m.loss(np.full((3, 2), np.nan), np.zeros(3, int)), r"xs: contains NaN"),
    (lambda m: m.loss(np.ones((3, 2)), np.zeros(4, int)), r"ys: integer classes must have shape \(3,\)"),
    (lambda m: m.loss(np.ones((3, 2)), np.array([0, 1, 5])), r"ys: class index out of range \[0, 4\)"),
    (lambda m: m.loss(np.ones((3, 2)), np.ones((3, 5))), r"ys: one-hot / probability rows must have shape \(3, 4\)"),
    (lambda m: m.loss(np.ones((2, 3, 2)), np.zeros(3, int)), r"ys: integer classes must have shape \(2, 3\)"),
    (lambda m: m.loss(np.ones((3, 2)), np.zeros(3, int), mode="fast"), r"mode must be one of"),
    (lambda m: m.loss(np.ones((3, 2)), np.zeros(3, int), reduction="avg"), r"reduction must be"),
    (lambda m: AttentionRNN.from_params({"W": np.eye(3)}), r"missing parameter"),
    (lambda m: AttentionRNN.from_params({**m.numpy_params(), "b": np.ones(4)}), r"b must have shape \(3,\)"),
    (lambda m: AttentionRNN.from_params({**m.numpy_params(), "V": np.ones((4, 2))}), r"V must have shape"),
    (lambda m: AttentionRNN(0, 3, 4), r"input_size must be a positive integer"),
]


@pytest.mark.parametrize("call, pattern", BAD, ids=[b[1][:28] for b in BAD])
def test_bad_input_is_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call(AttentionRNN(2, 3, 4, seed=0))


def test_the_model_is_a_function_of_its_parameters():
    rng = np.random.default_rng(4)
    model = AttentionRNN(3, 4, 3, seed=1)
    xs, ys = rng.standard_normal((2, 5, 3)), rng.integers(0, 3, (2, 5))
    ts = {k: tg.Tensor(v, requires_grad=True) for k, v in model.numpy_params().items()}
    for mode in ("fused", "unrolled"):
        L = attention_rnn.loss(ts, xs, ys, mode=mode)
        assert L.item() == model.loss(xs, ys, mode=mode).item()
        for t in ts.values():
            t.grad = None
        L.backward()  # the given tensors receive the gradient
        want = cf.bptt(model.numpy_params(), xs, ys)
        for k, t in ts.items():
            np.testing.assert_allclose(t.grad, want[k], rtol=1e-10, atol=1e-12, err_msg=f"{mode} {k}")
    np.testing.assert_array_equal(attention_rnn.attention_rnn(model.numpy_params(), xs).logits.data,
                                  model.forward(xs).logits.data)  # arrays are constants: the same numbers
    with pytest.raises(ValueError, match=r"^attention_rnn: W must be \(H, H\), got \(4, 3\)$"):
        attention_rnn.attention_rnn({**ts, "W": np.ones((4, 3))}, xs)
    with pytest.raises(ValueError, match=r"^attention_rnn: missing parameter\(s\) \['c'\]$"):
        attention_rnn.loss({k: v for k, v in ts.items() if k != "c"}, xs, ys)


def test_no_model_is_patched_with_setattr():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    hits = [f"{p.relative_to(root)}:{n}" for folder in ("models", "tests", "benchmarks", "examples")
            for p in sorted((root / folder).rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if re.search(r"(?<![.\w])setattr\(", line) and "monkeypatch" not in line]
    assert hits == [], hits
