"""Never a silently wrong gradient: saved-data mutation, threads, and the rule contract.

Each test here failed on the engine before these guards existed (a wrong ``.grad`` with no
error, or state leaking between threads); each now gets an error or the right number.
"""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_table import SAVED, _A, _B  # (the one op table: tests/engine/op_table.py)

import tinygrad_rnn as tg


# ============================================================================ 1. mutation after the forward
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


def _two_layer_net(seed=0):
    rng = np.random.default_rng(seed)
    W1 = tg.Tensor(rng.standard_normal((4, 3)), requires_grad=True, name="W1")
    W2 = tg.Tensor(rng.standard_normal((2, 4)), requires_grad=True, name="W2")
    xs = rng.standard_normal((5, 3))
    return W1, W2, lambda: ((xs @ W1.T).tanh() @ W2.T).sum()


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


# ============================================================================ 2. per-thread recording state
def _run(*targets):
    errors = []

    def wrap(f):
        def run():
            try:
                f()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def test_another_threads_no_grad_does_not_drop_ops_from_this_graph():
    inside, done = threading.Event(), threading.Event()
    result = {}

    def evaluator():
        with tg.no_grad():
            inside.set()
            done.wait(10)

    def trainer():
        inside.wait(10)
        x = tg.Tensor([1.0, 2.0], requires_grad=True)
        (x * x + 3.0 * x).sum().backward()  # d/dx = 2x + 3
        result["grad"] = x.grad
        result["enabled"] = tg.is_grad_enabled()
        done.set()

    _run(evaluator, trainer)
    np.testing.assert_array_equal(result["grad"], [5.0, 7.0])
    assert result["enabled"] and tg.is_grad_enabled()


def test_an_evaluator_in_no_grad_next_to_a_trainer_never_breaks_a_backward():
    W1, W2, f = _two_layer_net()
    f().backward()
    expected = W1.grad.copy(), W2.grad.copy()
    stop = threading.Event()
    failures = []

    def evaluator():
        while not stop.is_set():
            with tg.no_grad():
                out = f()
                assert out.record is None

    def trainer():
        try:
            for _ in range(200):
                W1.grad = W2.grad = None
                f().backward()
                if not (np.array_equal(W1.grad, expected[0]) and np.array_equal(W2.grad, expected[1])):
                    failures.append("wrong gradient")
        finally:
            stop.set()

    _run(evaluator, trainer)
    assert not failures


def test_overlapping_no_grad_blocks_in_two_threads_restore_each_thread():
    steps = [threading.Event() for _ in range(4)]
    seen = {}

    def a():
        with tg.no_grad():
            steps[0].set()
            steps[1].wait(10)  # B has entered too
        seen["a_after"] = tg.is_grad_enabled()
        steps[2].set()  # A left first

    def b():
        steps[0].wait(10)
        with tg.no_grad():
            steps[1].set()
            steps[2].wait(10)
            seen["b_inside"] = tg.is_grad_enabled()
        seen["b_after"] = tg.is_grad_enabled()

    _run(a, b)
    assert seen == {"a_after": True, "b_inside": False, "b_after": True}
    assert tg.is_grad_enabled()


def test_concurrent_scopes_tags_and_anomaly_mode_stay_in_their_thread():
    barrier = threading.Barrier(2, timeout=10)
    recs = {}

    def worker(name):
        def run():
            x = tg.Tensor([1.0, -1.0], requires_grad=True)
            with tg.scope(name), tg.tag(who=name):
                barrier.wait()
                y = x.tanh()
                barrier.wait()
                with np.errstate(invalid="ignore"):  # (numpy's error state is per thread too)
                    z = (y * 2.0).log()  # log of a negative: NaN; only the anomaly thread may complain
            recs[name] = (y.record.scope, y.record.tags, z.record.scope, tg.current_scope())
        return run

    def anomalous():
        with tg.detect_anomaly(), np.errstate(invalid="ignore"):
            barrier.wait()
            barrier.wait()
            with pytest.raises(tg.AnomalyError):
                tg.Tensor([-1.0], requires_grad=True).log()

    with np.errstate(invalid="ignore"):
        _run(worker("left"), anomalous)
        barrier.reset()
        _run(worker("left"), worker("right"))
    assert recs["left"] == ("left", {"who": "left"}, "left", "")
    assert recs["right"] == ("right", {"who": "right"}, "right", "")


