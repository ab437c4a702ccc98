"""tg.compile: the replay gives the eager run's values and gradients bit for bit; every refusal.

Oracles: the eager engine itself (bitwise: same numpy calls, same order), central differences of
the replayed function (its own gradients, checked independently of the eager walk), and the
seed's closed form.
"""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import tinygrad_rnn as tg
from tinygrad_rnn.models import closed_form
from tinygrad_rnn.models.attention_rnn import AttentionRNN
from tinygrad_rnn.models.data import as_batch
from test_vs_torch import OPS, _at_a_kink, programs


def bits(a) -> bytes:
    a = np.asarray(a)
    return a.dtype.str.encode() + str(a.shape).encode() + a.tobytes()


def grads_of(tensors):
    return [None if t.grad is None else np.array(t.grad, copy=True) for t in tensors]


def clear(tensors):
    for t in tensors:
        t.grad = None


# ----------------------------------------------------------------------------- bit identity
@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 3), T=st.integers(1, 5), D=st.integers(1, 3), H=st.integers(1, 4), K=st.integers(2, 4),
       mode=st.sampled_from(["fused", "unrolled"]), attend_h0=st.booleans(), attention=st.booleans(),
       seed=st.integers(0, 100))
def test_the_seed_model_replays_bit_for_bit_in_both_modes(B, T, D, H, K, mode, attend_h0, attention, seed):
    model = AttentionRNN(D, H, K, seed=seed, attend_h0=attend_h0, attention=attention)
    params = list(model.parameters())
    step = tg.compile(lambda X, Y: model.batch_loss(X, Y, mode=mode))
    rng = np.random.default_rng(seed)
    for call in range(3):  # trace, then two replays on new data
        X, Y, _ = as_batch(rng.standard_normal((B, T, D)), rng.integers(0, K, (B, T)), D, K)
        clear(params)
        got = step(X, Y)
        replayed = grads_of(params)
        clear(params)
        want = model.batch_loss(X, Y, mode=mode)
        want.backward()
        assert bits(got.data) == bits(want.data)
        assert [bits(g) for g in replayed] == [bits(g) for g in grads_of(params)]
    assert (step.traces, step.replays) == (1, 2)
    # and the gradients are the closed form's (an oracle that is not the engine)
    exact = closed_form.bptt(model.numpy_params(), X, Y, attend_h0=attend_h0) if attention else None
    if exact is not None:
        for name, g in zip("WUbVc", replayed):
            np.testing.assert_allclose(g, exact[name], rtol=1e-10, atol=1e-12)


# steps of the differential test that read a value by design (an optimizer step through .data / detach)
VALUE_READERS = {"sgd_step"}


def _program_fn(program):
    def fn(*leaves):
        values = list(leaves)
        for name, operands, static in program["steps"]:
            values.append(OPS[name][2](*[values[i] for i in operands], **static))
        total = tg.Tensor(0.0)
        for i in program["outputs"]:
            v = values[i]
            w = np.linspace(0.5, 1.5, max(v.size, 1))[: v.size].reshape(v.shape)
            total = total + (v * w).sum()
        return total
    return fn


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs(), st.integers(0, 2**31 - 1))
def test_random_programs_of_every_op_replay_bit_for_bit(program, seed):
    fn = _program_fn(program)
    with np.errstate(all="ignore"):
        leaves = [tg.Tensor(a, requires_grad=True) for a in program["leaves"]]
        if not fn(*leaves).requires_grad:
            return  # nothing recorded (e.g. only argmax-like steps)
        step = tg.compile(fn)
        try:
            step(*[tg.Tensor(a, requires_grad=True) for a in program["leaves"]])  # the trace
        except tg.TraceError as e:  # only steps that read values on purpose may be refused
            assert any(name in VALUE_READERS for name, _, _ in program["steps"]), e
            return
        rng = np.random.default_rng(seed)
        new = [a + 0.01 * rng.standard_normal(a.shape) for a in program["leaves"]]
        mine = [tg.Tensor(a, requires_grad=True) for a in new]
        theirs = [tg.Tensor(a, requires_grad=True) for a in new]
        got = step(*mine)
        want = fn(*theirs)
        want.backward()
    assert step.replays == 1
    assert bits(got.data) == bits(want.data)
    assert [None if t.grad is None else bits(t.grad) for t in mine] == \
           [None if t.grad is None else bits(t.grad) for t in theirs]


def test_every_op_of_the_differential_test_is_covered():
    assert len(OPS) >= 60


