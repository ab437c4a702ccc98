"""tinygrad_rnn.testing (issue 30): checks that never fail a correct gradient and never pass a wrong one.

- positive controls: a correct layer norm, softmax, normalised attention, GRU cell and the seed's
  corrected closed form pass with the default strategies;
- negative controls: every planted bug of ``benchmarks/planted_bugs.py`` fails in a fresh pytest
  process, names the wrong thing, in under 15 lines of ``pytest -q`` output;
- the numerics: finite differences that estimate their own error, tell "the rule is wrong" from
  "finite differences cannot check this input", and the strategies behind them.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck, Unsatisfiable

import tinygrad_rnn as tg
from benchmarks import planted_bugs
from tinygrad_rnn.finite_differences import refine, steps
from tinygrad_rnn.models import closed_form
from tinygrad_rnn.models import attention_rnn
from tinygrad_rnn.testing import (HandGradientError, UncheckableInput, arrays, assert_grad_close,
                                  assert_hand_gradient, check_gradient, one_hot_sequences, padded_batches,
                                  parameter_sets, programs, token_sequences)
from tinygrad_rnn.testing.examples import (attention_weights, gru_cases, gru_cell, gru_cell_hand_gradient,
                                           layer_norm, seed_model_cases)


# ------------------------------------------------------------------ positive controls (default strategies)
@given(arrays(min_dims=2, max_dims=2))
def test_a_correct_layer_norm_passes(x):
    assert_grad_close(lambda t: layer_norm(t).sum(), [x])  # the sum is constant: its gradient is round-off
    w = np.linspace(0.5, 1.5, x.shape[-1])
    assert_grad_close(lambda t: (layer_norm(t) * w).sum(), [x])


@given(arrays(min_dims=1, max_dims=2))
def test_a_correct_softmax_passes(x):
    assert_grad_close(lambda t: t.softmax(axis=-1), [x])


@given(arrays((3, 2)), arrays((4, 2)))
def test_normalised_attention_weights_pass(q, k):
    assert_grad_close(attention_weights, [q, k])


@given(gru_cases())
def test_a_correct_gru_cell_passes_finite_differences(case):
    names = ["x", "h", "Wx", "Wh", "bx", "bh"]
    w = case["w"]
    assert_grad_close(lambda *ts: gru_cell(*ts, w), [case[k] for k in names])


def test_a_correct_gru_hand_gradient_passes():
    check_gradient(gru_cell, gru_cell_hand_gradient, gru_cases(), wrt=["x", "h", "Wx", "Wh", "bx", "bh"])


def test_the_seeds_corrected_closed_form_passes():
    check_gradient(lambda W, U, b, V, c, xs, ys: attention_rnn.loss(dict(W=W, U=U, b=b, V=V, c=c), xs, ys),
                   lambda W, U, b, V, c, xs, ys: closed_form.bptt(dict(W=W, U=U, b=b, V=V, c=c), xs, ys),
                   seed_model_cases(), wrt=["W", "U", "b", "V", "c"])


# ------------------------------------------------------------------ negative controls: the planted bugs
@pytest.mark.parametrize("name", sorted(planted_bugs.BUGS))
def test_every_planted_bug_fails_briefly_and_names_the_wrong_thing(name):
    code, out, _ = planted_bugs.run(name)  # with CI=true, where hypothesis and pytest print the most
    assert code == 1, out
    assert re.search(planted_bugs.BUGS[name][1], out), out
    assert len(out.splitlines()) < 15, out
    assert "reproduce_failure" not in out, out  # derandomized: running again reproduces it
    assert "Traceback" not in out and "tinygrad_rnn/" not in out, out  # no library frames


def test_the_seeds_printed_equations_are_caught_at_the_smallest_sizes():
    with pytest.raises(HandGradientError, match=r"hand gradient of 'U' is wrong at sizes B=1, D=1, H=1, K=2, T=1"):
        check_gradient(lambda W, U, b, V, c, xs, ys: attention_rnn.loss(dict(W=W, U=U, b=b, V=V, c=c), xs, ys),
                       lambda W, U, b, V, c, xs, ys: closed_form.as_printed(dict(W=W, U=U, b=b, V=V, c=c), xs, ys),
                       seed_model_cases(), wrt=["W", "U", "b", "V", "c"])


def test_the_printed_eq_10_alone_needs_two_steps_to_be_wrong():
    """Eq 10 as printed uses h_t where Z_t belongs; at T = 1 they are equal (one key), so the smallest
    failing case has T = 2: shrinking finds it."""
    with pytest.raises(HandGradientError, match=r"hand gradient of 'V' is wrong at sizes .*T=2"):
        check_gradient(lambda W, U, b, V, c, xs, ys: attention_rnn.loss(dict(W=W, U=U, b=b, V=V, c=c), xs, ys),
                       lambda W, U, b, V, c, xs, ys: {"V": closed_form.as_printed(dict(W=W, U=U, b=b, V=V, c=c),
                                                                                  xs, ys)["V"]},
                       seed_model_cases(), wrt=["V"])


def test_a_hand_gradient_of_the_wrong_shape_or_a_nan_is_named():
    case = {"a": np.array([1.0, 2.0])}
    with pytest.raises(HandGradientError, match=r"hand gradient of 'a' has shape \(1,\); a has shape \(2,\)"):
        assert_hand_gradient(lambda a: (a * a).sum(), lambda a: {"a": np.ones(1)}, case)
    with pytest.raises(HandGradientError, match=r"hand gradient of 'a' is non-finite at \(1,\)"):
        assert_hand_gradient(lambda a: (a * a).sum(), lambda a: {"a": np.array([2.0, np.nan])}, case)
    with pytest.raises(HandGradientError, match=r"f must return a scalar Tensor"):
        assert_hand_gradient(lambda a: a * a, lambda a: {"a": 2 * a}, case)
    assert_hand_gradient(lambda a: (a * a).sum(), lambda a: {"a": 2 * a}, case)  # control: right passes


# ------------------------------------------------------------------ the numerics
def test_refine_is_accurate_on_smooth_functions_and_honest_about_its_error():
    x = 0.7
    g = lambda t: np.array([np.sin(x + t), np.exp(x + t), np.sqrt(1e-5 + t * 1e-5)])  # noqa: E731
    est = refine(g, 1e-6, g(0.0))
    want = np.array([np.cos(x), np.exp(x), 0.5e-5 / np.sqrt(1e-5)])
    assert np.all(np.abs(est.value - want) <= 1e-9 * np.abs(want))
    assert np.all(np.abs(est.value - want) <= est.error)  # the error bound holds
    assert not est.kink.any()


def test_refine_finds_a_kink_at_the_point_and_not_one_nearby():
    at = refine(lambda t: np.array([abs(t), max(t, 0.0)]), 1e-6, np.zeros(2))
    assert at.kink.all()
    near = refine(lambda t: np.array([abs(t - 1e-8)]), 1e-6, np.array([1e-8]))
    assert not near.kink.any() and abs(near.value[0] + 1.0) < 1e-9


def test_steps_are_relative_to_the_entries_and_exact():
    x = np.array([0.0, 1e-3, 5.0, -300.0])
    h = steps(x, 1e-6)
    assert np.all((x + h) - x == h)
    np.testing.assert_allclose(h, 1e-6 * np.maximum(1.0, np.abs(x)), rtol=1e-9)


@pytest.mark.parametrize("row", [[3.0, 3.0, 3.0], [1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [2.829212, 2.829212, 2.829212]])
def test_a_constant_row_into_a_correct_layer_norm_is_never_called_wrong(row):
    """The false alarm: at a constant row central differences are round-off; the old gradcheck said the
    sum's gradient (exactly 0) was wrong and blamed 'sqrt'."""
    x = np.array([row])
    for fn in (lambda t: layer_norm(t).sum(), lambda t: layer_norm(t)):
        try:
            assert tg.gradcheck(fn, [x])
        except UncheckableInput:
            pass  # allowed: "cannot check", never "wrong"


