"""What an editor and a type checker see (issue 24): every op's own parameters and a Tensor result.

``tg.<op>`` is an ``Op[P]`` whose ``P`` is its forward's parameter list (``op.defop``), so ``mypy
--strict`` checks calls against the real signature; the op set's plain functions are annotated to
return a Tensor.  The checker runs on a user's script of twenty ops (it passes) and on a wrong call
(it must fail: the negative control)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import ops
from tinygrad_rnn.op import Op

ROOT = Path(__file__).resolve().parents[2]

USER_SCRIPT = '''
from typing import assert_type

import numpy as np
import tinygrad_rnn as tg
from tinygrad_rnn import Tensor

rng = np.random.default_rng(0)
W = tg.randn(4, 3, rng=rng, requires_grad=True)
x = tg.Tensor(rng.normal(size=(3, 5)))
h = tg.tanh(tg.matmul(W, x))
assert_type(h, Tensor)
a = tg.softmax(h, axis=0)
s = tg.sigmoid(tg.add(tg.mul(a, 2.0), tg.neg(h)))
e = tg.exp(tg.sub(s, tg.log(tg.add(tg.abs(h), 1.0))))
r = tg.relu(tg.div(e, tg.sqrt(tg.add(tg.square(h), 1.0))))
m = tg.mean(tg.reshape(r, (2, 10)), axis=1)
c = tg.concatenate([tg.transpose(W), tg.transpose(W)], axis=0)
st = tg.stack([m, m])
parts = tg.split(st, 2, axis=0)
assert_type(parts, list[Tensor])
loss = tg.sum(tg.maximum(m, 0.0)) + tg.logsumexp(tg.sum(c, 0), axis=0) + tg.sum(parts[0])
assert_type(loss, Tensor)
loss.backward()
g = W.grad
dfdw = tg.grad(lambda w: tg.sum(tg.tanh(w)))(W)
'''

WRONG_CALL = '''
import tinygrad_rnn as tg
W = tg.randn(3, 3, requires_grad=True)
tg.tanh(W, 3, 4, foo=5)
'''


def _mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(source))
    env = {**os.environ, "MYPYPATH": str(ROOT)}  # the checkout's tinygrad_rnn/, as a user's editor sees it
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary",
         "--cache-dir", str(tmp_path / ".mypy_cache"), str(script)],
        capture_output=True, text=True, env=env, timeout=600,
    )


def test_mypy_strict_passes_on_a_user_script_of_twenty_ops(tmp_path):
    done = _mypy(tmp_path, USER_SCRIPT)
    assert done.returncode == 0, done.stdout + done.stderr
    exec(compile(textwrap.dedent(USER_SCRIPT), "user_script", "exec"), {})  # and it runs


def test_mypy_strict_fails_on_a_wrong_call(tmp_path):
    done = _mypy(tmp_path, WRONG_CALL)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'Too many arguments for "__call__" of "Op"' in done.stdout
    assert 'Unexpected keyword argument "foo"' in done.stdout


def test_a_result_the_script_does_not_expect_is_an_error_too(tmp_path):
    done = _mypy(tmp_path, "import tinygrad_rnn as tg\nn: int = tg.tanh(tg.zeros(2))\n")
    assert done.returncode == 1 and 'has type "Tensor"' in done.stdout, done.stdout


@pytest.mark.parametrize("name", sorted(ops.REGISTRY))
def test_every_op_shows_its_forwards_signature_at_runtime(name):
    """``help(tg.tanh)`` and an editor's call tip show the forward's parameters, not ``*args``."""
    op = ops.REGISTRY[name]
    assert inspect.signature(op) == inspect.signature(op.fn)
    assert op.__doc__ == op.fn.__doc__


def test_every_plain_function_of_the_op_set_is_annotated_to_give_tensors():
    plain = {name: f for name, f in ops.PUBLIC.items() if not isinstance(f, Op)}
    wrong = {name: inspect.signature(f).return_annotation for name, f in plain.items()
             if inspect.signature(f).return_annotation not in ("Tensor", "list[Tensor]")
             and name != "class_coefficients"}  # (numpy weights for a loss, documented)
    assert wrong == {}
    assert len(plain) > 20


def test_what_the_runtime_takes_positionally_the_signature_says():
    """A public op with fixed inputs has no keyword-only static parameter: the runtime takes static
    arguments positionally after the inputs (``tg.reshape(x, (2, 3))``), so the type must too."""
    keyword_only = {name: str(inspect.signature(f)) for name, f in ops.PUBLIC.items()
                    if isinstance(f, Op) and f.n_inputs is not None
                    and any(p.kind is p.KEYWORD_ONLY for p in inspect.signature(f).parameters.values())}
    assert keyword_only == {}
    x = tg.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert tg.reshape(x, (4,)).shape == tg.reshape(x, shape=(4,)).shape == (4,)


def test_a_required_static_argument_left_out_is_an_error_naming_it():
    x = tg.Tensor([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(TypeError, match=r"^reshape: missing static argument\(s\) 'shape'$"):
        tg.reshape(x)
    with pytest.raises(TypeError, match=r"^broadcast_to: missing static argument\(s\) 'shape'$"):
        tg.broadcast_to(x)
