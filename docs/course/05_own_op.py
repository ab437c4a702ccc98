# %% [markdown]
# # 5. Write and test your own op
#
# An op in `tinygrad_rnn` is a forward function on numpy arrays plus **one named VJP rule per
# input**, `rule(F, g, out, *inputs)`: `g` is ∂L/∂out, `out` the forward's result, and `F` the set
# of functions the rule may use (`F.tanh`, `F.sum`, ...). Written that way, the same rule runs on
# arrays in `backward()` and on Tensors when the backward pass is itself recorded (chapter 9).
#
# Our example is softsign, s(x) = x / (1 + |x|), whose derivative is 1 / (1 + |x|)².

# %%
import numpy as np
import tinygrad_rnn as tg

@tg.defop("softsign", rules=(lambda F, g, out, x: g / (1.0 + F.abs(x)) ** 2,))
def softsign(x):
    """x / (1 + |x|);  d/dx = 1 / (1 + |x|)²."""
    return x / (1.0 + np.abs(x))

x0 = np.array([-2.0, -0.3, 0.4, 1.7])
assert tg.gradcheck(lambda t: softsign(t).sum(), [x0])       # central differences, rtol 1e-6
print(softsign(tg.Tensor(x0)).data)

# %% [markdown]
# ## The negative control: a wrong rule is caught, and named
#
# Drop the square, a typical slip. `gradcheck` fails, and because it re-checks every recorded rule
# against finite differences of that record alone, it names the suspect: not "the gradient of
# your loss is wrong", but "this rule, this input".

# %%
@tg.defop("softsign_wrong", rules=(lambda F, g, out, x: g / (1.0 + F.abs(x)),))   # square dropped
def softsign_wrong(x):
    return x / (1.0 + np.abs(x))

try:
    tg.gradcheck(lambda t: (softsign_wrong(t) * 3.0).tanh().sum(), [x0])
    raise AssertionError("the wrong rule passed")
except tg.GradcheckError as err:
    message = str(err)
print(message)
assert "suspect rule: 'softsign_wrong'" in message

# %% [markdown]
# ## Tests of your own: `tinygrad_rnn.testing`
#
# One example proves little; a property over many inputs proves more. `tinygrad_rnn.testing`
# gives hypothesis strategies and checks built for gradients: `arrays()` draws float64 arrays whose
# entries are pairwise apart (so an example never shrinks to a degenerate constant row where
# finite differences are pure round-off), and `assert_grad_close` is `gradcheck` with a verdict
# that knows the finite differences' own error.

# %%
from hypothesis import given
from tinygrad_rnn.testing import arrays, assert_grad_close

@given(arrays(max_dims=2, min_value=-4.0, max_value=4.0))
def test_softsign(x):
    assert_grad_close(lambda t: (softsign(t) ** 2).sum(), [x])

@given(arrays(max_dims=2, min_value=-4.0, max_value=4.0))
def test_softsign_wrong(x):
    assert_grad_close(lambda t: (softsign_wrong(t) ** 2).sum(), [x])

test_softsign()                                  # passes over hypothesis's examples
try:
    test_softsign_wrong()
    raise AssertionError("the wrong rule passed a hypothesis test")
except tg.GradcheckError as err:                 # hypothesis shrinks, then re-raises the failure
    print(str(err).splitlines()[0])

# %% [markdown]
# ## Kinks: when finite differences cannot decide
#
# At x = 0, relu(x) = max(x, 0) has no derivative; the engine uses 0 there (as PyTorch does).
# Central differences give ½, the average of the one-sided slopes 0 and 1. Neither number is
# "right", so rather than pass or fail, the check says it cannot decide (`tg.UncheckableInput`,
# naming the one-sided slopes), and inside a hypothesis test that input is rejected and another
# drawn. (At |x|'s kink both give 0 by symmetry, and the check passes: a kink is only a problem
# where it makes the two disagree.)

# %%
try:
    tg.gradcheck(lambda t: t.relu().sum(), [np.array([0.0, 1.0])])
    raise AssertionError("a kink was checked as if smooth")
except tg.UncheckableInput as e:
    print(e)
    assert "one-sided slopes are 0 (left) and 1 (right)" in str(e)

# %% [markdown]
# ## Check yourself
#
# Write softsign's VJP as a plain function `rule(g, x)` (numpy arrays in, the gradient for x out).
# The checker tests it at twelve points away from the kink.

# %%
from tinygrad_rnn import course

def my_softsign_rule(g, x):
    raise NotImplementedError("your answer: g times d softsign/dx")

print(course.check("5.softsign_rule", my_softsign_rule))
