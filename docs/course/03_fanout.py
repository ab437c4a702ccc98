# %% [markdown]
# # 3. Shared uses add up
#
# When a value is read by several operations, a change in it moves the loss through each of them,
# and the total derivative is the **sum** of the contributions (the multivariable chain rule). In
# a recurrent network this is everywhere: h_t feeds h_{t+1}, and in the seed's model also the
# attention of every later step. The backward walk implements the sum by *adding* into `.grad`.
#
# The tape from chapter 2, reduced to what this chapter needs:

# %%
class Var:
    def __init__(self, value, parents=(), tape=None):
        self.value, self.grad, self.parents = value, 0.0, parents
        if tape is not None:
            tape.append(self)

def mul(a, b, tape):
    return Var(a.value * b.value, ((a, b.value), (b, a.value)), tape)

def add(a, b, tape):
    return Var(a.value + b.value, ((a, 1.0), (b, 1.0)), tape)

def backward(loss, tape, accumulate=True):
    loss.grad = 1.0
    for v in reversed(tape):
        for parent, local in v.parents:
            if accumulate:
                parent.grad += v.grad * local
            else:
                parent.grad = v.grad * local      # the bug: the last contribution wins

def f(x, y, tape):
    """f = x·y + x·x·y + y: x is read three times, y three times."""
    return add(add(mul(x, y, tape), mul(mul(x, x, tape), y, tape), tape), y, tape)

# %% [markdown]
# By hand: ∂f/∂x = y + 2xy and ∂f/∂y = x + x² + 1. At x = 1.5, y = −2 that is −8 and 4.75; central
# differences of the plain-number function agree.

# %%
def f_plain(x, y):
    return x * y + x * x * y + y

x0, y0, eps = 1.5, -2.0, 1e-6
fd = ((f_plain(x0 + eps, y0) - f_plain(x0 - eps, y0)) / (2 * eps),
      (f_plain(x0, y0 + eps) - f_plain(x0, y0 - eps)) / (2 * eps))
by_hand = (y0 + 2 * x0 * y0, x0 + x0**2 + 1)
assert abs(fd[0] - by_hand[0]) < 1e-8 and abs(fd[1] - by_hand[1]) < 1e-8

tape = []
x, y = Var(x0), Var(y0)
backward(f(x, y, tape), tape)
print("accumulating tape:", (x.grad, y.grad), " by hand:", by_hand)
assert abs(x.grad - by_hand[0]) < 1e-12 and abs(y.grad - by_hand[1]) < 1e-12

# %% [markdown]
# ## The negative control: a tape that overwrites is caught
#
# Replace `+=` by `=` and each value keeps only the contribution that reached it last. Nothing
# crashes; the number is just wrong, which is the worst kind of bug. The same comparison catches it.

# %%
tape = []
x, y = Var(x0), Var(y0)
backward(f(x, y, tape), tape, accumulate=False)
print("overwriting tape:  ", (x.grad, y.grad))
assert abs(x.grad - by_hand[0]) > 1 and abs(y.grad - by_hand[1]) > 1   # caught

# %% [markdown]
# ## Watching the sum fill up in the engine
#
# `tinygrad_rnn`'s walk can report every addition it makes to an observer (the step-through page
# is built from exactly these reports). For L = a·b + a, `a` is read twice, so its gradient arrives
# in two parts, b and 1, whose running total ends at ∂L/∂a = b + 1.

# %%
import numpy as np
import tinygrad_rnn as tg
from tinygrad_rnn.backward import backward as engine_backward

class Report:
    """An observer: the walk calls arrive() at each record and added() for each contribution."""
    def __init__(self):
        self.parts = []
    def arrive(self, record, g):
        pass
    def added(self, record, i, x, contribution, total):
        self.parts.append((record.op.name, x.name, float(contribution), float(total)))

a = tg.Tensor(2.0, requires_grad=True, name="a")
b = tg.Tensor(-3.0, requires_grad=True, name="b")
L = a * b + a
report = Report()
engine_backward(L, None, False, report)
for op, name, part, total in report.parts:
    if name is None:
        name = "a·b"   # the unnamed intermediate
    print(f"rule {op:4s} gives {name}: {part:+.1f}   so far {total:+.1f}")
parts_of_a = [p for op, n, p, t in report.parts if n == "a"]
assert sorted(parts_of_a) == [-3.0, 1.0] and float(a.grad) == -3.0 + 1.0   # b, then 1: they add up

# %% [markdown]
# The same walk, one record at a time (press ▶ or use the arrow keys): the orange partial sum on
# `a` fills up as its two contributions arrive. (The page is written by `viz.explore` when this
# site is built.)
#
# <iframe src="../explore/fanout.html" title="the walk of a·b + a" width="100%" height="680" loading="lazy"></iframe>
#
# [Open the page on its own](../explore/fanout.html).

# %% [markdown]
# ## Check yourself
#
# Return both partial derivatives of f(x, y) = x·y + x·x·y + y (the function above), as a pair.
# Count every use.

# %%
from tinygrad_rnn import course

def my_fanout_gradient(x, y):
    raise NotImplementedError("your answer: (df/dx, df/dy)")

print(course.check("3.fanout", my_fanout_gradient))
