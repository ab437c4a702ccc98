"""Contracts the mutation run found unpinned (make mutation; tools/mutation_score.py): what a freed
graph keeps, what a rule may return, what static arguments and foreign inputs become, and the
exact advice of the in-place refusals.  Each test states behaviour a user can see."""

from __future__ import annotations

import mmap
import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import saved, tape


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


# ----------------------------------------------------------------------------- what a rule may return
def _op_returning(value):
    @tg.defop(f"returns_{type(value).__name__}")
    def op(x):
        return x * 1.0, (lambda g: value,)

    return op


@pytest.mark.parametrize("bad, what", [("abc", "str"), (b"abc", "bytes"), (object(), "object")])
def test_a_rule_that_returns_no_array_is_named(bad, what):
    x = tg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(tg.GradientShapeError) as e:
        _op_returning(bad)(x).sum().backward()
    assert re.fullmatch(rf"backward rule 'returns_{what}' \(tape #\d+\) returned {what} for input 0 of shape "
                        r"\(3,\); a rule must return an array \(use None in the rules tuple for inputs without a "
                        r"gradient\)", str(e.value)), str(e.value)


def test_a_rule_may_return_a_python_number_for_a_scalar_input():
    x = tg.Tensor(np.array(2.0), requires_grad=True)
    _op_returning(3.0)(x).backward()
    assert x.grad == 3.0 and x.grad.dtype == np.float64 and type(x.grad) is np.ndarray


def test_a_rule_that_returns_complex_or_object_gradients_is_named():
    x = tg.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(tg.GradientShapeError) as e:
        _op_returning(np.ones(2, dtype=complex))(x).sum().backward()
    assert re.fullmatch(r"backward rule 'returns_ndarray' \(tape #\d+\) returned a gradient of dtype complex128 for "
                        r"input 0 of shape \(2,\); expected a real floating-point array", str(e.value)), str(e.value)


def test_a_gradient_has_its_inputs_dtype():
    x = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    _op_returning(np.array([1, 2, 3]))(x).sum().backward()  # an integer gradient from a user's rule
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [1.0, 2.0, 3.0]
    y = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    (y * np.float64(2.0)).sum().backward()
    assert y.grad.dtype == np.float32


def test_a_broadcast_gradient_of_a_scalar_input_is_an_array():
    x = tg.Tensor(np.array(2.0), requires_grad=True)
    (x * np.ones((3, 4))).sum().backward()
    assert type(x.grad) is np.ndarray and x.grad.shape == () and x.grad == 12.0


# ----------------------------------------------------------------------------- sparse gradients
def _sparse_rule(values, shape):
    @tg.defop("sparse_rule")
    def op(x):
        return x * 1.0, (lambda g: tg.SparseGrad(np.array([0]), values, shape, np.float64, True),)

    return op


def test_a_sparse_gradient_for_the_wrong_shape_is_named():
    x = tg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(tg.GradientShapeError) as e:
        _sparse_rule(np.ones(1), (4,))(x).sum().backward()
    assert re.fullmatch(r"backward rule 'sparse_rule' \(tape #\d+\) returned a sparse gradient for shape \(4,\) "
                        r"for input 0 of shape \(3,\)", str(e.value)), str(e.value)


def test_a_non_finite_sparse_gradient_is_named_like_a_dense_one():
    x = tg.Tensor(np.ones(3), requires_grad=True, name="x")
    dense = tg.Tensor(np.ones(3), requires_grad=True, name="x")
    with tg.detect_anomaly(), pytest.raises(Exception) as sparse_err:
        _sparse_rule(np.array([np.nan]), (3,))(x).sum().backward()
    with tg.detect_anomaly(), pytest.raises(Exception) as dense_err:
        _op_returning(np.array([np.nan, 0.0, 0.0]))(dense).sum().backward()
    assert type(sparse_err.value) is type(dense_err.value)
    s, d = str(sparse_err.value), str(dense_err.value)
    assert re.sub(r"'\w+' \(tape #\d+\)", "RULE", s) == re.sub(r"'\w+' \(tape #\d+\)", "RULE", d), (s, d)
    assert "sparse_rule" in s and "input 0" in s


