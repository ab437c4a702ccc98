"""Planted bugs: user-side gradient tests written with ``tinygrad_rnn.testing``, each with one bug.

Each entry is a complete test file as a user would write it.  ``run(name)`` runs it in a fresh
pytest process in an empty directory (``pytest -q --hypothesis-profile=tinygrad_rnn``, the plugin
registers the profile) and returns the exit code, the output and the wall time.
``tests/engine/test_testing_kit.py`` asserts that every one fails, in under 15 lines of output, with a
message that names the wrong thing; ``python -m benchmarks.planted_bugs`` prints the table of lines
and seconds (timings live here, never in tests).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = '''import numpy as np
from hypothesis import given, strategies as st
import tinygrad_rnn as tg
from tinygrad_rnn.testing import arrays, assert_grad_close, check_gradient, parameter_sets, programs
'''

#: name → (test file body, regex the failure output must contain: it names the wrong thing)
BUGS: dict[str, tuple[str, str]] = {
    "tanh rule without the square": ('''
@tg.defop("my_tanh")
def my_tanh(x):
    y = np.tanh(x)
    return y, (lambda g: g * (1 - y),)          # bug: 1 - y**2

@given(arrays(max_dims=2))
def test_my_tanh(x):
    assert_grad_close(lambda t: my_tanh(t * 2.0).sum(), [x])
''', r"suspect rule: 'my_tanh'"),
    "sigmoid rule g*y": ('''
@tg.defop("my_sigmoid")
def my_sigmoid(x):
    y = 1 / (1 + np.exp(-x))
    return y, (lambda g: g * y,)                # bug: g * y * (1 - y)

@given(arrays(max_dims=2))
def test_my_sigmoid(x):
    assert_grad_close(lambda t: (my_sigmoid(t) * t).sum(), [x])
''', r"suspect rule: 'my_sigmoid'"),
    "softmax Jacobian diagonal only": ('''
@tg.defop("my_softmax")
def my_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    y = e / e.sum(axis=-1, keepdims=True)
    return y, (lambda g: g * y * (1 - y),)      # bug: y * (g - sum(g * y))

@given(arrays(min_dims=1, max_dims=2))
def test_my_softmax(x):
    w = np.linspace(-1, 2, x.shape[-1])
    assert_grad_close(lambda t: (my_softmax(t) * w).sum(), [x])
''', r"suspect rule: 'my_softmax'"),
    "mul rule off by 1e-5": ('''
@tg.defop("my_mul")
def my_mul(a, b):
    return a * b, (lambda g: g * b * (1 + 1e-5), lambda g: g * a)   # bug: a relative 1e-5

@given(arrays((3,), min_value=0.5), arrays((3,), min_value=0.5))
def test_my_mul(a, b):
    assert_grad_close(lambda s, t: my_mul(s, t).sum(), [a, b])
''', r"suspect rule: 'my_mul' \(tape #\d+\), input 0"),
    "layer norm rule without the mean term": ('''
@tg.defop("my_layer_norm")
def my_layer_norm(x):
    m = x.mean(axis=-1, keepdims=True)
    s = np.sqrt(((x - m) ** 2).mean(axis=-1, keepdims=True) + 1e-5)
    y = (x - m) / s
    n = x.shape[-1]
    def vjp(g):  # bug: drops the - mean(g) term
        return (g - y * (g * y).mean(axis=-1, keepdims=True)) / s
    return y, (vjp,)

@given(arrays(min_dims=2, max_dims=2))
def test_my_layer_norm(x):
    w = np.linspace(0.5, 1.5, x.shape[-1])
    assert_grad_close(lambda t: (my_layer_norm(t) * w).sum(), [x])
''', r"suspect rule: 'my_layer_norm'"),
    "sub rule with the wrong sign": ('''
@tg.defop("my_sub")
def my_sub(a, b):
    return a - b, (lambda g: g, lambda g: g)    # bug: -g for b

@given(arrays((2, 3)), arrays((2, 3)))
def test_my_sub(a, b):
    assert_grad_close(lambda s, t: (my_sub(s, t) ** 2).sum(), [a, b])
''', r"suspect rule: 'my_sub' \(tape #\d+\), input 1"),
    "matmul rule without the transpose": ('''
@tg.defop("my_matmul")
def my_matmul(a, b):
    return a @ b, (lambda g: g @ b, lambda g: a.T @ g)   # bug: g @ b.T

@given(arrays((3, 3)), arrays((3, 3)))
def test_my_matmul(a, b):
    assert_grad_close(lambda s, t: my_matmul(s, t).tanh().sum(), [a, b])
''', r"suspect rule: 'my_matmul' \(tape #\d+\), input 0"),
    "rule that makes a NaN": ('''
@tg.defop("my_square")
def my_square(x):
    return x * x, (lambda g: g * 2 * x * (x - x) / (x - x),)   # bug: 0/0

@given(arrays((3,)))
def test_my_square(x):
    with np.errstate(all="ignore"):
        assert_grad_close(lambda t: my_square(t).sum(), [x])
''', r"analytic \(engine\) gradient is non-finite"),
    "hand softmax cross-entropy gradient without -y": ('''
def loss(z, y):
    return tg.cross_entropy(z, y)

def hand(z, y):
    p = np.exp(z - z.max(axis=-1, keepdims=True)); p /= p.sum(axis=-1, keepdims=True)
    return {"z": p / len(z)}                    # bug: (p - onehot(y)) / len(z)

def test_hand_cross_entropy():
    cases = st.integers(1, 4).flatmap(lambda n: st.fixed_dictionaries(
        {"z": arrays((n, 3)), "y": arrays((n,), min_value=0, max_value=2, margin=1, distinct=False).map(
            lambda a: a.round().astype(np.int64))}))
    check_gradient(loss, hand, cases, wrt=["z"])
''', r"hand gradient of 'z' is wrong"),
    "hand GRU gradient with the reset gate's term dropped": ('''
from tinygrad_rnn.testing.examples import gru_cell, gru_cell_hand_gradient

def hand(**case):
    grads = gru_cell_hand_gradient(**case)
    H = case["h"].shape[-1]
    grads["Wh"][:H] = 0.0                       # bug: forgets d r / d Wh
    return grads

def test_hand_gru():
    cases = parameter_sets({"x": ("B", "D"), "h": ("B", "H"), "Wx": ("3H", "D"), "Wh": ("3H", "H"),
                            "bx": ("3H",), "bh": ("3H",), "w": ("B", "H")},
                           dims={"B": st.integers(1, 3), "D": st.integers(1, 3), "H": st.integers(1, 3),
                                 "3H": lambda d: 3 * d["H"]})
    check_gradient(gru_cell, hand, cases, wrt=["x", "h", "Wx", "Wh", "bx", "bh"])
''', r"hand gradient of 'Wh' is wrong"),
    "the seed's eqs 10-17 as printed": ('''
from tinygrad_rnn.models import attention_rnn
from tinygrad_rnn.models.closed_form import as_printed
from tinygrad_rnn.testing.examples import seed_model_cases

def test_eqs_10_to_17_as_printed():
    check_gradient(lambda W, U, b, V, c, xs, ys: attention_rnn.loss(dict(W=W, U=U, b=b, V=V, c=c), xs, ys),
                   lambda W, U, b, V, c, xs, ys: as_printed(dict(W=W, U=U, b=b, V=V, c=c), xs, ys),
                   seed_model_cases(), wrt=["W", "U", "b", "V", "c"])
''', r"hand gradient of '[WUbVc]' is wrong at sizes"),
    "a custom op composed in random programs": ('''
@tg.defop("my_cube")
def my_cube(x):
    return x ** 3, (lambda g: g * 3 * x,)       # bug: 3 * x**2

@given(programs(ops={"my_cube": lambda a: my_cube(a)}))
def test_my_cube_composes(p):
    assert_grad_close(p, p.leaves)
''', r"suspect rule: 'my_cube'"),
}


def run(name: str, extra: tuple[str, ...] = ("-q",), ci: bool = True) -> tuple[int, str, float]:
    """Run one planted bug's test file in a fresh pytest process; (exit code, output, seconds).

    ``ci=True`` (the default) sets ``CI=true`` as CI services do, and ``ci=False`` removes it: both
    hypothesis (its "ci" profile prints a ``@reproduce_failure`` blob) and pytest (full assertion
    diffs) print more on CI, so the output is measured the same way on every machine.
    """
    body, _ = BUGS[name]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "test_planted.py"
        path.write_text(HEADER + body)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("HYPOTHESIS_PROFILE", None)
        for var in ("CI", "TF_BUILD", "BUILDKITE", "CIRCLECI", "CIRRUS_CI", "CODEBUILD_BUILD_ID", "GITHUB_ACTIONS",
                    "GITLAB_CI", "HEROKU_TEST_RUN_ID", "TEAMCITY_VERSION", "bamboo.buildKey",
                    "__TOX_ENVIRONMENT_VARIABLE_ORIGINAL_CI"):
            env.pop(var, None)
        if ci:
            env["CI"] = "true"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", *extra, "-p", "no:cacheprovider",
                               "--hypothesis-profile=tinygrad_rnn", str(path)],
                              cwd=d, capture_output=True, text=True, timeout=600, env=env)
        seconds = time.perf_counter() - start
    return proc.returncode, proc.stdout + proc.stderr, seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run the planted bugs and print lines and seconds per failure.")
    p.add_argument("--show", action="store_true", help="print each failure's output too")
    args = p.parse_args(argv)
    print("| planted bug | exit | lines (`pytest -q`, CI=true) | lines (`pytest -q`, no CI) | lines (`pytest`, CI=true) "
          "| seconds | names the wrong thing |")
    print("|---|---|---|---|---|---|---|")
    import re

    for name, (_, pattern) in BUGS.items():
        code, out, secs = run(name)
        local = run(name, ci=False)[1]
        plain = run(name, extra=())[1]
        named = bool(re.search(pattern, out))
        print(f"| {name} | {code} | {len(out.splitlines())} | {len(local.splitlines())} | {len(plain.splitlines())} "
              f"| {secs:.1f} | "
              f"{'yes' if named else 'NO'} |")
        if args.show:
            print("\n```\n" + out + "\n```\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
