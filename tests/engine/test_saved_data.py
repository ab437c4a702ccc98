"""Saved data stays unchanged while a live graph needs it: writes into what a rule will read are
refused (or cannot change the gradient, for every op: ``op_table.SAVED``), the protection's
bookkeeping, what the protection missed before, and what a freed graph keeps (its skeleton)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch  # noqa: E402  (the test extra installs torch==2.13.0; a missing torch is a failure, never a skip)
from engine_helpers import _two_layer_net
from op_table import _A, _B, SAVED  # (the one op table: tests/engine/op_table.py)

import tinygrad_rnn as tg
from tinygrad_rnn import optim, saved, tape


def _t(values, rg=True, **kw):
    return tg.Tensor(np.array(values, dtype=np.float64), requires_grad=rg, **kw)


def _torch_grads(f, *arrays):
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    f(*ts).backward()
    return [t.grad.numpy() for t in ts]


# ============================================================================ mutation after the forward
def _square_sum():
    x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    return x, (x * x).sum()


@pytest.mark.parametrize("how", ["data", "detach", "numpy"])
def test_writing_saved_data_raises_and_the_gradient_stays_right(how):
    x, y = _square_sum()
    target = {"data": lambda: x.data, "detach": lambda: x.detach().data, "numpy": lambda: x.numpy()}[how]()
    with pytest.raises(ValueError, match="read-only"):
        target[...] = 10.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_saved_data_is_writable_again_after_backward_and_after_the_graph_is_garbage():
    x, y = _square_sum()
    y.backward()
    x.data[...] = 5.0  # the graph was freed by backward
    z = (x * x).sum()
    assert not x.data.flags.writeable
    del z
    gc.collect()
    x.data[...] = 1.0  # the graph is garbage
    assert x.data.flags.writeable


def test_retain_graph_keeps_data_read_only_until_the_last_backward():
    x, y = _square_sum()
    y.backward(retain_graph=True)
    with pytest.raises(ValueError):
        x.data[0] = 0.0
    y.backward()
    x.data[0] = 0.0
    np.testing.assert_array_equal(x.grad, [4.0, 8.0, 12.0])


def test_is_saved_names_the_tensor_the_op_and_the_tape_position():
    x, y = _square_sum()
    why = x.is_saved()
    assert "'x'" in why and "'mul'" in why and f"tape #{y.record.parents[0][1].record.seq}" in why
    assert "backward()" in why and "detach().copy()" in why
    y.backward()
    assert x.is_saved() is None


@pytest.mark.parametrize("opt_cls", [tg.optim.SGD, tg.optim.Adam])
def test_optimizer_step_between_forward_and_backward_is_refused_by_name(opt_cls):
    W1, W2, f = _two_layer_net()
    opt = opt_cls([W1, W2], lr=0.1)
    loss = f()
    loss.backward(retain_graph=True)
    loss2 = f()
    with pytest.raises(RuntimeError, match=r"step: cannot update 'W1' in place: 'W1' is saved .* op '(transpose|matmul)' \(tape #"):
        opt.step()
    loss2.backward()  # the gradient of the loss that was computed, untouched
    W1r, W2r, fr = _two_layer_net()
    fr().backward()
    np.testing.assert_allclose(W1.grad, 2 * W1r.grad, rtol=1e-14)


def test_the_ordinary_training_loop_needs_no_copies():
    W1, W2, f = _two_layer_net()
    opt = tg.optim.SGD([W1, W2], lr=0.01, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        f().backward()
        opt.step()
    assert W1.data.flags.writeable


def test_views_of_saved_data_are_read_only_and_the_base_of_a_saved_view_is_kept():
    x = tg.Tensor(np.arange(6.0), requires_grad=True)
    w = tg.Tensor(np.ones(6), requires_grad=True)
    v = x.reshape(2, 3)  # a view of x's memory; reshape's rule reads nothing
    y = (v * w.reshape(2, 3)).sum()  # mul saves v, so v's memory (x.data) must not change either
    with pytest.raises(ValueError):
        x.data[...] = 0.0
    with pytest.raises(ValueError):
        x.data[1:][...] = 0.0  # a view made after the forward inherits read-only
    y.backward()
    np.testing.assert_array_equal(w.grad, np.arange(6.0))


def test_a_numpy_constant_and_an_index_array_cannot_change_the_gradient():
    c = np.array([1.0, 2.0, 3.0])
    idx = np.array([0, 0, 2])
    x = tg.Tensor([1.0, 1.0, 1.0], requires_grad=True)
    y = (x * c)[idx].sum()
    with pytest.raises(ValueError):
        c[...] = 0.0
    idx[...] = 1  # the recorded index is a copy: this changes nothing
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 3.0])
    c[...] = 0.0  # writable again


def test_a_rule_that_writes_into_g_is_an_error_naming_it():
    @tg.defop("scale_in_place")
    def bad(x):
        def vjp(g):
            g *= 2.0
            return g

        return x * 2.0, (vjp,)

    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"'scale_in_place' \(tape #\d+\) tried to write in place into its upstream"):
        bad(x).sum().backward()


def test_a_rule_that_writes_into_a_saved_input_is_an_error():
    @tg.defop("clobber")
    def bad(x):
        def vjp(g):
            x[...] = 0.0
            return g

        return x + 0.0, (vjp,)

    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="'clobber'.*in place"):
        bad(x).sum().backward()
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


# Every built-in op: after its forward, each input array and its output either refuse an in-place
# write or the write does not change the gradient.  This is what makes the ops' `saves=`
# declarations safe: declare too little and this test goes red.
def _grads(fn, mutate=None):
    a = tg.Tensor(_A, requires_grad=True)
    b = tg.Tensor(_B, requires_grad=True)
    out = fn(a, b)
    refused = None
    if mutate is not None:
        target = mutate(a, b, out)
        try:
            target *= -1.5
            refused = False
        except ValueError:
            refused = True
    weights = np.linspace(0.5, 1.5, out.size).reshape(out.shape)
    (out * weights).sum().backward()
    return a.grad, b.grad, refused


@pytest.mark.parametrize("name", sorted(SAVED))
@pytest.mark.parametrize("which", ["a", "b", "out"])
def test_no_in_place_write_after_the_forward_changes_a_built_in_gradient(name, which):
    fn = SAVED[name]
    ga, gb, _ = _grads(fn)
    pick = {"a": lambda a, b, o: a.data, "b": lambda a, b, o: b.data, "out": lambda a, b, o: o.data}[which]
    ga2, gb2, refused = _grads(fn, pick)
    if not refused:
        for got, want in ((ga2, ga), (gb2, gb)):
            assert (got is None) == (want is None)
            if want is not None:
                np.testing.assert_array_equal(got, want)


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


# ----------------------------------------------------------------------------- saved-data protection
def test_an_array_saved_by_two_graphs_is_writable_only_when_both_are_done():
    x = tg.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    a = (x * x).sum()
    b = (x * 3.0 * x).sum()
    assert not x.data.flags.writeable
    a.backward()
    assert not x.data.flags.writeable  # b's graph still reads x
    with tg.no_grad(), pytest.raises(RuntimeError, match="saved by"):
        x -= 1.0
    b.backward()
    assert x.data.flags.writeable
    with tg.no_grad():
        x -= 1.0
    assert x.data.tolist() == [-0.5, 0.5]


# ----------------------------------------------------------------------------- saved-data bookkeeping
def test_an_array_saved_by_three_graphs_stays_read_only_until_the_last_is_done():
    x = tg.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    graphs = [(x * k).sum() for k in (1.0, 2.0, 3.0)]  # three records, each keeps x.data
    for done, L in enumerate(graphs[:-1], 1):
        L.backward()
        assert not x.data.flags.writeable, f"writable after {done} of 3 graphs were freed"
    graphs[-1].backward()
    assert x.data.flags.writeable
    assert x.grad.tolist() == [6.0, 6.0]


@tg.defop("product3", saves=(0, 1, 2), rules=(lambda F, g, out, a, b, c: g * b * c,
                                               lambda F, g, out, a, b, c: g * a * c,
                                               lambda F, g, out, a, b, c: g * a * b))
def _product3(a, b, c):
    """a ⊙ b ⊙ c (a fresh array, saving its three inputs)."""
    return a * b * c


def test_a_view_released_before_its_base_becomes_writable_when_the_base_does():
    # a saves the view v (and so x, its memory); c saves x itself and, after it, a view u of y, which d
    # still saves: when c is freed x becomes writable, u cannot yet, and v (waiting on x) must follow x
    x = np.ones(6)
    v = x[:3]
    y = np.ones(6)
    u = y[1:]
    w = tg.Tensor(np.ones(3), requires_grad=True)
    L6 = tg.Tensor(np.ones(5), requires_grad=True)
    a = (w * v).sum()
    c = _product3(L6, x[1:], u).sum()  # keeps, in this order: L6's data, x[1:], x, u, y (u last: it cannot be freed)
    d = (tg.Tensor(np.ones(6), requires_grad=True) * y).sum()
    a.backward()
    assert not v.flags.writeable and not x.flags.writeable  # c still reads x
    c.backward()
    assert x.flags.writeable and v.flags.writeable  # v's base is free: v with it
    assert not u.flags.writeable  # d still reads y
    d.backward()
    assert y.flags.writeable and u.flags.writeable
    v[0] = 7.0  # the user's arrays are theirs again
    assert x[0] == 7.0


def test_the_cycle_collector_runs_only_when_it_can_change_the_answer(monkeypatch):
    calls = []
    monkeypatch.setattr(saved, "collect_dead_graphs", lambda: calls.append(1))
    x = tg.Tensor(np.array([0.5, 1.5]), requires_grad=True, name="x")
    free = np.ones(2)
    # every in-place update asks (collect=True); an unsaved array, the common case, must not cost a collection
    assert saved.describe_saved(free, collect=True) is None and calls == []
    y = (x * x).sum()
    assert "'x' is saved by 1 live recorded op(s)" in saved.describe_saved(x.data, "x")
    assert calls == []  # without collect=True, as documented, it never collects
    assert saved.describe_saved(x.data, "x", collect=True) is not None and calls == [1]
    del y


@tg.defop("same", saves=(0,), rules=(lambda F, g, out, a: g,))
def _same(a):
    """a itself (the very array): an op that returns its input unchanged."""
    return a


def test_an_op_that_returns_its_input_keeps_that_input_read_only_while_alive():
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = _same(x)
    assert y.data is x.data and not x.data.flags.writeable  # the leaf's array, counted like any saved one
    with tg.no_grad(), pytest.raises(RuntimeError, match="saved by 1 live recorded op"):
        x += 1.0
    (y * 3.0).sum().backward()
    assert x.data.flags.writeable and x.grad.tolist() == [3.0, 3.0]


def _dropped(make):
    """The arrays ``make()`` returns, after the tensors holding the graph are dropped unfreed."""
    import gc

    arrays, keep = make()
    del keep
    gc.collect()
    return arrays


def test_graphs_dropped_without_backward_give_every_array_back():
    x = tg.Tensor(np.arange(4.0), requires_grad=True)

    def no_saved_arrays():  # add saves nothing: only the fresh output is protected, by its record
        y = x + 1.0
        return [y.data], y

    def a_view_output():  # reshape's output is a view of the leaf's data: both are counted
        y = x.reshape(2, 2)
        return [y.data, x.data], y

    frozen = np.full(4, 3.0)
    frozen.setflags(write=False)

    def inputs_already_read_only():  # another record's output and the user's frozen array: nothing counted
        a = x * 2.0
        b = a * frozen
        return [b.data, a.data], (a, b)

    for make in (no_saved_arrays, a_view_output, inputs_already_read_only):
        for arr in _dropped(make):
            assert arr.flags.writeable, make.__name__
    assert not saved._SAVED  # nothing left in the registry


def test_a_non_finite_seed_of_a_leaf_root_is_an_anomaly():
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with tg.detect_anomaly(), pytest.raises(tg.AnomalyError, match="non-finite gradient"):
        x.backward(np.array([np.nan, 1.0]))
    x.backward(np.array([np.nan, 1.0]))  # without anomaly mode: the gradient asked for, NaN included
    assert np.isnan(x.grad[0]) and x.grad[1] == 1.0


# ----------------------------------------------------------------------------- the freed skeleton
def _freed_graph():
    W = tg.Tensor(np.ones((2, 2)), requires_grad=True, name="W")
    small = np.array([1.0, 2.0])  # ≤ 4 values: the skeleton keeps them, for the drawing
    large = np.arange(6.0).reshape(2, 3)  # more: only its shape
    bias = tg.Tensor(np.array([0.5, 0.25]), name="bias")  # a named constant tensor
    h = (W * small + bias).tanh()
    h.name = "h"
    L = ((h @ large) * 2.0).sum()
    L.backward()
    return W, L, small, large


def test_a_freed_graph_keeps_its_skeleton_and_no_array():
    W, L, small, large = _freed_graph()
    recs = [rec for rec, _ in tg.graph_of(L)]
    assert [r.op.name for r in recs] == ["mul", "add", "tanh", "matmul", "mul", "sum"]
    mul, add, tanh, matmul, scale, total = recs
    assert mul.inputs[0] is W  # a parameter: the user's own leaf, kept for its .grad
    stub = mul.inputs[1]
    assert type(stub) is tape.Stub and stub.shape == (2,) and stub.name is None
    np.testing.assert_array_equal(stub.value, small)
    assert stub.value is not small  # a copy: the caller's array can change
    assert add.inputs[0] is mul and type(add.inputs[1]) is tape.Stub and add.inputs[1].name == "bias"
    assert tanh.inputs == (add,)
    big = matmul.inputs[1]
    assert matmul.inputs[0] is tanh and type(big) is tape.Stub and big.shape == (2, 3) and big.value is None
    assert scale.inputs == (matmul, 2.0) and total.inputs == (scale,)
    assert tanh.out_name == "h"  # names survive for the drawing
    for r in recs:
        assert r.freed and r.parents == () and r.saved == () and r.guard is None and r.out is None
        assert not any(isinstance(x, np.ndarray) for x in r.inputs)  # no intermediate array survives


@pytest.mark.parametrize("size, kept", [(3, True), (4, True), (5, False)])
def test_a_stub_keeps_values_up_to_four_elements(size, kept):
    s = tape.Stub(np.arange(float(size)))
    assert s.shape == (size,) and (s.value is not None) == kept
    t = tape.Stub(tg.Tensor(np.arange(float(size)), name="c"))
    assert t.name == "c" and t.shape == (size,) and (t.value is not None) == kept


def test_the_skeleton_of_inputs_that_are_not_plain_arrays():
    class Param:  # a duck-typed leaf that requires grad
        requires_grad = True
        shape = (2,)

    class Shaped:  # something array-like without a record
        requires_grad = False
        shape = (3,)

        def __array__(self, dtype=None, copy=None):
            return np.zeros(3)

    p, s = Param(), Shaped()
    assert tape._skeleton(p) is p
    assert type(tape._skeleton(s)) is tape.Stub and tape._skeleton(s).shape == (3,)
    assert tape._skeleton(2.5) == 2.5
    y = tg.Tensor(np.ones(2), requires_grad=True) * 3.0
    assert tape._skeleton(y) is y.record
    c = tg.Tensor(np.ones(2))
    assert type(tape._skeleton(c)) is tape.Stub


def test_a_freed_graph_is_drawn_with_its_names_and_tiny_values():
    from tinygrad_rnn import viz

    _, L, _, _ = _freed_graph()
    src = viz.draw(L).source
    assert "<B>h</B>" in src and "<B>bias</B>" in src and "[1, 2]" in src


def test_a_freed_records_output_array_is_writable_again():
    x = tg.Tensor(np.array([0.3, 0.7]), requires_grad=True)
    y = x.tanh()
    assert not y.data.flags.writeable  # saved by the live graph (tanh's rule reads its output)
    y.sum().backward()
    assert y.data.flags.writeable
    y.data[0] = 5.0  # allowed now: no graph reads it