def test_sparse_gradients_accumulate_into_a_dense_grad_in_place_of_each_other():
    x = tg.Tensor(np.zeros(4), requires_grad=True)
    idx = np.array([1, 1, 3])
    (x[idx] * np.array([1.0, 2.0, 3.0])).sum().backward()
    (x[idx] * np.array([1.0, 2.0, 3.0])).sum().backward()  # a second backward adds to the first
    assert x.grad.tolist() == [0.0, 6.0, 0.0, 6.0]
    y = tg.Tensor(np.zeros(4), requires_grad=True)
    z = y[idx].sum() + y[np.array([3])].sum()  # two sparse contributions in one walk
    z.backward()
    assert y.grad.tolist() == [0.0, 2.0, 0.0, 2.0]


# ----------------------------------------------------------------------------- static arguments and inputs
def test_a_list_static_argument_changed_after_the_forward_does_not_change_the_gradient():
    x = tg.Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    axes = [2, 0, 1]
    w = np.random.default_rng(0).standard_normal((4, 2, 3))
    y = (tg.transpose(x, axes) * w).sum()
    axes.reverse()  # the caller reuses its list
    y.backward()
    np.testing.assert_array_equal(x.grad, np.transpose(w, np.argsort([2, 0, 1])))


def test_an_array_static_argument_is_a_frozen_copy():
    x = tg.Tensor(np.array([-2.0, 0.5, 3.0]), requires_grad=True)
    lo, hi = np.array([-1.0, -1.0, -1.0]), np.array([1.0, 1.0, 1.0])
    y = tg.clip(x, lo, hi)
    lo[:] = -10.0
    hi[:] = 10.0  # changing the caller's arrays changes nothing recorded
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]
    kept = [v for v in y.record.kwargs.values() if isinstance(v, np.ndarray)] if y.record is not None else []
    assert all(not v.flags.writeable for v in kept)


def test_inputs_over_memory_numpy_does_not_own_are_copied(tmp_path):
    buf = bytearray(np.array([1.0, 2.0]).tobytes())
    over = np.frombuffer(buf, dtype=np.float64)  # a view of a bytearray: its owner can write it
    x = tg.Tensor(np.array([3.0, 4.0]), requires_grad=True)
    y = (x * over).sum()
    buf[:8] = np.array([100.0]).tobytes()
    y.backward()
    assert x.grad.tolist() == [1.0, 2.0]
    path = tmp_path / "m.bin"
    np.array([5.0, 6.0]).tofile(path)
    mm = np.memmap(path, dtype=np.float64, mode="r+", shape=(2,))
    z = tg.Tensor(np.array([1.0, 1.0]), requires_grad=True)
    w = (z * mm).sum()
    mm[:] = 0.0
    w.backward()
    assert z.grad.tolist() == [5.0, 6.0]


def test_a_view_input_is_kept_and_its_base_protected():
    base = np.array([1.0, 2.0, 3.0, 4.0])
    view = base[1:3]
    x = tg.Tensor(np.ones(2), requires_grad=True)
    y = (x * view).sum()
    with pytest.raises(ValueError, match="read-only"):
        base[1] = 50.0
    y.backward()
    assert x.grad.tolist() == [2.0, 3.0]


def test_a_list_of_numbers_is_an_input_of_our_own_and_a_list_of_words_is_refused():
    x = tg.Tensor(np.array([1.0, 1.0]), requires_grad=True)
    c = [3.0, 4.0]
    y = (x * c).sum()
    c[0] = 0.0
    y.backward()
    assert x.grad.tolist() == [3.0, 4.0]
    with pytest.raises(Exception) as e:
        x * ["a", "b"]
    assert "Traceback" not in str(e.value) and str(e.value)