def test_a_replay_reads_parameters_changed_in_place_and_accumulates_like_backward():
    model = AttentionRNN(2, 3, 3, seed=0)
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    twin = AttentionRNN(2, 3, 3, seed=0)
    twin_opt = tg.optim.SGD(twin.parameters(), lr=0.1)
    step = tg.compile(lambda X, Y: model.batch_loss(X, Y))
    rng = np.random.default_rng(0)
    for _ in range(4):
        X, Y, _ = as_batch(rng.standard_normal((2, 4, 2)), rng.integers(0, 3, (2, 4)), 2, 3)
        opt.zero_grad()
        twin_opt.zero_grad()
        a = step(X, Y)
        b = twin.batch_loss(X, Y)
        b.backward()
        assert bits(a.data) == bits(b.data)
        opt.step()
        twin_opt.step()
        assert all(bits(p.data) == bits(q.data) for p, q in zip(model.parameters(), twin.parameters()))
    # without zero_grad, .grad accumulates over calls exactly as over backward() calls
    X, Y, _ = as_batch(rng.standard_normal((2, 4, 2)), rng.integers(0, 3, (2, 4)), 2, 3)
    step(X, Y), step(X, Y)
    twin.batch_loss(X, Y).backward(), twin.batch_loss(X, Y).backward()
    assert all(bits(p.grad) == bits(q.grad) for p, q in zip(model.parameters(), twin.parameters()))


def test_the_replay_gradient_matches_central_differences_of_the_replay():
    """gradcheck of a compiled function: its gradients against finite differences of its own values."""
    W = tg.Tensor(np.random.default_rng(1).standard_normal((3, 3)), requires_grad=True)
    step = tg.compile(lambda x: ((W @ x).tanh() ** 2).sum() + (W * W).sum())
    x = np.array([0.3, -0.2, 0.5])
    step(x)  # the trace
    W.grad = None
    step(x)
    g = W.grad.copy()
    num = np.zeros_like(g)
    for i in np.ndindex(g.shape):
        with tg.no_grad():
            keep = W.data[i]
            W.data[i] = keep + 1e-6
        up = step(x).item()
        with tg.no_grad():
            W.data[i] = keep - 1e-6
        down = step(x).item()
        with tg.no_grad():
            W.data[i] = keep
        num[i] = (up - down) / 2e-6
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9)
    assert (step.traces, step.replays) == (1, 1 + 2 * 9)  # every value above came from the replay


# ----------------------------------------------------------------------------- the cache
def test_each_signature_change_traces_again_and_the_cache_is_bounded():
    W = tg.Tensor(np.ones((2, 2)), requires_grad=True)
    step = tg.compile(lambda x, k: (W @ x * k).sum(), cache_size=3)
    step(np.ones(2), 1.0)
    step(np.ones(2), 1.0)
    assert step.traces == 1
    step(np.ones((2, 3)), 1.0)        # a new shape
    step(np.ones(2, dtype=np.float32), 1.0)   # a new dtype
    step(np.ones(2), 2.0)             # a new static value
    assert step.traces == 4 and len(step.cache) == 3
    step(np.ones(2), 1.0)             # evicted (least recently used): traced again
    assert step.traces == 5
    step(tg.Tensor(np.ones(2), requires_grad=True), 1.0)  # requires_grad is part of it
    assert step.traces == 6
    with tg.no_grad():
        with pytest.raises(tg.TraceError, match="no recorded history"):
            step(np.ones(2), 1.0)    # grad mode is part of it (and here there is nothing to differentiate)


def test_a_captured_tensor_that_changes_shape_is_traced_again():
    W, M = tg.Tensor(np.ones((2, 2)), requires_grad=True), tg.Tensor(np.ones((2, 2)))
    step = tg.compile(lambda x: (M @ (W @ x)).sum())
    step(np.ones(2))
    M.data = np.ones((3, 2))               # a constant tensor read from outside, replaced by another shape
    assert step(np.ones(2)).item() == 12.0
    assert step.traces == 2


def test_a_rebound_closure_variable_is_baked_in_and_check_mode_says_so():
    """The documented limit (as jax.jit's): the trace keeps the tensor objects it read; a name
    rebound to a new tensor afterwards is not seen by the replay. check=True catches it."""
    holder = {"W": tg.Tensor(np.ones((2, 2)), requires_grad=True)}
    step = tg.compile(lambda x: (holder["W"] @ x).sum(), check=True)
    step(np.ones(2))
    holder["W"] = tg.Tensor(2 * np.ones((2, 2)), requires_grad=True)
    with pytest.raises(AssertionError, match="differs from the eager run"):
        step(np.ones(2))


def test_check_mode_passes_a_faithful_replay_and_catches_a_baked_python_value():
    W = tg.Tensor(np.ones((2, 2)) * 0.5, requires_grad=True)
    scale = [1.0]
    step = tg.compile(lambda x: (W @ x * scale[0]).tanh().sum(), check=True)
    step(np.ones(2))
    step(np.ones(2) * 2)                      # replay and eager agree bitwise: no error
    scale[0] = 3.0                            # a Python number read inside fn is baked into the trace
    with pytest.raises(AssertionError, match="differs from the eager run"):
        step(np.ones(2))


