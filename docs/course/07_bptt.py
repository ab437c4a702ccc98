# %% [markdown]
# # 7. BPTT is just the walk
#
# The seed's model, for t = 1..T with h_0 = 0:
#
# | eq | |
# |---|---|
# | 1 | h_t = tanh(W h_{t−1} + U x_t + b) |
# | 2 | A_{t,i} = h_i · h_t, for i = 1..t |
# | 3 | α_{t,i} = softmax_i(A_{t,i}) |
# | 4 | Z_t = Σ_i α_{t,i} h_i |
# | 5 | Ω_t = V Z_t + c |
# | 6 | ŷ_t = softmax(Ω_t) |
# | 7 | L = Σ_t −y_t · ln ŷ_t |
#
# "Backpropagation through time" sounds like a new algorithm. It is not: unroll the loop, and the
# forward pass is one long tape of ordinary ops (each step's inside `tg.scope("t=…")`, tagged with
# its equation). Walking that tape backwards *is* BPTT. The seed then derives the gradients by hand
# (eqs 8–17), and that derivation contains errors; the walk has none to make.

# %%
import numpy as np
import tinygrad_rnn as tg
from tinygrad_rnn.models.attention_rnn import AttentionRNN
from tinygrad_rnn.models import closed_form

rng = np.random.default_rng(0)
T, D, H, K = 6, 3, 4, 3
model = AttentionRNN(D, H, K, seed=0)
xs, ys = rng.standard_normal((T, D)), rng.integers(0, K, T)

loss = model.loss(xs, ys, mode="unrolled")
tape = loss.history()
print(f"{len(tape)} records; the first few of step t=2:")
for t in [t for t in tape if t.record.scope == "t=2"][:5]:
    print("  ", t.record)

# %% [markdown]
# ## The walk equals the closed form
#
# `closed_form.bptt` is the corrected hand derivation (eqs 9–17, with the errata fixed) in plain
# numpy. It shares no code with the engine. The two agree to 1e-10 relative in every parameter.

# %%
loss.backward()
exact = closed_form.bptt(model.numpy_params(), xs, ys)
for name, p in model.params().items():
    err = np.max(np.abs(p.grad - exact[name])) / np.max(np.abs(exact[name]))
    print(f"∂L/∂{name}: max relative difference {err:.1e}")
    assert np.allclose(p.grad, exact[name], rtol=1e-10, atol=1e-14)

# %% [markdown]
# ## The negative control: the equations as printed are caught
#
# `closed_form.as_printed` evaluates eqs 10, 11, 13, 15 and 17 exactly as the seed prints them.
# The same comparison that the corrected forms pass rejects them, and by how much is measured over
# 20 random draws (`tinygrad_rnn.models.errata`; docs/ERRATA.md has the full account).

# %%
from tinygrad_rnn.models import errata

printed = closed_form.as_printed(model.numpy_params(), xs, ys)
wrong = [k for k in "WUbV" if not np.allclose(printed[k], exact[k], rtol=1e-10, atol=1e-14)]
print("as printed, wrong for:", wrong)
assert set(wrong) == set("WUbV")

stats = errata.discrepancies(draws=20, scales=(1.0,))[1.0]
for k in "WUbV":
    print(f"∂L/∂{k} as printed: median relative error {np.median(stats[k]['rel']):.2f}, "
          f"median cosine with the truth {np.median(stats[k]['cos']):+.2f}")
assert np.median(stats["V"]["rel"]) > 0.1       # eq 10: h_t where Z_t belongs

# %% [markdown]
# ## Vanishing gradients, and the attention shortcut
#
# Without attention (Ω_t = V h_t + c), the gradient of the last step's loss reaching h_t is a product
# of T − t Jacobians ∂h_{j+1}/∂h_j, and with a tanh recurrence it shrinks geometrically going
# back. With attention, Z_T reads every h_i directly (eq 4), so each h_i gets a direct share.

# %%
def grad_norms(attention, T=40):
    m = AttentionRNN(D, 3, K, seed=0, attention=attention)
    r = np.random.default_rng(1)
    x, y = r.standard_normal((T, D)), r.integers(0, K, T)
    f = m.forward(x[None])                              # a batch of one: f.steps are the graph's own h_t
    for h in f.steps:
        h.retain_grad()
    (-f.probs[0, T - 1, y[T - 1]].log()).backward()     # L_T only
    return np.array([np.linalg.norm(h.grad) for h in f.steps])

with_attn, without = grad_norms(True), grad_norms(False)
for t in (40, 30, 20, 10, 1):
    print(f"t = {t:2d}: ‖∂L_T/∂h_t‖ with attention {with_attn[t - 1]:.2e}, without {without[t - 1]:.2e}")
assert without[0] < 1e-6 * without[-1]                  # the baseline's gradient vanishes
assert with_attn[0] > 1e3 * without[0]                  # attention keeps a direct path

# %% [markdown]
# ## The unrolled graph
#
# The drawing clusters each step's ops by scope and colours them by the equation they compute (the
# model tells `viz` what its tags mean; `viz` knows nothing about RNNs). Attention edges reach back
# from every h_i into step t.

# %%
from IPython.display import SVG, display
from tinygrad_rnn.models.draw import draw_unrolled

g = draw_unrolled(AttentionRNN(2, 2, 2, seed=0), xs[:2, :2], ys[:2] % 2)
assert g.source.count("subgraph cluster_") == 2
display(SVG(g.pipe(format="svg")))

# %% [markdown]
# ## Check yourself
#
# Eq 17's target: ∂L/∂c. Given the model's outputs ŷ (T, K) and one-hot targets y (T, K), return
# ∂L/∂c. The checker runs its own plain-numpy forward of eqs 1–7 and compares with central
# differences of the loss in c.

# %%
from tinygrad_rnn import course

def my_grad_c(probs, targets):
    raise NotImplementedError("your answer: dL/dc, shape (K,)")

print(course.check("7.grad_c", my_grad_c))