def test_a_kink_is_uncheckable_outside_hypothesis_and_a_wrong_rule_still_wrong_there():
    with pytest.raises(UncheckableInput, match=r"finite differences cannot check this input.*kink"):
        tg.gradcheck(lambda t: t.relu().sum(), [np.array([0.0, 1.0])])

    @tg.defop("relu_times_three")
    def relu_times_three(x):
        return np.maximum(x, 0), (lambda g: 3.0 * g * (x > 0),)

    with pytest.raises(tg.GradcheckError, match="the rule is wrong") as err:
        tg.gradcheck(lambda t: relu_times_three(t).sum(), [np.array([0.5, 1.0])])
    assert not isinstance(err.value, UncheckableInput)


def test_inside_hypothesis_uncheckable_inputs_are_rejected_and_too_many_is_loud():
    @settings(max_examples=10, phases=[Phase.generate], database=None)
    @given(st.just(np.array([0.0, 0.0])))
    def always_at_the_kink(x):
        assert_grad_close(lambda t: t.relu().sum(), [x])

    with pytest.raises((Unsatisfiable, FailedHealthCheck)):
        always_at_the_kink()

    with pytest.raises(UncheckableInput):  # uncheckable="raise": never rejected
        @settings(max_examples=1, phases=[Phase.generate], database=None)
        @given(st.just(np.array([0.0, 0.0])))
        def raising(x):
            assert_grad_close(lambda t: t.relu().sum(), [x], uncheckable="raise")
        raising()
    with pytest.raises(ValueError, match="uncheckable must be"):
        assert_grad_close(lambda t: t.sum(), [np.ones(2)], uncheckable="ignore")


