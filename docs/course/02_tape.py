# %% [markdown]
# # 2. The tape
#
# Reverse mode needs the computation written down as it happens: which operation ran, on which
# inputs, and what each input's local derivative is. A **tape** is that record, a list appended to
# in execution order. Backward walks the list from the end, handing each entry the gradient of the
# loss with respect to its output and adding what it passes on into its inputs.
#
# Here is a complete scalar tape in about forty lines.

# %%
import math

TAPE = []                                   # the record: appended to in execution order

class Var:
    def __init__(self, value, parents=()):
        self.value, self.grad = value, 0.0
        self.parents = parents              # pairs (input Var, ∂self/∂input)
        TAPE.append(self)                   # recorded after its inputs exist: the tape is in topological order

    def __add__(self, o):
        o = o if isinstance(o, Var) else Var(o)
        return Var(self.value + o.value, ((self, 1.0), (o, 1.0)))
    __radd__ = __add__

    def __mul__(self, o):
        o = o if isinstance(o, Var) else Var(o)
        return Var(self.value * o.value, ((self, o.value), (o, self.value)))
    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, o):
        return self + (-o if isinstance(o, Var) else Var(-o))

    def __rsub__(self, o):
        return Var(o) - self

    def __pow__(self, k):                   # k a plain number
        return Var(self.value ** k, ((self, k * self.value ** (k - 1)),))

    def __truediv__(self, o):
        return self * (o ** -1.0 if isinstance(o, Var) else 1.0 / o)

    def __rtruediv__(self, o):
        return Var(o) * self ** -1.0

    def relu(self):
        return Var(max(self.value, 0.0), ((self, 1.0 if self.value > 0 else 0.0),))

    def tanh(self):
        t = math.tanh(self.value)
        return Var(t, ((self, 1.0 - t * t),))


def backward(loss, tape):
    """Walk the tape from the end: each entry passes grad · ∂entry/∂input to its inputs (adding)."""
    for v in tape:
        v.grad = 0.0
    loss.grad = 1.0
    for v in reversed(tape):
        for parent, local in v.parents:
            parent.grad += v.grad * local

# %% [markdown]
# ## micrograd's lecture numbers
#
# micrograd's README ends with an expression whose value and gradients it prints: g = 24.7041,
# ∂g/∂a = 138.8338, ∂g/∂b = 645.5773. Those printed numbers are our first oracle (computed by
# someone else's code), and the tape above must reproduce them.

# %%
def micrograd_example(a, b):
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g

TAPE.clear()
a, b = Var(-4.0), Var(2.0)
g = micrograd_example(a, b)
backward(g, TAPE)
print(f"g = {g.value:.4f}, dg/da = {a.grad:.4f}, dg/db = {b.grad:.4f}   ({len(TAPE)} records)")
assert (round(g.value, 4), round(a.grad, 4), round(b.grad, 4)) == (24.7041, 138.8338, 645.5773)

# %% [markdown]
# **Why reversing the record is enough.** An entry is appended only after all its inputs exist, so
# every input is earlier on the tape than everything computed from it. Walking backwards, an entry
# is reached only after every entry that reads it has handed it its share: its gradient is complete
# when it is passed on. No graph search, no sort, no recursion.
#
# ## The negative control: the wrong order is caught
#
# Walk the same tape forwards and entries pass on their gradient before it has arrived. The check
# against micrograd's numbers must fail.

# %%
def backward_wrong_order(loss, tape):
    for v in tape:
        v.grad = 0.0
    loss.grad = 1.0
    for v in tape:                          # forwards: wrong
        for parent, local in v.parents:
            parent.grad += v.grad * local

TAPE.clear()
a, b = Var(-4.0), Var(2.0)
g = micrograd_example(a, b)
backward_wrong_order(g, TAPE)
print(f"walked forwards: dg/da = {a.grad:.4f}, dg/db = {b.grad:.4f}")
assert (round(a.grad, 4), round(b.grad, 4)) != (138.8338, 645.5773)   # caught

# %% [markdown]
# ## A long chain, without recursion
#
# micrograd finds the order by a recursive depth-first search, which stops at Python's recursion
# limit (about a thousand nested calls). A tape has no such limit: here is a chain of 100 000
# tanh's (y = tanh(tanh(… tanh(x)))), and its derivative checked against the product of the local derivatives computed in a
# separate loop.

# %%
TAPE.clear()
x = Var(0.5)
y = x
for _ in range(100_000):
    y = y.tanh()
backward(y, TAPE)

v, expected = 0.5, 1.0
for _ in range(100_000):
    v = math.tanh(v)
    expected *= 1 - v * v
print(f"{len(TAPE)} records, dy/dx = {x.grad:.6e} (product of local derivatives {expected:.6e})")
assert math.isclose(x.grad, expected, rel_tol=1e-12)

# %% [markdown]
# ## The same in tinygrad_rnn
#
# The engine's tape records one entry per op, in execution order, and `history()` lists the
# entries a result depends on. micrograd's example runs unchanged on `tg.Tensor`, and a 100 000-op
# chain is fine too.

# %%
import numpy as np
import tinygrad_rnn as tg

a = tg.Tensor(-4.0, requires_grad=True)
b = tg.Tensor(2.0, requires_grad=True)
g = micrograd_example(a, b)
print([str(t.record).split(" @")[0] for t in g.history()][:6], "...", len(g.history()), "records")
g.backward()
assert (round(float(g.data), 4), round(float(a.grad), 4), round(float(b.grad), 4)) == (24.7041, 138.8338, 645.5773)

x = tg.Tensor(0.5, requires_grad=True)
y = x
for _ in range(100_000):
    y = y.tanh()
y.backward()
assert math.isclose(float(x.grad), expected, rel_tol=1e-12)
print("the engine agrees with micrograd's numbers and with the 100 000-step product")

# %% [markdown]
# ## Check yourself
#
# The tiny tape's `tanh` stores its local derivative when it runs. Write it as a **rule** instead,
# the way the engine does: given the output `out = tanh(x)` and the gradient `g` arriving at it,
# return the gradient to pass to `x`. The checker compares with `g` times central differences of
# tanh.

# %%
from tinygrad_rnn import course

def my_tanh_rule(out, g):
    raise NotImplementedError("your answer: the gradient for x, from out and g")

print(course.check("2.tanh_rule", my_tanh_rule))