# ----------------------------------------------------------------------------- in-place advice, exactly
def test_in_place_refusals_give_the_exact_advice():
    p = tg.Tensor(np.ones(3), requires_grad=True, name="p")
    with pytest.raises(RuntimeError) as e:
        p -= 1.0
    assert str(e.value) == (
        "-=: 'p' is a leaf tensor that requires grad; updating it in place while recording would leave the update "
        "out of its graph (PyTorch refuses too). For a parameter update write `with tg.no_grad(): p -= ...`; for a "
        "new recorded value write `x = x - ...`")
    y = (p * 2.0)[1:]
    with pytest.raises(RuntimeError) as e:
        y *= 2.0
    assert re.fullmatch(
        r"\*=: .* is a view recorded by op 'getitem' \(tape #\d+\); in this engine views and slices are copies in "
        r"the graph, so an in-place update could not reach the tensor it came from \(PyTorch's would\)\. Write it "
        r"out of place: `y = y \* \.\.\.`, or build the whole new tensor \(tg\.where, tg\.concatenate\)",
        str(e.value)), str(e.value)
    z = p * 2.0
    with pytest.raises(ValueError) as e:
        z += np.ones((2, 3))
    assert str(e.value).endswith("an in-place update cannot change them (numpy refuses too): write `x = x + ...`")


def test_a_recorded_in_place_update_keeps_the_name():
    p = tg.Tensor(np.ones(3), requires_grad=True)
    h = p * 2.0
    h.name = "h"
    h += 1.0
    assert h.name == "h" and h.data.tolist() == [3.0, 3.0, 3.0]


def test_why_a_tensor_is_read_only_is_said_exactly():
    x = tg.Tensor(np.array([0.3, 0.7]), requires_grad=True)
    y = x.tanh()
    y.name = "y"
    with tg.no_grad(), pytest.raises(RuntimeError) as e:
        y += 1.0
    assert re.fullmatch(r"\+=: cannot update 'y' in place: .*'tanh' \(tape #\d+\).*", str(e.value)), str(e.value)
    c = tg.Tensor(np.ones(3), name="c")
    c.data.setflags(write=False)  # the user froze it
    with pytest.raises(RuntimeError) as e:
        c += 1.0
    assert str(e.value) == ("+=: cannot update 'c' in place: 'c''s data array is read-only (a broadcast view or a "
                            "frozen array); change a copy (t.copy())")
    s = tg.Tensor(np.ones(2), requires_grad=True)
    q = s * 2.0
    q.name = "q"
    r = q * q  # q is saved by a live graph, and is itself a live op's output
    with tg.no_grad(), pytest.raises(RuntimeError) as e:
        q += 1.0
    assert "'q'" in str(e.value) and "mul" in str(e.value)
    del r


# ----------------------------------------------------------------------------- contexts and accumulation
def test_contexts_exited_out_of_order_are_refused_in_words():
    outer, inner = tg.no_grad(), tg.scope("s")
    outer.__enter__()
    inner.__enter__()
    try:
        with pytest.raises(RuntimeError) as e:
            outer.__exit__(None, None, None)
        assert str(e.value) == ("tinygrad_rnn: recording contexts (no_grad, scope, tag, ...) were exited out of "
                                "order in this thread; exit the innermost first")
    finally:
        inner.__exit__(None, None, None)
        outer.__exit__(None, None, None)
    assert tg.is_grad_enabled() and tg.current_scope() == ""


def test_only_a_scope_gives_a_value_to_as():
    with tg.no_grad() as a, tg.enable_grad() as b, tg.tag(eq=1) as c:
        assert (a, b, c) == (None, None, None)
    with tg.scope("t=1") as s, tg.scope("inner") as t:
        assert (s, t) == ("t=1", "t=1/inner")