def test_a_wrong_rule_beats_the_finite_difference_error_at_tight_tolerance():
    """A relative 1e-5 error (mul_slightly_off in test_gradcheck) is 'wrong', not 'cannot check'."""
    @tg.defop("square_off")
    def square_off(x):
        return x * x, (lambda g: g * 2 * x * (1 + 1e-5),)

    with pytest.raises(tg.GradcheckError, match="the rule is wrong") as err:
        tg.gradcheck(lambda t: square_off(t).sum(), [np.array([0.3, -1.2, 2.5])])
    assert not isinstance(err.value, UncheckableInput)


# ------------------------------------------------------------------ strategies
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(arrays(min_dims=1, max_dims=3, max_side=3, avoid=(0.0, 1.0), margin=0.1))  # 27 entries fit
def test_distinct_arrays_are_distinct_bounded_and_avoid_their_points(x):
    v = np.sort(x.reshape(-1))
    assert np.all(np.diff(v) >= 0.1 - 1e-12) and v.min() >= -3 and v.max() <= 3
    assert np.all(np.abs(x) >= 0.1 - 1e-12) and np.all(np.abs(x - 1.0) >= 0.1 - 1e-12)


def test_distinct_arrays_shrink_to_a_ramp_not_a_constant_row():
    smallest = find(arrays((2, 3)), lambda a: True)
    np.testing.assert_allclose(np.sort(smallest.reshape(-1)), -3 + 0.05 * np.arange(6))
    assert find(arrays((2, 2), distinct=False), lambda a: True).std() == 0  # control: the old default


def test_distinct_arrays_spread_evenly_when_the_margin_cannot_fit():
    a = find(arrays((30,), min_value=0.0, max_value=1.0, margin=0.1), lambda a: True)
    assert len(np.unique(a)) == 30 and a.min() >= 0 and a.max() <= 1


@given(one_hot_sequences(5, st.integers(1, 6), batch=2), token_sequences(4, 3), padded_batches(max_steps=5))
def test_recurrent_strategies(onehot, ids, padded):
    assert onehot.shape[0] == 2 and onehot.shape[-1] == 5 and np.all(onehot.sum(-1) == 1)
    assert ids.shape == (3,) and ids.min() >= 0 and ids.max() < 4
    x, lengths, mask = padded
    assert x.shape[:2] == mask.shape and mask.sum(1).tolist() == lengths.tolist()
    assert np.all(x[mask == 0] == 0) and lengths.max() == x.shape[1]


@given(parameter_sets({"W": ("H", "H"), "U": ("G", "D")},
                      dims={"H": st.integers(1, 4), "D": 2, "G": lambda d: 3 * d["H"]}))
def test_parameter_sets_share_sizes(p):
    H = p["dims"]["H"]
    assert p["W"].shape == (H, H) and p["U"].shape == (3 * H, 2)


def test_parameter_sets_refuse_an_undeclared_size():
    with pytest.raises(ValueError, match=r"size 'K' has no entry in dims="):
        find(parameter_sets({"V": ("K",)}, dims={}), lambda p: True)


