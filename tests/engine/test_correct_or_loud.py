"""Issue 23 §2 and §3: each silent wrong answer (or bad error) an audit or a peer's test suite found,
as a regression test.  Expected values come from PyTorch float64, numpy, or the derivative by hand —
never from the engine under test.  (In-place updates and ``.data`` are in tests/engine/test_inplace.py.)"""

from __future__ import annotations

import asyncio
import gc
import threading

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import optim

import torch  # noqa: E402  (the test extra installs torch==2.13.0; a missing torch is a failure, never a skip)


def _t(values, rg=True, **kw):
    return tg.Tensor(np.array(values, dtype=np.float64), requires_grad=rg, **kw)


def _torch_grads(f, *arrays):
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    f(*ts).backward()
    return [t.grad.numpy() for t in ts]


# ============================================================================ threads
def test_two_threads_accumulating_into_one_parameter_lose_nothing():
    # issue 23's repro: W.grad[0] was 2.0 (correct 4.0) in 30-60 % of runs; 60 trials see a race
    W = tg.Tensor(np.ones(200_000), requires_grad=True)
    wrong = 0
    for _ in range(60):
        W.grad = None
        barrier = threading.Barrier(2)

        def work():
            L = (W * 2).sum()
            barrier.wait()
            L.backward()

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wrong += not np.array_equal(W.grad, np.full(200_000, 4.0))
    assert wrong == 0


def test_one_graph_walked_from_two_threads_at_once_is_an_error_in_one_and_right_in_the_other():
    W = tg.Tensor(np.ones(100_000), requires_grad=True)
    for _ in range(40):
        W.grad = None
        L = (W * 2).sum()
        barrier = threading.Barrier(2)
        errors: list[str] = []

        def work():
            barrier.wait()
            try:
                L.backward()
            except RuntimeError as e:
                errors.append(str(e))

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(errors) == 1 and ("being walked by another backward()" in errors[0] or "already freed" in errors[0])
        np.testing.assert_array_equal(W.grad, np.full(100_000, 2.0))  # never "returned normally with no gradient"


def test_a_freeing_walk_waits_for_nobody_and_a_retained_one_may_run_twice():
    W = _t([1.0, 2.0])
    L = (W * W).sum()
    L.backward(retain_graph=True)
    L.backward(retain_graph=True)
    np.testing.assert_array_equal(W.grad, [4.0, 8.0])
    L.backward()
    with pytest.raises(RuntimeError, match="already freed"):
        L.backward()


# ============================================================================ what the protection missed
def test_a_list_constant_changed_after_the_forward_does_not_change_the_gradient():
    # issue 23's repro: gave [0, 4]; correct [3, 4]
    x = _t([1.0, 1.0])
    c = [3.0, 4.0]
    y = (x * c).sum()
    c[0] = 0.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_static_array_arguments_are_frozen_at_record_time():
    x = _t([0.5, 2.0, -1.0])
    hi = np.array([1.0, 1.0, 1.0])
    y = tg.clip(x, lo=None, hi=hi).sum()
    hi[:] = 10.0  # after the forward: the rule must still see hi = 1
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0])
    p = tg.Tensor([0.2, 0.7], requires_grad=True)
    w = np.array([2.0, 3.0])
    loss = tg.binary_cross_entropy(p, np.array([1.0, 0.0]), weight=w, reduction="sum")
    w[:] = 0.0
    loss.backward()
    expected = _torch_grads(lambda q: torch.nn.functional.binary_cross_entropy(
        q, torch.tensor([1.0, 0.0], dtype=torch.float64), weight=torch.tensor([2.0, 3.0], dtype=torch.float64),
        reduction="sum"), np.array([0.2, 0.7]))[0]
    np.testing.assert_allclose(p.grad, expected, rtol=1e-12)


def test_memmap_and_foreign_buffer_inputs_are_copied(tmp_path):
    x = _t([1.0, 2.0])
    mm = np.memmap(tmp_path / "c.bin", dtype=np.float64, mode="w+", shape=(2,))
    mm[:] = [3.0, 4.0]
    buf = bytearray(np.array([5.0, 6.0]).tobytes())
    fb = np.frombuffer(buf, dtype=np.float64)
    y = (x * mm).sum() + (x * fb).sum()
    mm[:] = 0.0
    buf[:] = bytes(len(buf))
    y.backward()
    np.testing.assert_array_equal(x.grad, [8.0, 10.0])


def test_an_op_output_kept_after_its_graph_is_dropped_is_writable():
    x = _t([1.0, 2.0])
    pred = (x * 2).numpy()  # the graph is gone with the tensor
    pred[0] = 7.0
    assert pred[0] == 7.0