# ----------------------------------------------------------------------------- refusals
W0 = tg.Tensor(np.eye(2), requires_grad=True, name="W0")


@pytest.mark.parametrize("body, what", [
    (lambda x: (W0 @ x).sum() if bool((W0 @ x).sum()) else x.sum(), "bool"),
    (lambda x: tg.where(x > 0, W0 @ x, x).sum(), "comparison"),
    (lambda x: (W0 @ x).detach().sum() + (W0 @ x).sum(), "detach"),
    (lambda x: (W0 @ x).copy().sum() + (W0 @ x).sum(), "copy"),
    (lambda x: (W0 @ x).sum() + (x * 1.0).argmax(), "t.data"),
    (lambda x: (W0 @ x).sum() * float((x * 1.0).sum()), "item"),
    (lambda x: (W0 @ x).sum() * (x * 1.0).item(), "item"),
    (lambda x: (W0 @ x).sum() + tg.Tensor(np.asarray(x * 1.0)).sum(), "asarray"),
    (lambda x: (W0 @ x).sum() + (x * 1.0).numpy().sum(), "numpy"),
    (lambda x: (W0 @ x).sum() + (x * 1.0).data.sum(), "t.data"),
    (lambda x: (W0 @ x).sum() + len((x * 1.0).tolist()), "tolist"),
    (lambda x: (W0 @ x).sum() + len(f"{(x * 1.0).sum():.3f}"), "format"),
])
def test_reading_a_value_while_tracing_is_refused_and_names_the_line(body, what):
    step = tg.compile(body)
    with pytest.raises(tg.TraceError, match=rf"(?s){what}.*test_compile.py:\d+"):
        step(np.ones(2))
    assert step.traces == 0 and len(step.cache) == 0


def test_randomness_while_tracing_is_refused():
    for draw in (lambda: np.random.rand(), lambda: random.random(), lambda: tg.randn(2).sum()):
        step = tg.compile(lambda x: (W0 @ x).sum() * float(draw() if not isinstance(draw(), tg.Tensor) else 1.0))
        with pytest.raises(tg.TraceError, match="random"):
            step(np.ones(2))
    ok = tg.compile(lambda x, noise: (W0 @ (x + noise)).sum())   # drawn outside and passed in: fine
    ok(np.ones(2), np.random.default_rng(0).standard_normal(2))


def test_backward_nested_compiles_and_retain_grad_inside_are_refused():
    def with_backward(x):
        loss = (W0 @ x).sum()
        loss.backward()
        return loss

    with pytest.raises(tg.TraceError, match="backward"):
        tg.compile(with_backward)(np.ones(2))
    inner = tg.compile(lambda x: (W0 @ x).sum())
    with pytest.raises(tg.TraceError, match="nested"):
        tg.compile(lambda x: inner(x) * 2.0)(np.ones(2))

    def keeps(x):
        h = W0 @ x
        h.retain_grad()
        return h.sum()

    with pytest.raises(tg.TraceError, match="retain_grad"):
        tg.compile(keeps)(np.ones(2))


def test_arguments_and_captured_tensors_with_history_are_refused():
    h = W0 @ np.ones(2)  # a recorded graph outside the function
    with pytest.raises(tg.TraceError, match="recorded graph"):
        tg.compile(lambda x: (x * 2.0).sum())(h)
    with pytest.raises(tg.TraceError, match="recorded graph"):
        tg.compile(lambda x: (h * x).sum())(np.ones(2))


def test_bad_arguments_and_results_are_one_line_errors():
    with pytest.raises(TypeError, match="neither an array nor hashable"):
        tg.compile(lambda x, d: (W0 @ x).sum())(np.ones(2), {"a": 1})
    with pytest.raises(tg.TraceError, match="one-element loss"):
        tg.compile(lambda x: W0 @ x)(np.ones(2))
    with pytest.raises(TypeError, match="must return a Tensor"):
        tg.compile(lambda x: 3.0)(np.ones(2))
    with pytest.raises(ValueError, match="cache_size"):
        tg.compile(lambda x: x, cache_size=0)


def test_the_eager_path_outside_a_trace_is_unaffected():
    t = tg.Tensor(np.array([1.0, 2.0]))
    assert t.data.sum() == 3.0 and float(t.sum()) == 3.0 and bool((t > 0).all()) and t.tolist() == [1.0, 2.0]


