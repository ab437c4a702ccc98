# %% [markdown]
# # 1. A derivative you can check
#
# Everything in this course is a claim followed by a check. The checks compare against an
# **oracle**: a way to get the same number that shares no code with what is being checked. The
# first oracle is the oldest one: move the input a little and watch the output.
#
# For f(x) = x² · sin x, the product rule gives f′(x) = 2x · sin x + x² · cos x.

# %%
import numpy as np

def f(x):
    return x**2 * np.sin(x)

def df_by_hand(x):
    return 2 * x * np.sin(x) + x**2 * np.cos(x)

def central_difference(fn, x, eps=1e-6):
    """(f(x + ε) − f(x − ε)) / 2ε: its error is about ε² f‴/6 (truncation) plus u·|f|/ε (round-off)."""
    return (fn(x + eps) - fn(x - eps)) / (2 * eps)

x0 = 1.3
print(f"by hand: {df_by_hand(x0):.12f}")
print(f"central: {central_difference(f, x0):.12f}")
assert abs(df_by_hand(x0) - central_difference(f, x0)) < 1e-8

# %% [markdown]
# The two agree to about 1e-10, not exactly. That gap is the oracle's own error, and it depends on
# the step ε: too large and the Taylor terms we dropped (ε² f‴/6) dominate; too small and the
# subtraction f(x + ε) − f(x − ε) loses digits to round-off (about 1e-16 · |f| / ε). The best ε for
# float64 is near the cube root of machine epsilon, ~6e-6.

# %%
exact = df_by_hand(x0)
errors = {eps: abs(central_difference(f, x0, eps) - exact) for eps in 10.0 ** -np.arange(1, 13)}
for eps, err in errors.items():
    print(f"eps = {eps:.0e}   error = {err:.1e}")
best = min(errors, key=errors.get)
assert 1e-7 <= best <= 1e-4, best                     # the sweet spot is in the middle...
assert errors[1e-1] > 100 * errors[best]               # ...truncation on one side
assert errors[1e-12] > 100 * errors[best]              # ...round-off on the other

# %% [markdown]
# ## The negative control: a wrong derivative is caught
#
# A check is only worth something if it can fail. Here is a plausible mistake, forgetting the
# product rule (d/dx x² sin x "=" 2x cos x), and the same comparison must reject it. We compare with
# a relative tolerance of 1e-6, which the correct derivative passes with room to spare at every
# point we try.

# %%
def df_wrong(x):
    return 2 * x * np.cos(x)

def agrees(deriv, fn, xs, rtol=1e-6):
    """True if ``deriv`` matches central differences of ``fn`` at every point of ``xs``."""
    return all(abs(deriv(x) - central_difference(fn, x)) <= rtol * max(1.0, abs(deriv(x))) for x in xs)

points = np.linspace(-3, 3, 13)
assert agrees(df_by_hand, f, points)
assert not agrees(df_wrong, f, points)                  # caught
print("the correct derivative passes at 13 points; the wrong one is caught")

# %% [markdown]
# ## The same check in tinygrad_rnn
#
# `tg.grad(f)` differentiates a function written with the engine's ops; `tg.gradcheck` is the
# comparison above, done carefully (a full Jacobian, float64, a relative tolerance of 1e-6, and a
# message naming the worst entry when it fails).

# %%
import tinygrad_rnn as tg

g = tg.grad(lambda x: (x**2 * x.sin()).sum())
xs = np.array([-1.0, 0.5, 1.3])
print(g(xs).data)
assert np.allclose(g(xs).data, df_by_hand(xs), rtol=1e-12)   # the engine equals the hand derivative
assert tg.gradcheck(lambda x: (x**2 * x.sin()).sum(), [xs])     # and central differences

# %% [markdown]
# ## Check yourself
#
# Write the derivative of the logistic sigmoid σ(x) = 1 / (1 + e^(−x)). The checker calls your
# function at points you do not see and compares it with central differences of σ (it never looks
# at the engine). Replace the body and run the cell: it prints whether you are right.

# %%
from tinygrad_rnn import course

def my_sigmoid_derivative(x):
    raise NotImplementedError("your answer: dσ/dx at x, using numpy")

print(course.check("1.sigmoid", my_sigmoid_derivative))