def test_a_graph_that_dies_in_a_reference_cycle_releases_its_parameters():
    W = _t([1.0, 2.0], name="W")
    opt = optim.SGD([W], lr=0.1)

    def forward_that_fails():
        loss = (W * W).sum()
        try:
            raise ValueError("boom")
        except ValueError as e:
            err = e  # the frame holds e, e's traceback holds the frame: a cycle with the graph in it
        return err, loss

    gc.disable()
    try:
        err, loss = forward_that_fails()
        del err, loss
        W.grad = np.ones(2)
        opt.step()  # used to fail with a false "'W' is saved by 1 live recorded op(s)" forever
    finally:
        gc.enable()
    np.testing.assert_allclose(W.data, [0.9, 1.9], rtol=0, atol=1e-15)


# ============================================================================ axes
_AXIS_CASES = [
    ("squeeze", lambda x: x.reshape(2, 1, 3).squeeze(3)),
    ("flatten", lambda x: x.flatten(0, 2)),
    ("moveaxis", lambda x: x.moveaxis(2, 0)),
    ("chunk", lambda x: x.chunk(2, axis=2)),
    ("split", lambda x: x.split(2, axis=-3)),
    ("swapaxes", lambda x: x.swapaxes(0, 2)),
    ("take_along_axis", lambda x: tg.take_along_axis(x, np.zeros((2, 1), dtype=int), 2)),
    ("gather", lambda x: tg.gather(x, 2, np.zeros((2, 1), dtype=int))),
    ("tensordot", lambda x: tg.tensordot(x, np.ones((3, 2)), axes=([2], [0]))),
    ("cross_entropy", lambda x: tg.cross_entropy(x, np.array([0, 1]), axis=2)),
    ("nll_loss", lambda x: tg.nll_loss(x, np.array([0, 1]), axis=-3)),
    ("max", lambda x: x.max(axis=(0, 2))),
    ("min", lambda x: x.min(axis=(-3,))),
]


@pytest.mark.parametrize("name, call", _AXIS_CASES, ids=[c[0] for c in _AXIS_CASES])
def test_an_out_of_range_axis_raises_numpys_axis_error_naming_the_op(name, call):
    x = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    with pytest.raises(np.exceptions.AxisError, match=rf"{name}: axis -?\d+ is out of bounds"):
        call(x)


def test_in_range_negative_axes_still_work_like_numpy():
    x = np.arange(24.0).reshape(2, 3, 4)
    t = tg.Tensor(x)
    np.testing.assert_array_equal(t.moveaxis(-1, 0).data, np.moveaxis(x, -1, 0))
    np.testing.assert_array_equal(t.flatten(-2, -1).data, x.reshape(2, 12))
    np.testing.assert_array_equal(t.swapaxes(-1, -3).data, np.swapaxes(x, -1, -3))
    np.testing.assert_array_equal(t.max(axis=(-1, 0)).data, x.max(axis=(-1, 0)))


def test_repeated_axes_are_refused():
    with pytest.raises(ValueError, match=r"max: repeated axis"):
        tg.Tensor(np.ones((2, 2))).max(axis=(0, -2))


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


# ============================================================================ recording contexts
def test_no_grad_on_a_generator_holds_while_its_body_runs():
    x = _t([1.0])

    @tg.no_grad()
    def gen():
        yield (x * 2).requires_grad
        yield (x * 3).requires_grad

    assert list(gen()) == [False, False]
    assert tg.is_grad_enabled()


def test_no_grad_on_a_coroutine_holds_while_it_runs():
    x = _t([1.0])

    @tg.no_grad()
    async def co():
        await asyncio.sleep(0)
        return (x * 2).requires_grad

    assert asyncio.run(co()) is False
    assert tg.is_grad_enabled()


def test_reentering_one_context_object_restores_the_state_after_an_error():
    cm = tg.no_grad()
    with pytest.raises(ValueError):
        with cm:
            with cm:
                raise ValueError
    assert tg.is_grad_enabled()


def test_one_scope_object_shared_by_two_threads():
    sc = tg.scope("shared")
    barrier = threading.Barrier(2)
    seen: list[str] = []
    errors: list[BaseException] = []

    def work():
        try:
            with sc:
                barrier.wait()
                seen.append(tg.current_scope())
                barrier.wait()
            seen.append(tg.current_scope())
        except BaseException as e:  # pragma: no cover - the failure being tested
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(seen) == ["", "", "shared", "shared"]