def test_tape_positions_increase_in_each_graph_built_concurrently():
    out = {}

    def build(k):
        def run():
            x = tg.Tensor(np.ones(3), requires_grad=True)
            h = x
            for _ in range(300):
                h = (h * 0.5 + x).tanh()
            seqs = [t.record.seq for t in h.history()]
            h.sum().backward()
            out[k] = (seqs, x.grad.copy())
        return run

    _run(build(0), build(1))
    for seqs, grad in out.values():
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    np.testing.assert_array_equal(out[0][1], out[1][1])


# ============================================================================ 3. the checker cannot pass what it should fail
@tg.defop("nan_rule")
def _nan_rule(x):
    return x * 1.0, (lambda g: np.full(np.shape(g), np.nan),)


NAN_CASES = {
    "log at -1": (lambda x: x.log().sum(), [[-1.0]]),
    "sqrt at 0": (lambda x: x.sqrt().sum(), [[0.0]]),
    "all-NaN rule": (lambda x: _nan_rule(x).sum(), [[1.0, 2.0]]),
}


@pytest.mark.parametrize("case", sorted(NAN_CASES))
@pytest.mark.parametrize("fast", [False, True])
def test_gradcheck_fails_on_non_finite_values_and_says_which(case, fast):
    fn, inputs = NAN_CASES[case]
    with np.errstate(all="ignore"):
        assert tg.gradcheck(fn, inputs, fast_mode=fast, raise_exception=False) is False
        with pytest.raises(tg.GradcheckError, match=r"(analytic|numeric) .*gradient is non-finite.*move the point"):
            tg.gradcheck(fn, inputs, fast_mode=fast)


def test_assert_grad_close_fails_on_nan():
    from tinygrad_rnn.testing import assert_grad_close

    with np.errstate(all="ignore"), pytest.raises(tg.GradcheckError, match="non-finite"):
        assert_grad_close(lambda x: _nan_rule(x).sum(), [np.array([1.0])])


@pytest.mark.parametrize("fast", [False, True])
def test_gradcheck_negative_control_passes_at_a_finite_point(fast):
    assert tg.gradcheck(lambda x: x.log().sum() + x.sqrt().sum(), [[0.5, 2.0]], fast_mode=fast)


# ============================================================================ 4. regressions found by the peers' suites
def test_max_and_min_over_all_of_a_transposed_tensor():
    a = tg.Tensor([[1.0, 5.0], [3.0, 2.0]], requires_grad=True)
    a.T.max().backward()
    np.testing.assert_array_equal(a.grad, [[0, 1], [0, 0]])
    b = tg.Tensor([[4.0, 5.0], [0.5, 2.0]], requires_grad=True)
    b.T.min().backward()
    np.testing.assert_array_equal(b.grad, [[0, 0], [1, 0]])


def test_a_tuple_of_ints_as_an_index_accumulates_repeats():
    x = tg.Tensor(np.ones((3, 2)), requires_grad=True)
    x[(0, 0), :].sum().backward()
    np.testing.assert_array_equal(x.grad, [[2, 2], [0, 0], [0, 0]])
    y = tg.Tensor(np.ones(3), requires_grad=True)
    y[[1, 1, 1]].sum().backward()
    np.testing.assert_array_equal(y.grad, [0, 3, 0])


def test_pow_limits_at_zero_are_zero_not_nan():
    x = tg.Tensor(0.0, requires_grad=True)
    (x ** 0).backward()
    assert x.grad == 0.0
    y = tg.Tensor(2.0, requires_grad=True)
    (tg.Tensor(0.0) ** y).backward()
    assert y.grad == 0.0
    z = tg.Tensor([0.0, 2.0], requires_grad=True)
    (z ** 2.0).sum().backward()
    np.testing.assert_array_equal(z.grad, [0.0, 4.0])


def test_sigmoid_keeps_relative_precision_for_negative_inputs():
    x = tg.Tensor([-30.0, -40.0, -700.0, 30.0], requires_grad=True)
    y = x.sigmoid()
    exact = np.exp([-30.0, -40.0, -700.0]) / (1 + np.exp([-30.0, -40.0, -700.0]))
    np.testing.assert_allclose(y.data[:3], exact, rtol=1e-15)
    lx = tg.Tensor(-40.0, requires_grad=True)
    ls = lx.sigmoid().log()
    ls.backward()
    assert ls.item() == pytest.approx(-40.0, rel=1e-15) and lx.grad == pytest.approx(1.0, rel=1e-15)