@tg.defop("my_softsign")
def my_softsign(x):
    d = 1 + np.abs(x)
    return x / d, (lambda g: g / (d * d),)


@given(programs(ops={"my_softsign": lambda a: my_softsign(a)}, avoid=(0.0,)))
def test_a_correct_custom_op_composes_in_random_programs(p):
    assert any(name == "my_softsign" for name, _ in p.steps)
    assert_grad_close(p, p.leaves)


def test_a_program_reads_as_code():
    p = find(programs(ops={"double": lambda a: a * 2.0}), lambda p: len(p.steps) >= 2)
    text = repr(p)
    assert text.startswith("Program:") and "double(v" in text and "out = sum(w0 * v" in text


# ------------------------------------------------------------------ reaching it
def test_tg_testing_is_reachable_and_imported_only_on_first_use():
    code = ("import sys, tinygrad_rnn as tg; assert 'hypothesis' not in sys.modules; "
            "assert 'tinygrad_rnn.testing' not in sys.modules; t = tg.testing; "
            "assert t.check_gradient and 'hypothesis' in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_the_pytest_plugin_registers_profiles_and_fixtures(tmp_path):
    (tmp_path / "test_user.py").write_text(
        "import numpy as np\n"
        "from hypothesis import settings\n"
        "def test_fixtures(tg_rng, grad_close, hand_gradient):\n"
        "    assert settings.get_profile('tinygrad_rnn').deadline is None\n"
        "    x = tg_rng.standard_normal(3)\n"
        "    grad_close(lambda t: (t * t).sum(), [x])\n"
        "    hand_gradient(lambda a: (a * a).sum(), lambda a: {'a': 2 * a}, {'a': x})\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--hypothesis-profile=tinygrad_rnn", str(tmp_path)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout + out.stderr


def test_the_compact_report_steps_aside_for_an_explicit_tb_style():
    code, out, _ = planted_bugs.run("tanh rule without the square", extra=("-q", "--tb=long"))
    assert code == 1 and "Traceback" not in out and "def test_my_tanh" in out and len(out.splitlines()) > 15


# ------------------------------------------------------------------ each part of the error estimate matters
def test_round_off_that_is_linear_in_the_step_does_not_look_converged():
    """The drift term: g is exactly linear (slope 5e-5, all rounding) at the smallest step and flat beyond,
    as the rounding of a mean at a constant row can be; the true slope is 0.  That step's two-step estimate
    sees nothing wrong; only its disagreement with the next step reveals that nothing converged.  (Rounding
    that stays exactly linear over two decades of steps is indistinguishable from a derivative: that is
    the limit of any finite-difference oracle, stated in finite_differences.py.)"""
    g = lambda t: np.array([5e-5 * t if abs(t) < 3e-10 else 1.5e-12 * np.sign(t)])  # noqa: E731
    est = refine(g, 1e-6, np.zeros(1))
    assert abs(est.value[0] - 0.0) <= est.error[0]  # the error bound is honest


def test_a_noisy_function_is_uncheckable_not_wrong():
    """Noise outside the tape (1e-9 times a hash of the input's bits, as rounding is) swamps every step:
    no verdict on the rule."""
    def noisy(t):
        bits = np.ascontiguousarray(t.data).view(np.uint64)
        return (t * 0.0).sum() + tg.Tensor(1e-9 * float(np.sum((bits * np.uint64(2654435761)) % np.uint64(1000))) / 1000)

    with pytest.raises(UncheckableInput, match="round-off or curvature"):
        tg.gradcheck(noisy, [np.array([0.3, 0.8])])


def test_a_correct_rule_near_a_pole_is_never_the_suspect():
    """sqrt at 1e-5 with the first step 1e-6 has a 1 % truncation error; refined, it agrees, so the
    suspect search must not blame it (it did: 'suspect rule: sqrt' on a constant-row layer norm)."""
    def fn(t):
        y = (t * 1e-5 + 1e-5).sqrt()
        return (y * 1e3).sum() + tg.Tensor(np.sin(t.data)).sum() * 1.0  # np.sin: outside the tape

    with pytest.raises(tg.GradcheckError) as err:
        tg.gradcheck(fn, [np.array([0.3, 0.7])])
    assert "every recorded rule passes on its own inputs" in str(err.value) and "'sqrt'" not in str(err.value)