def test_an_existing_grad_of_the_wrong_shape_is_named_with_the_rule():
    x = tg.Tensor(np.ones(3), requires_grad=True)
    x.grad = np.zeros(2)
    with pytest.raises(tg.GradientShapeError) as e:
        (x * 2.0).sum().backward()
    assert re.fullmatch(r"'mul' \(tape #\d+\): existing \.grad of shape \(2,\) does not match its tensor of shape "
                        r"\(3,\)", str(e.value)), str(e.value)


@pytest.mark.parametrize("how", ["-=", "setitem", ".data ="])
def test_a_parameter_saved_by_a_graph_that_died_in_a_cycle_can_be_updated_in_place(how):
    import gc

    W = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True, name="W")

    def forward_that_fails():
        loss = (W * W).sum()
        try:
            raise ValueError("boom")
        except ValueError as e:
            err = e  # the frame holds e, e's traceback the frame: the graph lives in a cycle
        return err, loss

    gc.disable()
    try:
        err, loss = forward_that_fails()
        del err, loss
        with tg.no_grad():
            if how == "-=":
                W -= 0.5
            elif how == "setitem":
                W[...] = np.array([0.5, 1.5])
            else:
                W.data = np.array([0.5, 1.5])
    finally:
        gc.enable()
    assert W.data.tolist() == [0.5, 1.5]


# ----------------------------------------------------------------------------- where the walk starts
def test_backward_refuses_what_it_cannot_start_from_in_words():
    c = tg.Tensor(np.ones(2))
    with pytest.raises(RuntimeError) as e:
        c.sum().backward()
    assert str(e.value) == ("backward: this tensor does not require grad and has no recorded history (was it computed "
                            "inside no_grad(), or from inputs without requires_grad=True?)")
    x = tg.Tensor(np.ones(3), requires_grad=True)
    y = x * 2.0
    with pytest.raises(TypeError) as e:
        y.backward(np.array([1.0, None, 2.0], dtype=object))
    assert str(e.value) == ("backward: grad must be a real numeric array of shape (3,), got dtype object "
                            "(a None or non-number inside it?)")
    with pytest.raises(TypeError) as e:
        y.backward(np.ones(3, dtype=complex))
    assert str(e.value) == "backward: grad must be a real numeric array of shape (3,), got dtype complex128"
    with pytest.raises(ValueError, match=r"^backward: grad has shape \(2,\) but the output has shape \(3,\)$"):
        y.backward(np.ones(2))
    z = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    (z * 2.0).backward(np.array([1, 2, 3]))  # an integer seed: the output's dtype
    assert z.grad.dtype == np.float32 and z.grad.tolist() == [2.0, 4.0, 6.0]


# ----------------------------------------------------------------------------- one freeing walk at a time
def test_a_graph_being_walked_refuses_a_second_walk_in_words_and_is_released_after():
    from tinygrad_rnn import backward as bw

    x = tg.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    loss = (x * x).tanh().sum()
    order = tg.tape_of(loss)
    bw.claim(order, exclusive=True)  # as a freeing backward() in another thread would
    try:
        for kwargs in ({}, {"retain_graph": True}):
            with pytest.raises(RuntimeError) as e:
                loss.backward(**kwargs)
            assert re.fullmatch(r"backward: the graph through '\w+' \(tape #\d+\) is being walked by another "
                                r"backward\(\) right now \(in another thread\); a graph can be walked by one "
                                r"backward\(\) that frees it, or by several with retain_graph=True, but not both "
                                r"at once", str(e.value)), str(e.value)
        assert x.grad is None  # refused before touching anything
    finally:
        bw.release(order, exclusive=True)
    bw.claim(order, exclusive=False)  # a walk that keeps the graph: others that keep it may join...
    bw.claim(order, exclusive=False)
    try:
        loss.backward(retain_graph=True)
        with pytest.raises(RuntimeError, match="being walked by another backward"):
            loss.backward()  # ...but a freeing one may not
    finally:
        bw.release(order, exclusive=False)
        bw.release(order, exclusive=False)
    loss.backward()  # all released: the freeing walk goes through
    np.testing.assert_allclose(x.grad, 2 * (2 * x.data * (1 - np.tanh(x.data * x.data) ** 2)), rtol=1e-15)


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