# ============================================================================ peers' tests, ported
def test_einsum_broadcasts_a_size_one_label_as_numpy_and_torch():
    a, b = _t(np.ones(3)), _t(np.ones(1))
    out = tg.einsum("i,i", a, b)
    assert out.item() == 3.0 == np.einsum("i,i", np.ones(3), np.ones(1))
    out.backward()
    np.testing.assert_array_equal(a.grad, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(b.grad, [3.0])


@pytest.mark.parametrize("spec, shapes", [
    ("ii", [(3, 3)]), ("ii->i", [(3, 3)]), ("ijji->i", [(2, 3, 3, 2)]), ("ii,ij->j", [(3, 3), (3, 2)]),
    ("iij->j", [(2, 2, 3)]), ("ij,j->i", [(2, 1), (3,)]), ("bii->b", [(2, 3, 3)]),
])
def test_einsum_repeated_subscripts_against_torch(spec, shapes):
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal(s) for s in shapes]
    ts = [_t(x) for x in xs]
    out = tg.einsum(spec, *ts)
    txs = [torch.tensor(x, requires_grad=True) for x in xs]
    tout = torch.einsum(spec, *txs)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    seed = rng.standard_normal(out.shape)
    out.backward(seed)
    tout.backward(torch.tensor(seed))
    for t, tx in zip(ts, txs):
        np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert tg.gradgradcheck(lambda *a: tg.einsum(spec, *a), [tg.Tensor(x, requires_grad=True) for x in xs])


def test_max_and_min_over_no_axes_return_the_input():
    x = _t([1.0, 3.0])
    np.testing.assert_array_equal(x.max(axis=()).data, np.max(np.array([1.0, 3.0]), axis=()))
    x.min(axis=()).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_zero_sized_products_and_repeats_backpropagate():
    a, b = _t(np.ones((8, 8))), _t(np.ones((8, 0)))
    (a @ b).sum().backward()
    assert a.grad.shape == (8, 8) and not a.grad.any() and b.grad.shape == (8, 0)
    c, d = _t(np.ones((3, 0))), _t(np.ones((0, 3)))
    (c @ d).sum().backward()
    assert c.grad.shape == (3, 0) and d.grad.shape == (0, 3)
    e, f = _t(np.ones((2, 4, 0))), _t(np.ones((0, 5)))
    (e @ f).sum().backward()
    assert e.grad.shape == (2, 4, 0) and f.grad.shape == (0, 5)
    x = _t([1.0, 2.0])
    tg.repeat(x, 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    assert tg.Tensor([])[[]].shape == np.array([])[[]].shape == (0,)


def test_pow_at_zero_and_infinity_against_torch():
    a = np.array([0.0, 0, 0, 0, 0, np.inf, np.inf, -np.inf, -np.inf, 2.0, 0.5, 3.0])
    b = np.array([-1.0, -0.5, 0, 0.5, 2, 1, -1, 2, 3, np.inf, np.inf, -2.0])
    ta, tb = _t(a), _t(b)
    with np.errstate(all="ignore"):
        out = ta ** tb
        out.sum().backward()
    qa, qb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (qa ** qb).sum().backward()
    np.testing.assert_array_equal(out.data, (qa ** qb).detach().numpy())
    np.testing.assert_array_equal(ta.grad, qa.grad.numpy())
    np.testing.assert_array_equal(tb.grad, qb.grad.numpy())


def test_variance_with_no_degrees_of_freedom_is_nan_not_a_crash():
    x = _t([1.0])
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        v = x.var(ddof=1)
        v.backward()
    q = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    with pytest.warns(UserWarning):
        tv = q.var(correction=1)
    tv.backward()
    assert np.isnan(v.item()) and np.isnan(tv.item())
    assert np.isnan(x.grad).all() and np.isnan(q.grad.numpy()).all()


def test_zero_d_edges_follow_numpy_or_torch():
    s = tg.Tensor(1.5)
    assert s.squeeze(0).shape == np.squeeze(np.array(1.5), 0).shape == tuple(torch.tensor(1.5).squeeze(0).shape) == ()
    with pytest.raises(np.exceptions.AxisError, match="squeeze: axis 1 is out of bounds"):
        s.squeeze(1)  # (used to raise ZeroDivisionError)
    with pytest.raises(np.exceptions.AxisError):
        np.squeeze(np.array(1.5), 1)
    assert s.cumsum(axis=0).shape == tuple(torch.tensor(1.5).cumsum(0).shape) == ()
    assert s.cumsum().shape == np.cumsum(np.array(1.5)).shape == (1,)
    with pytest.raises(ValueError, match=r"squeeze: axis 0 has size 2, not 1"):
        tg.Tensor(np.ones((2, 1))).squeeze(0)  # numpy's choice (torch returns it unchanged): documented


def test_chunk_of_an_empty_axis_gives_torchs_number_of_parts():
    parts = tg.Tensor(np.ones((0, 2))).chunk(2)
    assert len(parts) == len(torch.ones((0, 2)).chunk(2)) == 2
    assert all(p.shape == (0, 2) for p in parts)


def test_creation_dtypes_follow_numpy_and_torch():
    assert tg.full((2,), 4).dtype == np.full((2,), 4).dtype == np.int64
    assert tg.full((2,), 4.0).dtype == np.float64
    assert tg.full((2,), 4, requires_grad=True).dtype == np.float64
    np.testing.assert_array_equal(tg.linspace(-5, 0, 4, dtype=np.int64).data,
                                  torch.linspace(-5, 0, 4, dtype=torch.int64).numpy())
    with pytest.raises(TypeError, match="linspace: dtype must be a float or integer type, got bool"):
        tg.linspace(0, 1, 3, dtype=bool)


@pytest.mark.parametrize("name, ours, theirs, shapes", [
    ("addmm", tg.addmm, torch.addmm, [(3,), (2, 0), (0, 3)]),
    ("addmm_stack", tg.addmm, lambda c, a, b: c + a @ b, [(2, 3, 0), (2, 3, 4), (4, 0)]),
    ("dot_1d", tg.dot, torch.dot, [(0,), (0,)]),
    ("dot_2d", tg.dot, torch.mm, [(3, 0), (0, 2)]),
    ("tensordot", lambda a, b: tg.tensordot(a, b, 1), lambda a, b: torch.tensordot(a, b, 1), [(2, 0), (0, 3)]),
    ("einsum", lambda a, b: tg.einsum("ij,jk->ik", a, b), lambda a, b: torch.einsum("ij,jk->ik", a, b),
     [(2, 0), (0, 3)]),
    ("outer", tg.outer, torch.outer, [(0,), (3,)]),
    ("matmul_batch", lambda a, b: a @ b, lambda a, b: a @ b, [(0, 2, 3), (3, 4)]),
    ("matmul_batch_empty_columns", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 2, 3), (2, 3, 0)]),
])
def test_zero_sized_products_against_torch(name, ours, theirs, shapes):
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal(s) for s in shapes]
    ts = [_t(x) for x in xs]
    out = ours(*ts)
    qs = [torch.tensor(x, requires_grad=True) for x in xs]
    ref = theirs(*qs)
    assert out.shape == tuple(ref.shape)
    w = rng.standard_normal(out.shape)
    out.backward(w)
    ref.backward(torch.tensor(w))
    for t, q in zip(ts, qs):
        np.testing.assert_array_equal(t.grad, q.grad.numpy())


