"""The op protocol and the recorded walk through closure ops, pinned down where the mutation run of
the core (``make mutation``) found behaviour no test asserted: ops defined at run time (``saves=``,
``ctx=``, ``*args``, docstrings), the messages of a broken forward, and ``tg.grad`` through an op
whose rules are numpy closures (issue 23)."""

from __future__ import annotations

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


# ----------------------------------------------------------------------------- the observed walk
class _Recorder:
    def __init__(self):
        self.added_to = []
        self.gx = []

    def arrive(self, rec, g):
        pass

    def added(self, rec, i, x, gx, total):
        self.added_to.append(x)
        self.gx.append(gx)


def test_the_observed_walk_keeps_dtypes_checks_anomalies_and_names_rules():
    from tinygrad_rnn.backward import backward

    x = tg.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = (x * 3.0).sum()
    seen = _Recorder()
    backward(y, None, observer=seen)
    assert seen.added_to[-1] is x and seen.gx[-1].dtype == np.float32
    z = tg.Tensor([0.0, 1.0], requires_grad=True)
    with tg.detect_anomaly(), np.errstate(divide="ignore"):
        w = z.sqrt().sum()  # d√z/dz = inf at 0
        with pytest.raises(tg.AnomalyError, match=r"backward rule 'sqrt' \(tape #\d+\) produced a non-finite "
                                                   r"gradient for input 0 of shape \(2,\)"):
            backward(w, None, observer=_Recorder())

    @tg.defop("bad_shape_rule")
    def bad(x):
        return np.asarray(x) * 1.0, (lambda g: np.ones(3),)

    with pytest.raises(tg.GradientShapeError, match=r"'bad_shape_rule' \(tape #\d+\) returned a gradient of shape "
                                                     r"\(3,\) for input 0 of shape \(2,\)"):
        backward(bad(z).sum(), None, observer=_Recorder())


# ----------------------------------------------------------------------------- in place, the last details
def test_setitem_under_no_grad_takes_a_tensor_that_requires_grad_by_its_values():
    c = tg.zeros(2)
    w = tg.Tensor([7.0], requires_grad=True)
    with tg.no_grad():
        c[:1] = w  # (numpy itself would refuse: np.asarray of a tensor that requires grad)
    assert c.data.tolist() == [7.0, 0.0]


def test_an_in_place_update_with_something_that_is_not_an_array_says_what_it_was():
    class Shaped:  # has a shape, no dtype
        shape = (2,)

    t = tg.Tensor(np.zeros(2), name="t")
    with pytest.raises(ValueError, match=r"^\+=: cannot update 't' \(shape \(2,\), dtype float64\) in place with "
                                         r"shape \(2,\), dtype \?: "):
        u = t
        u += Shaped()


# ----------------------------------------------------------------------------- the recorded walk's details
def test_backward_with_create_graph_on_a_leaf_accumulates_the_seed():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    x.backward(np.array([3.0, 4.0]), create_graph=True)
    x.backward(np.array([1.0, 1.0]), create_graph=True)
    assert x.grad.data.tolist() == [4.0, 5.0]


def test_a_rule_returning_a_python_number_in_the_recorded_walk():
    @tg.defop("int_rule", rules=(lambda F, g, y, x: 2,))
    def twice(x):
        return np.asarray(x) * 2.0

    g = tg.grad(lambda t: twice(t))(np.array(1.5))
    assert g.dtype == np.float64 and g.item() == 2.0


def test_undoing_broadcasting_in_the_recorded_walk_records_one_sum():
    y = tg.Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)  # so the gradient has a history
    g = tg.grad(lambda a: (a * y).sum())(np.ones((1, 4)))
    y = y.data
    np.testing.assert_array_equal(g.data, y.sum(axis=0, keepdims=True))
    sums = [r for r, _ in tg.graph_of(g) if r.name == "sum" and r.tags.get("grad_of") == "mul"]
    assert len(sums) == 1 and sums[0].kwargs == {"axis": (0,), "keepdims": True}


def test_a_graph_walked_by_a_recorded_walk_cannot_be_freed_under_it():
    """A rule that runs during a walk (here a closure rule under tg.grad) and starts another walk of the
    same graph: a second walk that keeps the graph is fine, a freeing one is refused until both ended."""
    seen = {}

    @tg.defop("meddles")
    def meddles(x):
        def rule(g):
            if "inner" in seen:  # (the second walk runs this rule too)
                return g * 2.0
            seen["inner"] = None
            inner = tg.gradients(seen["root"], [seen["x"]])  # a second walk that keeps the graph
            seen["inner"] = inner[0].data.copy()
            try:
                seen["root"].backward()  # a freeing walk while both hold the graph
            except RuntimeError as e:
                seen["refused"] = str(e)
            return g * 2.0
        return np.asarray(x) * 2.0, (rule,)

    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    seen["x"] = x
    h = meddles(x)
    seen["root"] = (h * 1.0).sum()
    (g,) = tg.gradients(seen["root"], [x])
    assert g.data.tolist() == [2.0, 2.0] and seen["inner"].tolist() == [2.0, 2.0]
    assert "is being walked by another backward() right now" in seen["refused"]


def test_the_setitem_message_for_an_unnamed_tensor_names_its_shape_once():
    t = tg.zeros(2)
    with pytest.raises(IndexError) as info:
        t[5] = 1.0
    assert str(info.value) == ("t[...] = v: cannot assign a float into a tensor of shape (2,) at 5: "
                               "index 5 is out of bounds for axis 0 with size 2")


def test_graph_of_visits_each_record_once_even_through_a_ladder_of_fan_outs():
    """40 diamonds in a row: walking every path would visit 2⁴⁰ records; graph_of must stay linear."""
    x = tg.Tensor([1.0], requires_grad=True)
    h = x
    for _ in range(40):
        h = h * 0.5 + h * 0.25
    records = tg.graph_of(h)
    assert len(records) == 120 and len({id(r) for r, _ in records}) == 120


def test_a_closure_rule_in_the_recorded_walk_cannot_write_into_a_cotangent_it_does_not_own():
    @tg.defop("writes_g_again")
    def writes_g_again(x):
        def rule(g):
            g *= 2.0
            return g
        return np.asarray(x) * 2.0, (rule,)

    v = tg.Tensor(np.array([1.0, 10.0]), requires_grad=True)  # the caller's cotangent: a leaf, writable
    xt = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"backward rule 'writes_g_again' .* tried to write in place"):
        tg.gradients(writes_g_again(xt), [xt], grad_outputs=v)
    assert v.data.tolist() == [1.0, 10.0]  # and the caller's array is as it was


def test_a_closure_rule_that_returns_float64_for_a_float32_input_gives_float32_in_the_recorded_walk():
    @tg.defop("ones_rule")
    def ones_rule(x):
        return np.asarray(x) * 1.0, (lambda g: np.ones(g.shape, dtype=np.float64) * g.astype(np.float64),)

    x = tg.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    g = tg.grad(lambda t: ones_rule(t).sum())(x)
    assert g.dtype == np.float32 and g.data.tolist() == [1.0, 1.0]
