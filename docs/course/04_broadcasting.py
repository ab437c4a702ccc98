# %% [markdown]
# # 4. Tensors and broadcasting
#
# With arrays, each op's backward is a **vector–Jacobian product** (VJP): given g = ∂L/∂y (the
# shape of y), return ∂L/∂x = Jᵀg (the shape of x), without ever forming the Jacobian J.
#
# | op | forward | VJP rules |
# |---|---|---|
# | elementwise | y = f(x) | g · f′(x) |
# | matmul | C = A B | ∂L/∂A = g Bᵀ, ∂L/∂B = Aᵀ g |
# | sum | s = Σ x | g, copied to x's shape |
#
# We check the matmul rules the way every rule in this course is checked: a random scalar
# L = ⟨w, C⟩ (so g = w), its gradient from the rule, and central differences of L entry by entry.

# %%
import numpy as np

rng = np.random.default_rng(0)
A, B, w = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 4))

def L_of(A, B):
    return float(np.sum(w * (A @ B)))

def central(fn, X, eps=1e-6):
    out = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[i] += eps
        Xm[i] -= eps
        out[i] = (fn(Xp) - fn(Xm)) / (2 * eps)
    return out

gA, gB = w @ B.T, A.T @ w                       # the VJP rules, g = w
assert np.allclose(gA, central(lambda X: L_of(X, B), A), rtol=1e-6, atol=1e-9)
assert np.allclose(gB, central(lambda X: L_of(A, X), B), rtol=1e-6, atol=1e-9)
print("matmul's VJP rules agree with central differences")

# %% [markdown]
# ## Broadcasting, undone
#
# `x + b` with x of shape (2, 3) and b of shape (3,) uses each entry of b twice (once per row).
# By chapter 3 its gradient is the sum of both uses: the upstream g **summed over the broadcast
# axis**. In general: sum over the leading axes broadcasting added, and over every axis where b
# had size 1, keeping it.

# %%
def unbroadcast(g, shape):
    """Sum g down to ``shape``: the VJP of np.broadcast_to(·, g.shape)."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))            # axes broadcasting added in front
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)  # size-1 axes

x, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
v = rng.standard_normal((2, 3))                                  # L = <v, x + b>
g_b = unbroadcast(v, b.shape)
assert g_b.shape == (3,)
assert np.allclose(g_b, central(lambda bb: float(np.sum(v * (x + bb))), b), rtol=1e-6, atol=1e-9)
print("unbroadcast(g, (3,)) =", np.round(g_b, 4))

# %% [markdown]
# ## The negative control: hypothesis finds a rule that forgets the sum
#
# A tempting bug is to take *one* copy's gradient instead of the sum (here: the first row, the
# first column, ...). It is right whenever nothing was broadcast, so a few hand-picked tests can
# miss it. **hypothesis** draws shapes and broadcast targets at random, and when a check fails it
# *shrinks* the example to the smallest one that still fails. The check is the adjoint identity
# ⟨g, broadcast(v)⟩ = ⟨unbroadcast(g), v⟩, which defines the right answer without computing it.

# %%
from hypothesis import find, settings, strategies as st

def first_copy(g, shape):
    """The bug: index out the first copy along every broadcast axis instead of summing."""
    g = g[(0,) * (g.ndim - len(shape))]
    return g[tuple(slice(0, 1) if n == 1 else slice(None) for n in shape)]

def _case(parts):
    """(input shape, broadcast shape): leading axes added, and some axes of size 1 in the input."""
    lead, dims, ones = parts
    big = tuple(lead) + tuple(dims)
    small = tuple(1 if one else n for n, one in zip(dims, ones))
    return small, big

cases = st.tuples(st.lists(st.integers(1, 3), max_size=2), st.lists(st.integers(1, 3), max_size=3),
                  st.lists(st.booleans(), min_size=3, max_size=3)).map(_case)   # shrinks towards () and 1s

def breaks_the_identity(rule):
    def broken(case):
        shape, big = case
        r = np.random.default_rng(1)
        g, v = r.standard_normal(big), r.standard_normal(shape)
        return not np.isclose(np.sum(g * np.broadcast_to(v, big)), np.sum(rule(g, shape) * v))
    return broken

smallest = find(cases, breaks_the_identity(first_copy), settings=settings(database=None, max_examples=500, derandomize=True))
print("smallest failing case for first_copy: input shape", smallest[0], "broadcast to", smallest[1])
assert int(np.prod(smallest[1])) == 2                  # shrunk to two copies of one number
try:
    find(cases, breaks_the_identity(unbroadcast), settings=settings(database=None, max_examples=300, derandomize=True))
    raise AssertionError("hypothesis found a failing case for the correct rule")
except Exception as e:
    assert type(e).__name__ == "NoSuchExample"         # the correct rule survives 300 cases

# %% [markdown]
# ## The same in tinygrad_rnn: one place
#
# The engine's rules never think about broadcasting: each returns the gradient of the broadcast
# shape, and one function of the walk (`fit_gradient` in `tinygrad_rnn/backward.py`) sums it
# down to the input's shape, for every op and every order of derivative. A rule that returns a
# shape that cannot be fitted is a `GradientShapeError` naming the op, never a silent reshape.

# %%
import tinygrad_rnn as tg

xt, bt = tg.Tensor(x, requires_grad=True), tg.Tensor(b, requires_grad=True)
((xt + bt) * v).sum().backward()
assert np.allclose(bt.grad, unbroadcast(v, b.shape), rtol=1e-12)
assert tg.gradcheck(lambda x, b: ((x + b) * v).sum(), [x, b])

bad = tg.defop("bad_rule", rules=(lambda F, g, out, x: F.sum(g),))(lambda x: x * 2.0)  # returns a scalar
try:
    bad(tg.Tensor(np.ones((2, 3)), requires_grad=True)).sum().backward()
    raise AssertionError("a misshapen gradient was accepted")
except tg.GradientShapeError as e:
    print("refused:", e)

# %% [markdown]
# ## Check yourself
#
# Write `unbroadcast(g, shape)` yourself (without looking above). The checker uses the adjoint
# identity on seven shape pairs, including () from (4,) and (3, 1, 2) from (5, 3, 4, 2).

# %%
from tinygrad_rnn import course

def my_unbroadcast(g, shape):
    raise NotImplementedError("your answer: g summed down to shape")

print(course.check("4.unbroadcast", my_unbroadcast))