# ----------------------------------------------------------------------------- threads and buffers
def test_threads_sharing_a_compiled_function_lose_no_gradient():
    W = tg.Tensor(np.random.default_rng(0).standard_normal((4, 4)), requires_grad=True)
    step = tg.compile(lambda x: (W @ x).tanh().sum())
    xs = [np.random.default_rng(k).standard_normal(4) for k in range(16)]
    step(xs[0])
    W.grad = None
    threads = [threading.Thread(target=step, args=(x,)) for x in xs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = W.grad.copy()
    W.grad = None
    for x in xs:
        (W @ x).tanh().sum().backward()
    np.testing.assert_allclose(total, W.grad, rtol=1e-12)


def test_returned_values_are_never_overwritten_by_a_later_replay():
    W = tg.Tensor(np.eye(2), requires_grad=True)
    step = tg.compile(lambda x: ((W @ x) ** 2).sum(), backward=False)
    first = step(np.array([1.0, 2.0]))
    step(np.array([1.0, 2.0]))
    second = step(np.array([3.0, 4.0]))
    assert first.item() == 5.0 and second.item() == 25.0 and W.grad is None  # backward=False: no gradient


def test_the_source_is_annotated_with_scopes_and_tags():
    model = AttentionRNN(2, 2, 2, seed=0)
    step = tg.compile(lambda X, Y: model.batch_loss(X, Y, mode="unrolled"))
    X, Y, _ = as_batch(np.ones((2, 2)), np.array([0, 1]), 2, 2)
    src = step.source(X, Y)
    assert "# forward" in src and "# backward" in src
    assert "tanh  # tanh @t=2 eq 1" in src.replace("(", " ").replace(")", " ") or "# tanh @t=2 eq 1" in src
    assert "@t=1 eq 4" in src and "G_W = _leaf(W_t, " in src and "# into W.grad" in src  # the walk adds into W's .grad
    assert "h_2 = np.tanh(" in src and "g_h_1 = p_h_1" in src        # the model's own names: h_t, ∂L/∂h_t
    assert "another use of h_1: add" in src                            # h_1's uses summed as the walk sums them


# ----------------------------------------------------------------------------- the walk's sums, written out
def _sparse_then_dense(x):
    y = x * 1.5
    c = (y * y).sum()                   # recorded first: the walk meets it last (two dense parts)
    a = (y[1:3] * 2.0).sum()            # sparse parts into y, overlapping
    b = (y[0:2] * 3.0).sum()
    return c + a + b


def _dense_then_sparse(x):
    y = x * 1.5
    a = (y[1:3] * 2.0).sum()
    b = (y[0:2] * 3.0).sum()
    c = (y * 2.0).sum()                 # recorded last: the walk meets this one dense part first
    return a + b + c


def _repeated_integer_index(x):
    y = x * 1.5
    return y[np.array([0, 0, 2])].sum() + (y[1:3] * 2.0).sum() + (y * y).sum()


@pytest.mark.parametrize("fn", [_sparse_then_dense, _dense_then_sparse, _repeated_integer_index])
def test_sparse_and_dense_parts_of_one_gradient_sum_as_the_walk_sums_them(fn):
    step = tg.compile(fn)
    x0 = np.array([0.3, -1.2, 2.0, 0.7])
    step(tg.Tensor(x0, requires_grad=True))
    src = step.source(tg.Tensor(x0, requires_grad=True))
    for shift in (0.5, -3.0):
        mine, theirs = tg.Tensor(x0 + shift, requires_grad=True), tg.Tensor(x0 + shift, requires_grad=True)
        got = step(mine)
        fn(theirs).backward()
        assert bits(got.data) == bits(fn(tg.Tensor(x0 + shift)).data)
        assert bits(mine.grad) == bits(theirs.grad)
    if fn is _repeated_integer_index:  # an index array is a value: its SparseGrad stays checked when it runs
        assert "_acc(" in src
        return
    assert "_acc(" not in src  # every part's kind known: the sums are written out
    assert "np.zeros(" in src or ".copy()" in src
    assert src.count("] += g_") == 2
    if fn is _dense_then_sparse:
        assert ".copy()" in src  # a dense part it does not own, then a sparse one: copied first, as _acc does


def test_a_specialised_rule_is_used_only_if_it_gives_the_rules_bits():
    """The check `_probe_rule` makes of a residual against the rule itself, with a wrong residual."""
    from tinygrad_rnn.compiler import _probe_rule
    from tinygrad_rnn.inlining import Inlined

    x = tg.Tensor(np.ones(3), requires_grad=True)
    y = x * 2.0
    env = {"g_y": np.ones(3), "x": np.ones(3)}
    ns = {"np": np}
    bind = lambda label, obj: repr(obj)  # noqa: E731
    assert _probe_rule(Inlined("g_y * 2.0", True, ()), x.data, y.record, 0, ns, env, bind, reference="g_y * 2.0")
    assert _probe_rule(Inlined("g_y * 2.0", True, ()), x.data, y.record, 0, ns, env, bind, reference="g_y * 3.0") is None