def test_static_arguments_can_be_passed_positionally_while_recording():
    x = tg.Tensor(np.arange(120.0).reshape(4, 30), requires_grad=True)
    assert tg.sum(x, 0).shape == (30,)
    assert tg.reshape(x, (20, 6)).shape == (20, 6)
    assert tg.softmax(x, 0).shape == (4, 30)
    assert tg.max(x, 1, True).shape == (4, 1)
    with pytest.raises(TypeError, match="sum: takes 1 input"):
        tg.sum(x, 0, False, 3)


def test_zero_dim_and_empty_edge_cases():
    s = tg.Tensor(3.0, requires_grad=True)
    y = s.softmax()
    assert y.item() == 1.0
    y.backward()
    assert s.grad == 0.0
    assert tg.Tensor(2.0).sum(0).item() == 2.0
    with pytest.raises(ValueError, match="axis 1 is out of bounds"):
        tg.Tensor(2.0).sum(1)
    assert tg.Tensor([False, True]).min().item() is False
    assert tg.Tensor([False, True]).max().item() is True
    e = tg.Tensor(np.zeros((2, 0)), requires_grad=True)
    assert e.softmax().shape == (2, 0) and e.log_softmax(axis=1).shape == (2, 0)


@pytest.mark.parametrize("grad", [np.array([1 + 1j, 2.0]), [1.0, None], ["a", "b"]])
def test_backward_refuses_a_complex_or_non_numeric_grad(grad):
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="backward: grad must be a real numeric array"):
        (x * 2.0).backward(grad)
    assert x.grad is None


def test_defop_mistakes_name_the_op():
    @tg.defop("only_array")
    def only_array(x):
        return x * 2.0

    @tg.defop("not_a_tuple")
    def not_a_tuple(x):
        return x * 2.0, lambda g: g

    @tg.defop("none_grad")
    def none_grad(x):
        return x * 2.0, (lambda g: None,)

    @tg.defop("str_grad")
    def str_grad(x):
        return x * 2.0, (lambda g: "oops",)

    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(tg.OpDefinitionError, match="op 'only_array': the forward must return"):
        only_array(x)
    with pytest.raises(tg.OpDefinitionError, match="op 'not_a_tuple'.*got a function as the rules"):
        not_a_tuple(x)
    for op, kind in ((none_grad, "NoneType"), (str_grad, "str")):
        with pytest.raises(tg.GradientShapeError, match=f"'{op.name}'.*returned {kind} for input 0"):
            op(x).sum().backward()


def test_comparisons_are_elementwise_and_tensors_still_hash_by_identity():
    x = tg.Tensor([0.0, 1.0, 0.0])
    assert (x == 0).tolist() == [True, False, True] and (x != 0).tolist() == [False, True, False]
    np.testing.assert_array_equal(tg.where(x == 0, 5.0, x).data, [5.0, 1.0, 5.0])
    a, b = tg.Tensor(1.0), tg.Tensor(1.0)
    assert len({a, b}) == 2 and {a: 1, b: 2}[a] == 1


def test_a_one_element_tensor_formats_like_a_float():
    assert f"{tg.Tensor(1.23456):.3f}" == "1.235"
    assert f"{tg.Tensor([2.5]):g}" == "2.5"
    with pytest.raises(TypeError, match="only one-element tensors"):
        f"{tg.Tensor([1.0, 2.0]):.2f}"


def test_sparse_gradient_after_a_fan_out_copies_before_adding():
    # add hands p and q the same upstream array; the slice's sparse gradient for p arrives later
    # and must not be added into that shared array (the copy-on-write step in Gradients.add)
    def f(p, q):
        s = p[0:2]
        r = p + q
        return (r * np.arange(1.0, 5.0)).sum() + (s * 10.0).sum()

    p = tg.Tensor(np.ones(4), requires_grad=True)
    q = tg.Tensor(np.ones(4), requires_grad=True)
    f(p, q).backward()
    np.testing.assert_array_equal(p.grad, [11, 12, 3, 4])
    np.testing.assert_array_equal(q.grad, [1, 2, 3, 4])
    p2, q2 = tg.Tensor(np.ones(4), requires_grad=True), tg.Tensor(np.ones(4), requires_grad=True)
    s = p2 * 1.0  # not a leaf: its gradient waits in the walk's pending table
    head = s[0:2]  # recorded first, so its sparse gradient arrives last, after add shared g
    out = ((s + q2) * np.arange(1.0, 5.0)).sum() + (head * 10.0).sum()
    out.backward()
    np.testing.assert_array_equal(p2.grad, [11, 12, 3, 4])
    np.testing.assert_array_equal(q2.grad, [1, 2, 3, 4])