def test_array_parameters_of_activations_are_frozen_at_record_time():
    x = _t(np.full((2, 3), -1.0))
    slope = np.array([0.1, 0.2, 0.3])
    alpha = np.array([1.0, 2.0, 3.0])
    y = (tg.leaky_relu(x, negative_slope=slope) + tg.elu(x, alpha=alpha)).sum()
    slope[:] = 5.0
    alpha[:] = 5.0
    y.backward()
    expected = 0.1 * np.arange(1, 4) + np.arange(1.0, 4.0) * np.exp(-1.0)
    np.testing.assert_allclose(x.grad, np.broadcast_to(expected, (2, 3)), rtol=1e-15)


def test_no_grad_on_a_generator_passes_send_and_throw_through():
    x = _t([1.0])

    @tg.no_grad()
    def echo():
        got = yield "ready"
        while True:
            try:
                got = yield ((x * got).requires_grad, got)
            except KeyError as e:
                got = yield ("caught", str(e), (x * 2).requires_grad)

    g = echo()
    assert next(g) == "ready"
    assert g.send(3.0) == (False, 3.0)
    assert g.throw(KeyError("k")) == ("caught", "'k'", False)
    assert g.send(5.0) == (False, 5.0)
    g.close()
    assert tg.is_grad_enabled()


def test_decorating_an_async_generator_is_refused_in_one_line():
    with pytest.raises(TypeError, match=r"^agen: decorating an async generator with a recording context is not "
                                        r"supported; use a `with` block inside it$"):
        @tg.no_grad()
        async def agen():
            yield 1


def test_enable_grad_and_detect_anomaly_keep_the_scope_and_tags_around_them():
    x = _t([1.0, 2.0])
    with tg.scope("outer"), tg.tag(eq=7), tg.no_grad():
        with tg.enable_grad():
            y = x * 2
        with tg.enable_grad(), tg.detect_anomaly():
            z = x * 3
            assert tg.is_anomaly_enabled()
    assert (y.record.scope, dict(y.record.tags)) == ("outer", {"eq": 7})
    assert (z.record.scope, dict(z.record.tags)) == ("outer", {"eq": 7})
    for inner in (tg.no_grad, lambda: tg.scope("s"), lambda: tg.tag(k=1)):
        with tg.detect_anomaly(), inner(), tg.enable_grad():
            with pytest.raises(tg.AnomalyError):
                x * np.nan  # anomaly mode survives no_grad, scope, tag and enable_grad


def test_a_record_names_raw_array_inputs_by_shape():
    x = _t([1.0, 2.0], name="x")
    r = (x * np.ones(2)).record
    assert repr(r).endswith("mul(x(2,), (2,)) -> (2,)")
