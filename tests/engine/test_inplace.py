"""In-place updates (``-= += *= /= **= @=``, ``t[i] = v``, ``t.data = a``): numpy's and PyTorch's
result, or a clear error, never a name silently rebound while the tensor it named stays as it was.
Each case of issue 23 §1 and §2 (".data reassignment") has its test here; expected values come from
numpy itself, PyTorch float64 where it applies (tests/engine/test_vs_torch.py), or arithmetic by hand."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import optim


def _param(values, name="p"):
    return tg.Tensor(np.array(values, dtype=np.float64), requires_grad=True, name=name)


# ----------------------------------------------------------------------------- rule 1: nothing recorded
@pytest.mark.parametrize("symbol, expected", [
    ("+=", [1.5, 2.5]), ("-=", [0.5, 1.5]), ("*=", [0.5, 1.0]), ("/=", [2.0, 4.0]), ("**=", [1.0, 2.0 ** 0.5]),
])
def test_the_manual_sgd_idiom_moves_the_parameter_the_model_holds(symbol, expected):
    p = _param([1.0, 2.0])
    model = {"p": p}  # what the model holds: the same object
    with tg.no_grad():
        exec(f"p {symbol} 0.5", {}, {"p": p})
    np.testing.assert_allclose(model["p"].data, expected, rtol=0, atol=1e-15)
    assert model["p"].requires_grad and model["p"].is_leaf


def test_p_minus_equals_lr_grad_after_backward_is_one_sgd_step():
    p = _param([1.0, -2.0])
    held = p
    ((p * p).sum()).backward()  # grad = 2p
    with tg.no_grad():
        p -= 0.25 * p.grad
    assert held is p
    np.testing.assert_array_equal(held.data, [0.5, -1.0])


def test_in_place_on_a_view_without_a_graph_writes_through_as_numpy_does():
    x = tg.Tensor(np.arange(4.0))
    y = x[:2]
    y *= -1
    np.testing.assert_array_equal(x.data, [-0.0, -1.0, 2.0, 3.0])
    a = np.arange(4.0)
    b = a[:2]
    b *= -1
    np.testing.assert_array_equal(x.data, a)  # numpy's own answer
    z = x[[0, 1]]  # advanced indexing is a copy in numpy (and PyTorch): no write-through
    z += 100
    np.testing.assert_array_equal(x.data, a)


def test_in_place_with_no_grad_anywhere_is_in_place_even_while_recording():
    acc = tg.zeros(3)
    alias = acc
    for k in range(3):
        acc += tg.ones(3) * k
    assert alias is acc
    np.testing.assert_array_equal(alias.data, [3.0, 3.0, 3.0])


def test_in_place_refuses_a_parameter_a_live_graph_saved_and_names_it_and_the_op():
    p = _param([1.0, 2.0], name="W")
    loss = (p * p).sum()  # mul saved p
    with tg.no_grad(), pytest.raises(RuntimeError, match=r"-=: cannot update 'W' in place: 'W' is saved by 1 live recorded op.*'mul'"):
        p -= 1.0
    np.testing.assert_array_equal(p.data, [1.0, 2.0])  # nothing changed
    loss.backward()
    np.testing.assert_array_equal(p.grad, [2.0, 4.0])
    with tg.no_grad():
        p -= 1.0  # freed: allowed now
    np.testing.assert_array_equal(p.data, [0.0, 1.0])


def test_in_place_refuses_an_intermediate_whose_graph_is_alive_under_no_grad():
    x = _param([1.0, 2.0])
    h = x.tanh()
    loss = h.sum()
    with tg.no_grad(), pytest.raises(RuntimeError, match=r"\+=: .*output of recorded op 'tanh'"):
        h += 1.0
    loss.backward()
    np.testing.assert_allclose(x.grad, 1 - np.tanh([1.0, 2.0]) ** 2, rtol=1e-15)


def test_in_place_broadcast_and_casting_errors_are_numpys_in_one_line():
    t = tg.Tensor(np.zeros(2))
    with pytest.raises(ValueError, match=r"\+=: cannot update a tensor of shape \(2,\).*in place with shape \(3, 2\)"):
        t += np.ones((3, 2))
    i = tg.Tensor(np.arange(3))
    with pytest.raises(ValueError, match=r"/=: cannot update .*dtype int64"):
        i /= 2  # numpy refuses to cast float into int64 in place
    a = np.arange(3)
    with pytest.raises(Exception):
        a /= 2  # (numpy's own refusal: the oracle)


def test_matmul_in_place_keeps_the_shape_or_refuses():
    t = tg.Tensor(np.eye(2) * 2)
    t @= np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(t.data, [[2.0, 4.0], [6.0, 8.0]])
    with pytest.raises(ValueError, match=r"@=.*product has shape \(2, 3\)"):
        t @= np.ones((2, 3))


# ----------------------------------------------------------------------------- rule 2: leaf that requires grad
@pytest.mark.parametrize("symbol", ["+=", "-=", "*=", "/=", "**=", "@="])
def test_in_place_on_a_parameter_while_recording_is_pytorchs_error(symbol):
    p = _param(np.eye(2))
    before = p.data.copy()
    ns = {"p": p, "v": np.eye(2)}
    with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad.*with tg.no_grad\(\)"):
        exec(f"p {symbol} v", {}, ns)
    np.testing.assert_array_equal(p.data, before)
    assert ns["p"] is p


# ----------------------------------------------------------------------------- rule 3: recorded, rebound
def test_loss_plus_equals_term_in_a_loop_records_one_add_per_step_and_is_differentiable():
    x = _param([0.5, -1.0])
    loss = (x * 0).sum()
    for k in range(1, 4):
        loss += (x * k).sum()  # intermediate: recorded out of place, the name rebound
    loss.backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])


def test_a_constant_updated_by_a_tensor_that_requires_grad_is_recorded():
    w = _param([1.0, 2.0])
    acc = tg.zeros(2)
    acc += w * 3
    assert acc.op == "add"
    acc.sum().backward()
    np.testing.assert_array_equal(w.grad, [3.0, 3.0])


def test_in_place_on_a_recorded_view_is_refused_not_silently_kept_from_the_base():
    x = _param([1.0, 2.0, 3.0])
    for make in (lambda t: t[:2], lambda t: t.reshape(3, 1), lambda t: t.T):
        y = make(x * 1.0)
        with pytest.raises(RuntimeError, match=r"\*=: .*view recorded by op .*slices are copies"):
            y *= -1


def test_recorded_in_place_refuses_a_change_of_shape():
    x = _param([1.0, 2.0])
    h = x * 1.0
    with pytest.raises(ValueError, match=r"\+=: the result has shape \(3, 2\).*cannot change them"):
        h += np.ones((3, 2))


# ----------------------------------------------------------------------------- t[index] = v
def test_setitem_under_no_grad_is_numpys_assignment():
    p = _param([1.0, 2.0, 3.0])
    with tg.no_grad():
        p[0] = 5.0
        p[1:] = tg.Tensor([7.0, 8.0])
    np.testing.assert_array_equal(p.data, [5.0, 7.0, 8.0])


def test_setitem_while_recording_refuses_with_the_out_of_place_spelling():
    p = _param([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"cannot assign into 'p' \(a leaf tensor that requires grad\).*tg.where"):
        p[0] = 0.0
    h = p * 2
    with pytest.raises(RuntimeError, match=r"recorded by op 'mul'"):
        h[0] = 0.0
    np.testing.assert_array_equal(p.data, [1.0, 2.0])


def test_setitem_into_saved_data_names_the_tensor_and_the_op():
    p = _param([1.0, 2.0], name="W")
    loss = (p ** 3).sum()
    with tg.no_grad(), pytest.raises(RuntimeError, match=r"cannot assign into 'W': 'W' is saved .*'pow'"):
        p[0] = 0.0
    loss.backward()
    np.testing.assert_array_equal(p.grad, [3.0, 12.0])


# ----------------------------------------------------------------------------- t.data = array
def test_reassigning_an_intermediates_data_while_its_graph_lives_is_refused():
    # issue 23's repro: this gave [1.98, 1.98]; correct (2 tanh'(x)) is [1.573, 0.840]
    x = _param([0.3, 0.7])
    h = x.tanh()
    L = (2 * h).sum()
    with pytest.raises(RuntimeError, match=r"\.data = \.\.\.: .*output of recorded op 'tanh'"):
        h.data = np.clip(h.data, -0.1, 0.1)
    L.backward()
    np.testing.assert_allclose(x.grad, 2 * (1 - np.tanh([0.3, 0.7]) ** 2), rtol=1e-15)


def test_reassigning_saved_leaf_data_before_a_higher_order_backward_is_refused():
    # issue 23's repro: gave [1, 4]; correct 3x² is [3, 12]
    x = _param([1.0, 2.0])
    L = (x ** 3).sum()
    with pytest.raises(RuntimeError, match=r"\.data = \.\.\.: cannot replace the data of 'p': .*'pow'"):
        x.data = 0 * x.data
    L.backward(create_graph=True)
    np.testing.assert_array_equal(x.grad.data, [3.0, 12.0])


def test_reassigning_a_parameter_to_another_shape_is_refused():
    # issue 23: a leaf re-pointed to another broadcastable shape got its gradient summed into it
    x = _param([1.0, 2.0, 3.0])
    L = (x + 1.0).sum()  # add saves nothing, so only the shape check stands between
    with pytest.raises(ValueError, match=r"requires grad and has shape \(3,\).*new array has shape \(1,\)"):
        x.data = np.array([5.0])
    L.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])


def test_reassigning_data_when_safe_works_and_copies_foreign_memory():
    p = _param([1.0, 2.0])
    p.data = np.array([3.0, 4.0])  # no graph: fine, same shape
    np.testing.assert_array_equal(p.data, [3.0, 4.0])
    c = tg.Tensor([0.0])
    buf = bytearray(np.array([1.0, 2.0]).tobytes())
    c.data = np.frombuffer(buf, dtype=np.float64)  # memory numpy does not own: copied
    buf[:8] = np.array([9.0]).tobytes()
    np.testing.assert_array_equal(c.data, [1.0, 2.0])
    h = p * 2
    h.sum().backward()
    h.data = np.zeros(2)  # its graph is freed: allowed
    assert h.data.tolist() == [0.0, 0.0]


# ----------------------------------------------------------------------------- optimizers
def test_an_optimizer_step_is_checked_whole_before_anything_is_written():
    a, b = _param([1.0, 2.0], "a"), _param([3.0], "b")
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(2)
    b.grad = np.ones(3)  # wrong shape: Adam used to update `a`, then fail on `b` with numpy's error
    with pytest.raises(ValueError, match=r"Adam.step: the gradient of 'b' has shape \(3,\).*expected shape \(1,\).*nothing was updated"):
        opt.step()
    np.testing.assert_array_equal(a.data, [1.0, 2.0])
    assert opt.steps == 0 and not opt.m[0].any()


def test_an_optimizer_steps_with_gradients_that_hold_tensors():
    p = _param([1.0, 2.0])
    (p ** 2).sum().backward(create_graph=True)  # p.grad is a Tensor with history, which saved p
    assert isinstance(p.grad, tg.Tensor)
    opt = optim.SGD([p], lr=0.5)
    with pytest.raises(RuntimeError, match=r"SGD.step: cannot update 'p' in place: 'p' is saved .*'pow'"):
        opt.step()  # the gradient's own graph still reads p: refusing keeps its second derivative right
    p.grad = p.grad.detach()  # a Tensor without history: its values are the step
    opt.step()
    np.testing.assert_array_equal(p.data, [0.0, 0.0])


# ----------------------------------------------------------------------------- the messages, whole
# Each refusal is a one-line message that names the tensor, the op and what to do instead; these are
# compared whole, so a message that loses its subject or its advice fails here.
def _message(call):
    with pytest.raises(Exception) as info:
        call()
    return f"{type(info.value).__name__}: {info.value}"


def test_the_in_place_messages_whole():
    p = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True, name="p")

    def setitem_out_of_range():
        with tg.no_grad():
            p[5] = 1.0

    assert _message(setitem_out_of_range) == (
        "IndexError: t[...] = v: cannot assign a float into 'p' of shape (3,) at 5: "
        "index 5 is out of bounds for axis 0 with size 3")
    c = tg.zeros(2)

    def assign_a_recorded_value_into_a_constant():
        c[0] = p[0]

    assert _message(assign_a_recorded_value_into_a_constant) == (
        "RuntimeError: t[...] = v: cannot assign into a tensor of shape (2,) (a constant) while recording: the "
        "assignment would not be part of the graph. For a parameter write `with tg.no_grad(): p[...] = v`; for a "
        "recorded value build it out of place, e.g. `x = tg.where(mask, v, x)`")

    def bad_dtype():
        p.data = np.array(["a"])

    assert _message(bad_dtype) == (
        "TypeError: .data = ...: 'p' cannot hold dtype <U1 (use a float, integer or bool dtype)")
    h = p * 2

    def reassign_intermediate():
        h.data = np.zeros(3)

    assert _message(reassign_intermediate) == (
        "RuntimeError: .data = ...: a tensor of shape (3,) is the output of recorded op 'mul' "
        f"(tape #{h.record.seq}), whose graph is alive and reads the output it computed; reassigning it would "
        "change the coming gradient. Call backward() first, or detach() it")

    def reassign_saved():
        p.data = np.zeros(3)

    assert _message(reassign_saved) == (
        "RuntimeError: .data = ...: cannot replace the data of 'p': 'p' is saved by 1 live recorded op(s), first by "
        f"op 'mul' (tape #{h.record.seq}), and is read-only until that graph is freed: call backward() first "
        "(without retain_graph=True), or drop the graph (del the output), or compute it under tg.no_grad(); "
        "to change a copy, use x.detach().copy()")
    h = None  # the graph goes
    q = tg.Tensor([1.0, 2.0], requires_grad=True, name="q")

    def reshape_parameter():
        q.data = np.zeros(3)

    assert _message(reshape_parameter) == (
        "ValueError: .data = ...: 'q' requires grad and has shape (2,), dtype float64; the new array has shape "
        "(3,), dtype float64. A gradient of the old shape would be summed into the new one, so a change of shape "
        "or dtype is refused: make a new Tensor")
    t = tg.Tensor(np.zeros(2), name="t")

    def broadcast_into():
        u = t
        u += np.ones((3, 2))

    assert _message(broadcast_into) == (
        "ValueError: +=: cannot update 't' (shape (2,), dtype float64) in place with shape (3, 2), dtype float64: "
        "non-broadcastable output operand with shape (2,) doesn't match the broadcast shape (3,2)")

    def add_a_string():
        u = t
        u += "x"

    assert _message(add_a_string).startswith(
        "ValueError: +=: cannot update 't' (shape (2,), dtype float64) in place with a str: ")


def test_assigning_a_value_that_requires_grad_into_a_constant_while_recording_is_refused():
    w = _param([1.0, 2.0])
    c = tg.zeros(2)
    with pytest.raises(RuntimeError, match=r"\(a constant\) while recording"):
        c[0] = w[0]
    assert c.data.tolist() == [0.0, 0.0]
    with tg.no_grad():
        c[0] = w[1]  # nothing recorded: numpy's assignment of its value (a Tensor that requires grad is fine)
        c[1:] = w[:1]
    assert c.data.tolist() == [2.0, 1.0]


def test_data_assignment_shares_memory_as_pytorch_does_and_copies_only_foreign_memory():
    p = _param([1.0, 2.0])
    a = np.array([3.0, 4.0])
    p.data = a
    assert p.data is a  # PyTorch's `.data =` shares the storage too
    base = np.arange(4.0)
    p.data = base[:2]
    assert np.shares_memory(p.data, base)  # a view of a numpy array is kept
    q = _param([0.0, 0.0])
    p.data = q  # a Tensor (that requires grad): its array
    assert p.data is q.data
    buf = bytearray(np.arange(4.0).tobytes())
    view_of_foreign = np.frombuffer(buf, dtype=np.float64)[::2]
    p.data = view_of_foreign
    assert not np.shares_memory(p.data, view_of_foreign)  # memory numpy does not own: copied
    np.testing.assert_array_equal(p.data, [0.0, 2.0])


def test_data_assignment_after_a_graph_died_in_a_cycle_is_allowed():
    import gc

    x = _param([1.0, 2.0], name="x")

    def fails():
        loss = (x * x).sum()
        try:
            raise ValueError
        except ValueError as e:
            err = e
        return err, loss

    gc.disable()
    try:
        err, loss = fails()
        del err, loss
        x.data = np.array([5.0, 6.0])  # the dead graph is collected first, then the assignment is safe
    finally:
        gc.enable()
    assert x.data.tolist() == [5.0, 6.0]


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
