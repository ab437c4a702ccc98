"""Defining an op (``defop``): the forward's contract, the rules and what they may return, static
arguments and the inputs an op copies, sparse gradients, an op call's details, ops defined at run
time, and the closure form in a recorded walk."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_rnn as tg


# ----------------------------------------------------------------------------- defop at run time
def test_saves_protects_exactly_the_declared_inputs():
    @tg.defop("mul_saving_a", saves=(0,), rules=(lambda F, g, y, a, b: g * b, lambda F, g, y, a, b: g * a))
    def mul_a(a, b):
        """a·b, declaring (wrongly, on purpose) that only a is read."""
        return np.multiply(a, b)

    a, b = tg.Tensor([1.0, 2.0], requires_grad=True), tg.Tensor([3.0, 4.0], requires_grad=True)
    y = mul_a(a, b)
    assert not a.data.flags.writeable and b.data.flags.writeable and not y.data.flags.writeable
    assert mul_a.saves == (0,) and mul_a.input_saves == (0,)
    assert mul_a.__doc__.startswith("a·b, declaring") and mul_a.__name__ == "mul_a"

    @tg.defop("reads_only_out", saves=("out",), rules=(lambda F, g, y, a: g * y,))
    def expo(a):
        return np.exp(a)

    assert expo.input_saves == ()
    z = expo(a)
    assert a.data.flags.writeable is False  # (still saved by mul_a's record)
    del y
    assert a.data.flags.writeable  # expo saves no input
    assert not z.data.flags.writeable  # ... but keeps its output


def test_saves_must_name_inputs_or_out():
    with pytest.raises(ValueError, match=r"defop: saves must hold input positions and/or 'out', got \('bad',\)"):
        tg.defop("bad_saves", saves=("bad",))(lambda x: (x, (None,)))
    ok = tg.defop("both_saves", saves=("out", 0))(lambda x: (np.asarray(x) * 1.0, (lambda g: g,)))
    assert ok.saves == ("out", 0) and ok.input_saves == (0,)


def test_a_runtime_op_with_context_and_one_with_any_number_of_inputs():
    def rule(F, g, out, x, ctx=None):
        return g * ctx

    @tg.defop("scale_by_ctx", rules=(rule,), ctx=True)
    def scale(x):
        return np.asarray(x) * 3.0, 3.0

    assert scale.has_ctx is True
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    scale(x).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    assert tg.grad(lambda t: scale(t).sum())(np.array([1.0])).data.tolist() == [3.0]

    @tg.defop("sum_all", rules=(lambda F, g, out, *xs, i=0: g,))
    def sum_all(*xs):
        return np.add.reduce([np.asarray(v) for v in xs])

    assert sum_all.n_inputs is None
    u, v, w = (tg.Tensor([float(k)], requires_grad=True) for k in range(3))
    sum_all(u, v, w).sum().backward()
    assert [t.grad.tolist() for t in (u, v, w)] == [[1.0], [1.0], [1.0]]


def test_the_messages_of_a_forward_that_breaks_the_contract():
    def bad(result):
        return tg.defop("broken")(lambda x: result)

    x = tg.Tensor([1.0])
    expect = ("op 'broken': the forward must return (output, vjps) with vjps a tuple of one rule per input, "
              "e.g. `return y, (lambda g: g * dy_dx,)`; got ")
    with pytest.raises(tg.OpDefinitionError) as info:
        bad((1, 2, 3))(x)
    assert str(info.value) == expect + "a tuple of 3 items"
    with pytest.raises(tg.OpDefinitionError) as info:
        bad(np.ones(1))(x)
    assert str(info.value) == expect + "a ndarray"
    with pytest.raises(tg.OpDefinitionError) as info:
        bad((np.ones(1), [None]))(x)
    assert str(info.value) == expect + "a list as the rules"


def test_a_forward_error_is_reraised_with_the_op_and_the_input_shapes():
    class Odd(ValueError):  # an exception type whose constructor takes two arguments
        def __init__(self, a, b):
            super().__init__(f"{a}/{b}")

    @tg.defop("raises_odd")
    def raises_odd(x, f):
        raise Odd("left", "right")

    with pytest.raises(ValueError) as info:
        raises_odd(tg.Tensor([1.0, 2.0]), len)
    assert str(info.value) == "raises_odd: left/right (input shapes (2,), ?)"  # ? for a callable input


# ----------------------------------------------------------------------------- ops defined at run time
def test_a_runtime_op_with_static_arguments_and_differentiable_rules():
    @tg.defop("scaled_sum", saves=(), rules=(lambda F, g, out, x, axis=None, scale=1.0:
                                              F.spread(g * scale, (1,) * np.ndim(F.value(x)) if axis is None else
                                                       tuple(1 if k == axis else n
                                                             for k, n in enumerate(np.shape(F.value(x)))),
                                                       np.shape(F.value(x)), F.value(x).dtype),))
    def scaled_sum(x, axis=None, scale=1.0):
        return np.sum(x, axis=axis) * scale

    assert scaled_sum.n_inputs == 1 and scaled_sum.static == ("axis", "scale")
    x = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = scaled_sum(x, 0, 2.0)  # static arguments positionally
    assert y.record.kwargs == {"axis": 0, "scale": 2.0}
    np.testing.assert_array_equal(y.data, [6.0, 10.0, 14.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))
    with pytest.raises(TypeError, match="scaled_sum: got 'axis' both positionally and by keyword"):
        scaled_sum(x, 0, axis=1)
    assert tg.gradgradcheck(lambda t: scaled_sum(t * t, 1, 0.5).sum(), [np.arange(1.0, 7.0).reshape(2, 3)])


def test_defop_declarations_are_checked():
    with pytest.raises(ValueError, match="defop: an op needs a non-empty string name"):
        tg.defop("")(lambda x: x)
    with pytest.raises(ValueError, match="saves must hold input positions and/or 'out'"):
        tg.defop("bad_saves", saves=("nope",))(lambda x: (x, (None,)))
    with pytest.raises(ValueError, match="defop 'two_rules': 2 rule\\(s\\) for 1 input\\(s\\)"):
        tg.defop("two_rules", rules=(None, None))(lambda x: x)


def test_rule_count_mismatch_names_the_op():
    @tg.defop("one_rule_two_inputs")
    def bad(a, b):
        return a + b, (lambda g: g,)

    with pytest.raises(tg.OpDefinitionError, match="op 'one_rule_two_inputs' returned 1 VJP rule\\(s\\) for 2"):
        bad(tg.Tensor([1.0], requires_grad=True), 1.0)


def test_a_runtime_closure_op_saves_every_input_by_default():
    c = np.array([1.0, 2.0])

    @tg.defop("times_c")
    def times_c(x, k):
        return x * k, (lambda g: g * k, None)

    x = tg.Tensor([1.0, 1.0], requires_grad=True)
    y = times_c(x, c)
    with pytest.raises(ValueError):
        c[0] = 5.0  # the constant the rule reads is kept read-only
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])
    c[0] = 5.0


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


# ----------------------------------------------------------------------------- closure ops in the recorded walk
@tg.defop("closure_cube")
def _cube(x):
    return x ** 3, (lambda g: g * 3.0 * x ** 2,)


def test_a_closure_op_under_a_cotangent_that_requires_grad():
    x = np.array([1.0, 2.0])
    v = tg.Tensor([1.0, 10.0], requires_grad=True)
    xt = tg.Tensor(x, requires_grad=True)
    (g,) = tg.gradients(_cube(xt), [xt], grad_outputs=v)
    np.testing.assert_array_equal(g.data, 3.0 * x ** 2 * np.array([1.0, 10.0]))
    # the result depends on v through the closure's rule, which has no derivative: an error, never a zero
    with pytest.raises(RuntimeError, match=r"'closure_cube' \(tape #\d+\) has only a numpy backward rule"):
        tg.gradients(g.sum(), [v])


def test_a_closure_rule_that_writes_into_g_is_named_in_the_recorded_walk_too():
    @tg.defop("writes_g")
    def writes_g(x):
        def rule(g):
            g *= 2.0
            return g
        return np.asarray(x) * 2.0, (rule,)

    with pytest.raises(RuntimeError, match=r"backward rule 'writes_g' .* tried to write in place"):
        tg.grad(lambda t: writes_g(t).sum())(np.array([1.0]))


def test_a_closure_gradient_keeps_the_inputs_dtype_and_its_shape_is_checked():
    g = tg.grad(lambda t: _cube(t).sum())(tg.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True))
    assert g.dtype == np.float32

    @tg.defop("wrong_shape")
    def wrong_shape(x):
        return np.asarray(x) * 1.0, (lambda g: np.ones(5),)

    with pytest.raises(tg.GradientShapeError, match=r"'wrong_shape' .* gradient of shape \(5,\) for input 0 of shape \(2,\)"):
        tg.grad(lambda t: wrong_shape(t).sum())(np.array([1.0, 2.0]))


def test_the_no_higher_order_message_whole():
    g = tg.grad(lambda t: _cube(t).sum())(np.array([1.0]))
    with pytest.raises(RuntimeError) as info:
        g.sum().backward()
    assert str(info.value).endswith(
        "has only a numpy backward rule (closures), so it has no higher-order gradient; define it with "
        "defop(name, rules=...) to differentiate its backward pass")


def test_an_op_constructed_directly_has_no_context_unless_asked():
    op = tg.Op("double_direct", lambda x: np.asarray(x) * 2.0, rules=(lambda F, g, y, x: g * 2.0,))
    assert op.has_ctx is False
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    op(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_a_closure_op_below_a_rule_that_returns_a_plain_array():
    @tg.defop("const_grad", rules=(lambda F, g, y, x: np.full(np.shape(F.value(x)), 2.0),))
    def const_grad(x):
        return np.asarray(x) * 2.0  # its rule hands the walk a numpy array, not a Tensor

    g = tg.grad(lambda t: const_grad(_cube(t)).sum())(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g.data, 2.0 * 3.0 * np.array([1.0, 4.0]))
