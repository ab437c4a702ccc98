"""The checkers cannot pass what they should fail (NaN, non-finite, ...), and their reproducibility
and coverage."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg


# ============================================================================ the checker cannot pass what it should fail
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


# ----------------------------------------------------------------------------- the checker
@tg.defop("wrong_square")
def _wrong_square(x):
    return x * x, (lambda g: g * x,)  # should be 2x


def test_fast_mode_checks_every_input_and_names_the_failing_one():
    const = np.array([1.0, 2.0, 3.0])  # a constant first input must not end the check
    with pytest.raises(tg.GradcheckError, match=r"input 1 of shape \(3,\) in random direction 0 \(seed 5\)"):
        tg.gradcheck(lambda a, b: (a * _wrong_square(b)).sum(), [tg.Tensor(const), np.array([0.5, 1.0, 2.0])],
                     fast_mode=True, seed=5)


def test_gradcheck_is_reproducible_for_a_seed():
    import re

    def message(seed):
        with pytest.raises(tg.GradcheckError) as err:
            tg.gradcheck(lambda b: _wrong_square(b).sum(), [np.array([0.5, 1.0, 2.0])], fast_mode=True, seed=seed)
        return re.sub(r"tape #\d+", "tape #N", str(err.value))

    assert message(3) == message(3)
    assert message(3) != message(4)  # another seed, another direction


def test_the_suspect_rule_is_found_past_a_constant_input():
    with pytest.raises(tg.GradcheckError, match=r"(?s)suspect rule: 'wrong_square' \(tape #\d+\), input 0.*"
                                                r"op path to the output: 'wrong_square' \(tape #\d+\) -> 'mul'"):
        tg.gradcheck(lambda b: (np.array([1.0, 2.0, 3.0]) * _wrong_square(b)).sum(), [np.array([0.5, 1.0, 2.0])])


def test_when_every_rule_passes_the_checker_points_at_numpy_code():
    def sneaky(x):
        y = x * 2.0
        return tg.Tensor(np.sin(y.data)) * 1.0 + y.sum() * 0.0  # numpy code outside the tape

    with pytest.raises(tg.GradcheckError, match="every recorded rule passes on its own inputs"):
        tg.gradcheck(lambda t: sneaky(t).sum(), [np.array([0.3, 0.7])])


def test_fast_mode_nan_message_names_input_and_direction():
    with np.errstate(all="ignore"), pytest.raises(
            tg.GradcheckError, match=r"gradcheck failed for input 0 of shape \(1,\) in random direction 0 "
                                     r"\(seed 0, fast mode\): the (analytic|numeric) .* gradient is non-finite"):
        tg.gradcheck(lambda t: t.log().sum(), [np.array([-1.0])], fast_mode=True)


def test_full_mode_failure_message_reports_both_values_and_the_tolerance():
    with pytest.raises(tg.GradcheckError) as err:
        tg.gradcheck(lambda b: _wrong_square(b).sum(), [np.array([0.5, 1.0, 2.0])])
    msg = str(err.value)
    assert msg.startswith("gradcheck failed for input 0 of shape (3,): the rule is wrong: 3 of 3 Jacobian entries differ.")
    assert "worst: d out() / d in(2,): analytic 2, numeric 4" in msg
    assert "> tolerance 4.01e-06 (atol 1e-08 + rtol 1e-06·|numeric|)" in msg
