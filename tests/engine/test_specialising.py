"""The specialiser and the inliner ``tg.compile`` writes its replay with (tinygrad_rnn/specialising.py,
tinygrad_rnn/inlining.py): what they fold, what they must refuse, and that a residual built on one
set of values gives the function's bits on others of the same signature."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.compiler import _literal, _rng_states, _sparse_parts
from tinygrad_rnn.funcs import NP
from tinygrad_rnn.inlining import inline
from tinygrad_rnn.ops import linalg, reductions, shaping
from tinygrad_rnn.specialising import S, dynamic, specialise


def bits(a):
    a = np.asarray(a)
    return a.shape, a.dtype.str, a.tobytes()


class Namer:
    """The compiler's two naming callbacks, for a namespace of our own."""

    def __init__(self):
        self.ns = {"np": np, "NP": NP}
        self.taken = set()

    def bind(self, label, x):
        if _literal(x):
            return repr(x)
        for j in range(1, 1000):
            n = label if j == 1 else f"{label}_{j}"
            if self.ns.get(n) is x:
                return n
            if n not in self.ns:
                self.ns[n] = x
                return n
        raise AssertionError

    def fresh(self, hint, fallback):
        base = hint if isinstance(hint, str) and hint.isidentifier() and not hint.startswith("_") else fallback
        n, j = base, 1
        while n in self.taken or n in self.ns:
            j += 1
            n = f"{base}_{j}"
        self.taken.add(n)
        return n


def spec(fn, env, args, kwargs=None):
    nm = Namer()
    r = specialise(fn, args, kwargs or {}, env, nm.ns, nm.bind, nm.fresh, _rng_states)
    return r, nm.ns


def replay(r, ns, env):
    local = dict(env)
    for line in r.prelude:
        exec(line, ns, local)
    return eval(r.text, ns, local)


def rule_args(*names):
    return [S(NP, "NP")] + [dynamic(n) for n in names]


