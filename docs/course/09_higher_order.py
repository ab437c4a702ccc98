# %% [markdown]
# # 9. Higher order
#
# A gradient is itself computed by ops: the VJP rules. If the backward pass is *recorded* like any
# forward pass, its result is a Tensor with history, and it can be differentiated again. That is
# all `create_graph=True` means. Each built-in rule is written once with the functions of `F`, so
# the same rule runs on arrays in a plain `backward()` and on Tensors when it is recorded.

# %%
import numpy as np
import tinygrad_rnn as tg

f = lambda x: (x.tanh() ** 3).sum()
x0 = np.array([0.3, -0.5, 1.2])

x = tg.Tensor(x0, requires_grad=True)
f(x).backward(create_graph=True)
first = x.grad                                     # 3 tanh² (1 − tanh²): a Tensor with history
print("first derivative:", np.round(first.data, 6), "recorded:", first.record is not None)

t = np.tanh(x0)
assert np.allclose(first.data, 3 * t**2 * (1 - t**2), rtol=1e-12)              # by hand

# %% [markdown]
# ## The Hessian, against central differences of the gradient
#
# f is a sum of functions of one entry each, so its Hessian is diagonal: d²/dx² tanh³ =
# (1 − t²)(6t − 12t³) with t = tanh x. We check `tg.hessian` against the formula and against
# central differences of the first derivative (written by hand above, so no engine code is shared).

# %%
H = tg.hessian(f)(x0).data
by_hand = np.diag((1 - t**2) * (6 * t - 12 * t**3))
d1 = lambda x: 3 * np.tanh(x) ** 2 * (1 - np.tanh(x) ** 2)
fd = np.diag((d1(x0 + 1e-6) - d1(x0 - 1e-6)) / 2e-6)
print(np.round(H, 6))
assert np.allclose(H, by_hand, rtol=1e-12, atol=1e-15)
assert np.allclose(H, fd, rtol=1e-6, atol=1e-9)

# %% [markdown]
# ## The negative control: gradgradcheck catches what gradcheck passes
#
# A rule can be right to first order and wrong to second. This tanh reads its output through
# `F.value` (a constant, cut out of the recorded graph), so its first derivative is exact while
# the second loses the term that comes from differentiating y = tanh(x) inside the rule.
# `gradcheck` passes it; `gradgradcheck` (central differences of the engine's first derivative)
# does not.

# %%
@tg.defop("tanh_frozen", saves=("out",), rules=(lambda F, g, y, x: g * (1.0 - F.value(y) ** 2),))
def tanh_frozen(x):
    return np.tanh(x)

assert tg.gradcheck(lambda t: tanh_frozen(t).sum(), [x0])            # first order: fine
assert tg.gradgradcheck(lambda t: t.tanh().sum(), [x0])              # the built-in: fine to second order
try:
    tg.gradgradcheck(lambda t: tanh_frozen(t).sum(), [x0])
    raise AssertionError("the frozen rule passed gradgradcheck")
except tg.GradcheckError as err:
    print(str(err).splitlines()[0])

# %% [markdown]
# ## Hessian-vector products without the Hessian
#
# For a model with many parameters the Hessian is too big to form, but H v is one more reverse
# pass: the gradient of ⟨∇f, v⟩. Here it is for the seed's model in all five parameters at once,
# checked against central differences of the closed-form gradient (plain numpy).

# %%
from tinygrad_rnn.models import attention_rnn, closed_form
from tinygrad_rnn.models.attention_rnn import AttentionRNN

rng = np.random.default_rng(0)
P = AttentionRNN(2, 3, 3, seed=0).numpy_params()
xs, ys = rng.standard_normal((4, 2)), rng.integers(0, 3, 4)
names = list(P)
V = {k: rng.standard_normal(P[k].shape) for k in names}

loss = lambda *ps: attention_rnn.loss(dict(zip(names, ps)), xs, ys)
Hv = tg.hvp(loss, [P[k] for k in names], [V[k] for k in names])
eps = 1e-5
plus = closed_form.bptt({k: P[k] + eps * V[k] for k in names}, xs, ys)
minus = closed_form.bptt({k: P[k] - eps * V[k] for k in names}, xs, ys)
for k, hv in zip(names, Hv):
    want = (plus[k] - minus[k]) / (2 * eps)
    assert np.allclose(hv.data, want, rtol=1e-6, atol=1e-8), k
print("H v in W, U, b, V, c agrees with central differences of the closed-form gradient")

# %% [markdown]
# ## Check yourself
#
# Write the Hessian of f(x) = Σ x_i³ + x_0 x_1 + sin x_2 (x has three entries) by hand. The
# checker compares with central differences of central differences.

# %%
from tinygrad_rnn import course

def my_hessian(x):
    raise NotImplementedError("your answer: a (3, 3) array")

print(course.check("9.hessian", my_hessian))
