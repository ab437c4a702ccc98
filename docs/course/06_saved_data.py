# %% [markdown]
# # 6. Saved data and mutation
#
# A VJP rule needs values from the forward pass: `mul`'s rule for a needs b, `tanh`'s needs its
# output. A tape therefore **saves** arrays between forward and backward. If the program changes
# one of them in place in between (an optimizer step, `x *= 2`, a buffer reused), the rule reads the
# new value and returns the gradient at a point that was never computed. Nothing fails; the number
# is silently wrong.
#
# A naive array tape that saves references, not copies:

# %%
import numpy as np

class Node:
    def __init__(self, value, parents=()):
        self.value, self.grad, self.parents = value, None, parents

def mul(a, b, tape):
    out = Node(a.value * b.value)
    tape.append((out, a, b))                     # saves a and b by reference
    return out

def backward(out, tape):
    out.grad = np.ones_like(out.value)
    for node, a, b in reversed(tape):
        for x, other in ((a, b), (b, a)):
            x.grad = (0 if x.grad is None else x.grad) + node.grad * other.value   # reads the saved value now

def central(fn, X, eps=1e-6):
    out = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[i] += eps
        Xm[i] -= eps
        out[i] = (fn(Xp) - fn(Xm)) / (2 * eps)
    return out

w0, x0 = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 3.0])
truth = central(lambda x: float(np.sum(w0 * x)), x0)       # ∂/∂x Σ w·x at the forward's point: w0

# %% [markdown]
# ## The negative control: the naive tape is caught
#
# Between forward and backward the program doubles `w` in place. The naive tape's gradient for x
# is 2·w0, and the check against central differences at the point the forward used catches it.

# %%
tape = []
w, x = Node(w0.copy()), Node(x0.copy())
y = mul(w, x, tape)
w.value *= 2.0                                   # an in-place update between forward and backward
backward(y, tape)
print("naive tape:", x.grad, " truth:", truth)
assert not np.allclose(x.grad, truth, rtol=1e-6)  # caught: silently wrong

# %% [markdown]
# The fix a naive tape can make is to copy everything it saves (costly), or to make what it saved
# **read-only** until backward has used it, so the update fails loudly instead. That is the
# engine's choice: a saved array is read-only while a live graph needs it.

# %%
import tinygrad_rnn as tg

w = tg.Tensor(w0.copy(), name="w")
x = tg.Tensor(x0.copy(), requires_grad=True, name="x")
y = (w * x).sum()
for update in ("w += 1.0", "w.data *= 2.0", "w.data[0] = 5.0"):
    try:
        exec(update)
        raise AssertionError(f"{update} was allowed while a graph saved w")
    except (RuntimeError, ValueError) as e:
        print(f"{update:16s} -> {type(e).__name__}: {str(e)[:150]}")
y.backward()
assert np.allclose(x.grad, truth, rtol=1e-6)     # the gradient at the forward's point
w += 1.0                                         # after backward the graph is freed: allowed
print("after backward, w =", w.data)

# %% [markdown]
# ## The other in-place habits
#
# Each gives numpy's or PyTorch's answer, or an error that says what to write instead — never a
# third answer:
#
# - `p -= lr * p.grad` on a parameter while recording is refused (the update would not be in
#   any graph); `with tg.no_grad(): p -= lr * p.grad` updates it in place, as in PyTorch.
# - `t[i] = v` on a recorded value is refused (use `tg.where`); views are copies in this graph, so
#   a write "through" a slice could not reach the original and is refused too.
# - A `Tensor` copies the array it is given: changing your numpy array later changes nothing.

# %%
p = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
(p * p).sum().backward()
try:
    p -= 0.1 * p.grad
    raise AssertionError("an in-place update of a leaf was recorded silently")
except RuntimeError as e:
    print(str(e)[:120], "...")
with tg.no_grad():
    p -= 0.1 * p.grad
assert np.allclose(p.data, [0.8, 1.6])

a = np.array([1.0, 2.0, 3.0])
t = tg.Tensor(a, requires_grad=True)
a[0] = 100.0
assert t.data[0] == 1.0
print("p after the no_grad step:", p.data, "; t kept its own copy:", t.data)

# %% [markdown]
# The limits, stated: the protection covers arrays the engine saved (it cannot stop you from
# writing to memory you obtained some other way, such as a numpy view you made of a saved array
# before the graph existed; see `tg.describe_saved` and the engine's docs). Within those limits a
# mutation between forward and backward is an error, not a wrong number.
#
# ## Check yourself
#
# Write what a tape should keep of an array it needs later: `keep(x)` returns a value such that
# `x *= 10` afterwards either fails or leaves the kept value as the forward saw it.

# %%
from tinygrad_rnn import course

def my_keep(x):
    raise NotImplementedError("your answer: what to save of x")

print(course.check("6.safe_save", my_keep))