# ----------------------------------------------------------------------------- an op call
def test_an_op_with_the_wrong_number_of_rules_is_named():
    @tg.defop("two_rules_for_one")
    def bad(x):
        return x * 2.0, (lambda g: g, lambda g: g)

    with pytest.raises(tg.OpDefinitionError) as e:
        bad(tg.Tensor(np.ones(2), requires_grad=True))
    assert str(e.value) == ("op 'two_rules_for_one' returned 2 VJP rule(s) for 1 positional input(s); return exactly "
                            "one per input (None for inputs without a gradient)")


def test_a_tensor_subclass_is_an_input_like_any_tensor():
    class Named(tg.Tensor):
        pass

    x = Named(np.array([1.0, 2.0]), requires_grad=True)
    y = tg.Tensor(np.array([3.0, 4.0]), requires_grad=True)
    (x * y).sum().backward()
    assert x.grad.tolist() == [3.0, 4.0] and y.grad.tolist() == [1.0, 2.0]
    c = Named(np.array([1.0, 1.0]))  # a constant subclass instance: no gradient, still an input
    (c * y).sum().backward()
    assert c.grad is None and y.grad.tolist() == [2.0, 3.0]


def test_an_ops_output_starts_unnamed_and_keeps_no_grad():
    x = tg.Tensor(np.ones(2), requires_grad=True, name="x")
    y = x * 2.0
    assert y.name is None and y.retains_grad is False and y.grad is None
    y.sum().backward()
    assert y.grad is None


def test_a_rule_receives_its_outputs_dtype_whatever_the_rule_after_it_gave():
    seen = []

    @tg.defop("records_g_dtype")
    def ident(x):
        def rule(g):
            seen.append(g.dtype)
            return g

        return x.copy(), (rule,)

    x = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    (ident(x) * np.float64(2.0)).sum().backward()  # mul's rule computes g·2.0 in float64
    assert seen == [np.float32] and x.grad.dtype == np.float32


def test_the_advice_names_the_operator_as_written():
    p = tg.Tensor(np.ones(3), requires_grad=True, name="p")
    for symbol, write in (("**=", "**"), ("@=", "@")):
        with pytest.raises(RuntimeError) as e:
            if symbol == "**=":
                p **= 2.0
            else:
                p @= np.eye(3)
        assert str(e.value).startswith(f"{symbol}: 'p' is a leaf tensor") and \
            str(e.value).endswith(f"write `x = x {write} ...`"), str(e.value)


def test_the_output_of_a_live_graph_is_read_only_in_words():
    x = tg.Tensor(np.array([0.3, 0.7]), requires_grad=True)
    y = x * 2.0  # mul's rules read its inputs, not its output: y is not saved, but its graph is alive
    y.name = "y"
    with tg.no_grad(), pytest.raises(RuntimeError) as e:
        y += 1.0
    assert re.fullmatch(r"\+=: cannot update 'y' in place: 'y' is the output of recorded op 'mul' \(tape #\d+\), "
                        r"whose graph is alive and may read it in backward\(\): call backward\(\) first, compute it "
                        r"under tg\.no_grad\(\), or change a copy \(t\.detach\(\)\.copy\(\)\)", str(e.value)), str(e.value)


def test_the_suspect_search_reads_sparse_gradients_of_indexing_rules():
    """gradcheck's search runs every rule on numpy, getitem's too, whose gradient is a SparseGrad:
    it is densified like any other (the wrong rule after it is the one named)."""
    @tg.defop("wrong_cube")
    def wrong_cube(x):
        return x ** 3, (lambda g: g * 2 * x,)  # bug: 3 x²

    with pytest.raises(tg.GradcheckError, match=r"suspect rule: 'wrong_cube' \(tape #\d+\), input 0"):
        tg.gradcheck(lambda t: wrong_cube(t[1:]).sum(), [np.array([0.5, 1.0, 2.0])])


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