# ----------------------------------------------------------------------------- what is folded
@settings(max_examples=60, deadline=None)
@given(st.sampled_from([((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((2, 3, 4), (2, 4, 5))]),
       st.integers(0, 2**31 - 1))
def test_matmul_rules_specialised_on_one_draw_give_the_rules_bits_on_another(shapes, seed):
    """Built on one set of values, run on another of the same shapes: the rule's own bits, and no
    branch left in the residual."""
    sa, sb = shapes
    rng = np.random.default_rng(seed)

    def draw():
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        out = np.matmul(a, b)
        return {"g": rng.standard_normal(np.shape(out)), "out": out, "a": a, "b": b}

    first, second = draw(), draw()
    for rule in (linalg._matmul_da, linalg._matmul_db):
        r, ns = spec(rule, first, rule_args("g", "out", "a", "b"))
        assert r is not None, rule.__name__
        assert not any(line.lstrip().startswith("if ") for line in r.prelude)
        want = rule(NP, second["g"], second["out"], second["a"], second["b"])
        assert bits(replay(r, ns, second)) == bits(want)


def test_static_arguments_and_shapes_are_folded_and_branches_disappear():
    x = np.arange(6.0).reshape(2, 3)
    r, ns = spec(reductions._softmax_rule, {"g": np.ones((2, 3)), "y": x, "x": x}, rule_args("g", "y", "x"),
                 {"axis": S(-1)})
    assert r is not None
    text = "\n".join(r.prelude) + "\n" + r.text
    assert "traced" not in text and "ndim" not in text and "if" not in text
    assert "gy -= " in text  # the rule's in-place step, in its own buffer
    r2, ns2 = spec(linalg.addmm.fn, {"c": np.ones((2, 3)), "a": np.ones((2, 4)), "b": np.ones((4, 3))},
                   [dynamic("c"), dynamic("a"), dynamic("b")])
    assert r2.prelude == ["prod = np.matmul(a, b)", "prod += c"] and r2.text == "prod"


def test_numpy_wrappers_become_the_methods_they_call_and_asarray_of_an_array_goes():
    x = np.arange(6.0).reshape(2, 3)
    r, ns = spec(shaping.transpose.fn, {"x": x}, [dynamic("x")], {"axes": S((1, 0))})
    assert r.prelude == [] and r.text == "x.transpose((1, 0))"
    assert bits(replay(r, ns, {"x": x + 1})) == bits(np.transpose(x + 1, (1, 0)))


def test_a_sparse_gradient_is_left_as_one_call_the_compiler_can_write_out():
    x = np.zeros((2, 3, 4))
    g = np.ones((2, 4))
    r, ns = spec(shaping._getitem_rule, {"g": g, "out": g, "x": x}, rule_args("g", "out", "x"),
                 {"index": S((slice(None), 1))})
    assert r is not None and r.text.startswith("SparseGrad(") and _sparse_parts(r.text, ns) is not None


def test_two_lambdas_on_one_line_are_told_apart_by_their_columns():
    double, triple = (lambda F, g, out, x: g * 2.0), (lambda F, g, out, x: g * 3.0)
    nm = Namer()
    assert inline(double, ["NP", "g", "o", "x"], {}, nm.bind, rule=True).text == "g * 2.0"
    assert inline(triple, ["NP", "g", "o", "x"], {}, nm.bind, rule=True).text == "g * 3.0"


def test_the_inliner_marks_a_writing_call_impure():
    nm = Namer()
    writes = lambda F, g, out, x: np.exp(g, out=g)  # noqa: E731
    reads = lambda F, g, out, x: np.exp(g)  # noqa: E731
    assert inline(writes, ["NP", "g", "o", "x"], {}, nm.bind, rule=True).pure is False
    assert inline(reads, ["NP", "g", "o", "x"], {}, nm.bind, rule=True).pure is True


# ----------------------------------------------------------------------------- what is refused
def _branch_on_value(F, g, out, x):
    if x.sum() > 0:
        return g
    return -g


def _writes_its_input(F, g, out, x):
    g *= 2.0
    return g


def _loops(F, g, out, x):
    total = g
    for _ in range(2):
        total = total + g
    return total


def _raises(F, g, out, x):
    if x.ndim == 2:
        raise ValueError("no")
    return g


def _identity_of_a_dynamic(F, g, out, x, ctx=None):
    scale = ctx[0]
    return g if scale is None else g * scale


def _rebinds_a_dynamic_int(F, g, out, x, ctx=None):
    n = ctx[1]
    n += 1
    return g * n


def _draws(F, g, out, x):
    return g * np.random.random()


@pytest.mark.parametrize("rule", [_branch_on_value, _writes_its_input, _loops, _raises, _identity_of_a_dynamic,
                                  _rebinds_a_dynamic_int, _draws])
def test_what_cannot_be_specialised_is_refused(rule):
    x = np.ones((2, 2))
    env = {"g": np.ones((2, 2)), "out": x, "x": x, "c": (2.0, 3)}
    kwargs = {"ctx": dynamic("c")} if "ctx" in rule.__code__.co_varnames else {}
    state = np.random.get_state()
    r, _ = spec(rule, env, rule_args("g", "out", "x"), kwargs)
    np.random.set_state(state)
    assert r is None


def test_the_same_bodies_are_specialised_when_the_value_is_not_read():
    """Negative control of the refusals: the machinery is not refusing everything."""
    def fine(F, g, out, x, ctx=None):
        n = x.shape[0]
        if n == 2:
            return g * 2.0
        return g

    x = np.ones((2, 2))
    r, _ = spec(fine, {"g": x, "out": x, "x": x, "c": (2.0, 3)}, rule_args("g", "out", "x"), {"ctx": dynamic("c")})
    assert r is not None and r.text == "g * 2.0" and r.prelude == []


# ----------------------------------------------------------------------------- through tg.compile
@tg.defop("flip_by_sign", saves=(0,), rules=(_branch_on_value,))
def flip_by_sign(x):
    """x (a test op whose rule branches on the values of x)."""
    return np.array(x, dtype=np.float64, copy=True)


def test_a_rule_that_branches_on_values_stays_a_call_and_follows_the_values():
    step = tg.compile(lambda x: flip_by_sign(x * 1.0).sum())
    pos = tg.Tensor(np.ones(3), requires_grad=True)
    step(pos)
    assert "_branch_on_value" not in step.source(pos) or "flip_by_sign_rule0(" in step.source(pos)
    neg = tg.Tensor(-np.ones(3), requires_grad=True)
    step(neg)  # the replay: the branch goes the other way
    assert step.replays == 1
    np.testing.assert_array_equal(neg.grad, -np.ones(3))
    np.testing.assert_array_equal(pos.grad, np.ones(3))
