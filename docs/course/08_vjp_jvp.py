# %% [markdown]
# # 8. VJP, JVP and transposition
#
# For f: ℝⁿ → ℝᵐ with Jacobian J (m × n) at x, there are two cheap products:
#
# - the **JVP** u ↦ J u (forward mode: how the output moves when the input moves along u), and
# - the **VJP** v ↦ Jᵀ v (reverse mode: what backward computes, v = ∂L/∂f).
#
# They are transposes of each other, and the identity that ties them is
# ⟨v, J u⟩ = ⟨Jᵀ v, u⟩ for every u and v. It is also the best test of a VJP rule: it needs no
# Jacobian and no knowledge of the right answer, only a JVP you trust. Central differences give one:
# J u ≈ (f(x + εu) − f(x − εu)) / 2ε.

# %%
import numpy as np
import tinygrad_rnn as tg

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
f = lambda x: (tg.Tensor(A) @ x).tanh() * x[:3]            # ℝ⁴ → ℝ³, written with engine ops
f_np = lambda x: np.tanh(A @ x) * x[:3]                     # the same in plain numpy (the oracle's)

x, u, v = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(3)
Ju_fd = (f_np(x + 1e-6 * u) - f_np(x - 1e-6 * u)) / 2e-6     # J u by central differences

out, vjp_fn = tg.vjp(f, x)
JTv = vjp_fn(v).data                                        # Jᵀ v by the backward walk
print(f"<v, J u> = {v @ Ju_fd:.10f}   <Jᵀ v, u> = {JTv @ u:.10f}")
assert abs(v @ Ju_fd - JTv @ u) < 1e-8

_, Ju = tg.jvp(f, (x,), (u,))                               # the engine's forward mode
assert np.allclose(Ju.data, Ju_fd, rtol=1e-6, atol=1e-9)

# %% [markdown]
# ## A linear map's VJP is its transpose
#
# For f(x) = M x the Jacobian is M, so the VJP must be v ↦ Mᵀ v. Applying the engine's VJP to the
# basis vectors e_1, e_2, e_3 reads off its matrix, and it is Mᵀ, exactly.

# %%
M = rng.standard_normal((3, 5))
_, lin_vjp = tg.vjp(lambda x: tg.Tensor(M) @ x, rng.standard_normal(5))
VJP_matrix = np.array([lin_vjp(e).data for e in np.eye(3)]).T     # column j: the VJP of e_j
assert np.array_equal(VJP_matrix, M.T)
print("the VJP's matrix is Mᵀ, bit for bit")

# %% [markdown]
# ## The negative control: a rule that forgets the transpose
#
# A square, non-symmetric M makes shapes agree, so a rule returning M v instead of Mᵀ v raises no
# shape error. The transposition identity catches it.

# %%
S = rng.standard_normal((3, 3))
good = tg.defop("apply_S", rules=(lambda F, g, out, x: g @ S,))(lambda x: S @ x)     # g @ S = Sᵀ g
bad = tg.defop("apply_S_bad", rules=(lambda F, g, out, x: S @ g,))(lambda x: S @ x)  # forgets the transpose

def transposition_holds(op, trials=5):
    r = np.random.default_rng(1)
    for _ in range(trials):
        x, u, v = r.standard_normal(3), r.standard_normal(3), r.standard_normal(3)
        Ju = (S @ (x + 1e-6 * u) - S @ (x - 1e-6 * u)) / 2e-6
        _, back = tg.vjp(op, x)
        if abs(v @ Ju - back(v).data @ u) > 1e-8 * (1 + abs(v @ Ju)):
            return False
    return True

assert transposition_holds(good)
assert not transposition_holds(bad)                          # caught
print("the identity passes the right rule and catches the transposed one")

# %% [markdown]
# ## Forward mode from two reverse passes
#
# The engine has no forward-mode interpreter. `tg.jvp` uses a trick: v ↦ Jᵀ v is *linear* in v,
# so its own VJP is (Jᵀ)ᵀ = J. Record the backward pass (the VJP as a differentiable function of a
# dummy v), then run backward through it with cotangent u: the result is J u. The cost is two
# reverse passes instead of one forward pass, a price paid for having one mechanism.

# %%
dummy = tg.Tensor(np.zeros(3), requires_grad=True)
y, back = tg.vjp(f, x)
JTv_of_dummy = back(dummy)                                   # a Tensor with history: linear in dummy
(Ju_twice,) = tg.gradients((JTv_of_dummy * u).sum(), [dummy])
assert np.allclose(Ju_twice.data, Ju_fd, rtol=1e-6, atol=1e-9)
print("J u by double VJP:", np.round(Ju_twice.data, 6))

# %% [markdown]
# ## Check yourself
#
# Write `my_jvp(f, x, u)` by the double-VJP trick above, using `tg.vjp` and `tg.gradients` (not
# `tg.jvp`). The checker compares with central differences along u.

# %%
from tinygrad_rnn import course

def my_jvp(f, x, u):
    raise NotImplementedError("your answer: J u by two VJPs")

print(course.check("8.jvp", my_jvp))
