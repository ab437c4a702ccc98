"""The walk's details a user can see: where it starts, how contexts and accumulation meet, the
observed walk (the step-through page's numbers) and the recorded walk."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_rnn as tg


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