def test_the_walk_and_tape_do_not_import_tensor():
    import ast
    import inspect

    from tinygrad_rnn import backward, op, recording, saved, tape

    for module in (recording, saved, tape, backward, op):
        tree = ast.parse(inspect.getsource(module))
        typing_only = {id(inner) for n in ast.walk(tree) if isinstance(n, ast.If)
                       and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING" for inner in n.body}
        run = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and id(n) not in typing_only]
        imported = {a.name for n in run for a in n.names}
        modules = {n.module for n in run}
        assert "Tensor" not in imported and "tensor" not in modules, module.__name__  # (annotations aside)


def test_the_walk_reads_on_one_screen():
    import inspect

    from tinygrad_rnn import backward

    body = [ln for ln in inspect.getsource(backward.walk).splitlines()
            if ln.strip() and not ln.strip().startswith(("#", '"""', "@"))]
    assert len(body) <= 25, len(body)


def test_one_walk_and_one_broadcasting_step_in_the_whole_engine():
    """Every order (backward, observed, create_graph, tg.grad) runs backward.walk; only
    backward.fit_gradient undoes broadcasting (finds the size-1 axes a gradient is summed over)."""
    import re
    from pathlib import Path

    import tinygrad_rnn

    walks, fits = [], []
    for path in sorted(Path(tinygrad_rnn.__file__).parent.rglob("*.py")):
        text = path.read_text()
        walks += [(path.name, m.group(0)) for m in re.finditer(r"for \w+ in reversed\(", text)]
        fits += [(path.name, m.group(1)) for m in re.finditer(r"n == 1 and (\w+)\.shape\[k\] != 1", text)]
    assert walks == [("backward.py", "for t in reversed(")], walks
    assert fits == [("backward.py", "g")], fits


@settings(max_examples=30)
@given(st.lists(st.sampled_from(["mul", "tanh", "add_x", "slice"]), min_size=1, max_size=8))
def test_threads_building_the_same_program_agree_with_one_thread(program):
    def run():
        x = tg.Tensor(np.linspace(0.1, 0.9, 4), requires_grad=True)
        h = x
        for step in program:
            if step == "mul":
                h = h * 1.1
            elif step == "tanh":
                h = h.tanh()
            elif step == "add_x":
                h = h + x
            else:
                h = tg.concatenate([h[0:2] * 2.0, h[2:]])
        h.sum().backward()
        return x.grad

    expected = run()
    got = []
    _run(*[lambda: got.append(run()) for _ in range(3)])
    for g in got:
        np.testing.assert_array_equal(g, expected)


def test_one_op_protocol_the_closure_form_is_known_in_op_py_only():
    """The tape and the walk see rules only: the closure form is adapted in one place
    (op.ClosureRule); no other engine file tells the two forms apart."""
    import re
    from pathlib import Path

    import tinygrad_rnn

    tells_apart = re.compile(r"ClosureRule|arrays is None|rules is None|closure rule")
    found = sorted({path.name for path in Path(tinygrad_rnn.__file__).parent.rglob("*.py")
                    if tells_apart.search(path.read_text())})
    assert found == ["op.py"], found


def test_a_closure_op_is_recorded_with_rules_and_agrees_with_its_rules_form():
    @tg.defop("cube_closure")
    def cube_closure(x):
        return x ** 3, (lambda g: g * 3.0 * x ** 2,)

    @tg.defop("cube_rules", rules=(lambda F, g, y, x: g * 3.0 * x * x,))
    def cube_rules(x):
        return x ** 3

    x0 = np.array([0.5, -1.5, 2.0])
    grads = []
    for op in (cube_closure, cube_rules):
        x = tg.Tensor(x0, requires_grad=True)
        y = op(x)
        rec = y.record
        assert rec.arrays is not None and all(callable(r) for r in rec.vjps)  # the same record shape
        y.sum().backward()
        grads.append(x.grad)
        grads.append(tg.grad(lambda t: op(t).sum())(tg.Tensor(x0, requires_grad=True)).data)
    for g in grads:
        np.testing.assert_array_equal(g, 3.0 * x0 ** 2)  # an oracle by hand, not the engine
    assert type(cube_closure(tg.Tensor(x0, requires_grad=True)).record.vjps[0]).__name__ == "ClosureRule"
