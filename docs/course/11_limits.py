# %% [markdown]
# # 11. Where this engine stops
#
# `tinygrad_rnn` chose to be small and readable: one Python object per op, a tape walked in
# Python, numpy underneath. This chapter measures what that costs and names what larger systems
# add, each with the check that would tell you they got it right.
#
# ## The cost of one op
#
# Every recorded op pays for bookkeeping: the `Op` call, the record, protecting saved arrays, and
# in backward the walk's accumulation. On tiny arrays that dwarfs the arithmetic. The times below
# are measured now, on the machine that built this page (so they vary from build to build).

# %%
import time

import numpy as np
import tinygrad_rnn as tg

x0 = np.linspace(-1, 1, 8)

def engine_chain(n=200):
    x = tg.Tensor(x0, requires_grad=True)
    y = x
    for _ in range(n):
        y = y.tanh()
    y.sum().backward()
    return x.grad

def numpy_chain(n=200):
    ys, y = [], x0
    for _ in range(n):
        y = np.tanh(y)
        ys.append(y)
    g = np.ones_like(x0)
    for y in reversed(ys):
        g = g * (1 - y * y)
    return g

assert np.allclose(engine_chain(), numpy_chain(), rtol=1e-12)      # same numbers first

def per_op_microseconds(fn, n=200, repeats=30):
    best = min(_timed(fn, n) for _ in range(repeats))
    return best / n * 1e6

def _timed(fn, n):
    start = time.perf_counter()
    fn(n)
    return time.perf_counter() - start

engine_us, numpy_us = per_op_microseconds(engine_chain), per_op_microseconds(numpy_chain)
print(f"forward + backward of one tanh on 8 numbers: engine {engine_us:.1f} µs, hand-written numpy {numpy_us:.1f} µs")
# (timings are printed, not asserted: they vary from build to build on a shared machine)

# %% [markdown]
# At the sizes of a real model (large matrices) the arithmetic dominates and the ratio falls
# toward 1. The benchmarks measure the whole training step of the seed's model against the fastest
# numpy we could write, in fresh processes ([speed and memory](../speed.md)); the cell below reads
# their recorded table, so the ratios shown are the recorded run's, not this build's.
#
# %%
import re
from pathlib import Path

root = next(d for d in (Path.cwd().resolve(), *Path.cwd().resolve().parents) if (d / "benchmarks" / "results.md").is_file())
recorded = (root / "benchmarks" / "results.md").read_text()
cells = re.findall(r"^\| (tiny|small|medium|long|wide) \(([^)]*)\) \| (floor|engine fused) \| ([\d.]+) \[[^]]*\] \| ([\d.]+) \[",
                   recorded, re.M)
table = {}
for name, sizes, impl, ms, ratio in cells:
    table.setdefault((name, sizes), {}).setdefault(impl, (float(ms), float(ratio)))   # the first table: the main run
for (name, sizes), r in table.items():
    print(f"{name:6s} (B, T, D, H, K = {sizes}): floor {r['floor'][0]} ms, engine {r['engine fused'][0]} ms, "
          f"{r['engine fused'][1]}× the floor")
ratios = [r["engine fused"][1] for r in table.values()]
assert len(ratios) == 5 and ratios[0] > 2 * ratios[-1]     # the gap is largest where the ops are smallest

# %% [markdown]
# ## What compilation adds: `tg.compile`
#
# The tape of one training step is already a straight-line program. `tg.compile(fn)` runs `fn`
# once while recording every op call, then writes that program down as Python source that calls
# each op's numpy forward and each VJP rule in the order the walk would: no Tensor, no Record, no
# saved-data bookkeeping per op. Same numpy calls, same order, so the same bits. The price is the
# one `jax.jit` charges: the function must not depend on values (an `if` on a tensor, `.item()`,
# a comparison that makes a constant mask) — those are refused while tracing, naming the line.

# %%
def chain(x):
    h = x
    for _ in range(200):
        h = h.tanh()
    return h.sum()

step = tg.compile(chain)
x_leaf = tg.Tensor(x0, requires_grad=True)
step(x_leaf)                                            # the first call traces (and runs eagerly)
replayed = tg.Tensor(x0, requires_grad=True)
step(replayed)                                          # the replay
eager = tg.Tensor(x0, requires_grad=True)
chain(eager).backward()
assert replayed.grad.tobytes() == eager.grad.tobytes()  # bit for bit

compiled_us = min(_timed(lambda n: step(tg.Tensor(x0, requires_grad=True)), 200) for _ in range(30)) / 200 * 1e6
print(f"per op, forward + backward: eager {engine_us:.1f} µs, compiled {compiled_us:.1f} µs, numpy by hand {numpy_us:.1f} µs")
replay_source = step.source(tg.Tensor(x0, requires_grad=True))
assert "Record" not in replay_source and replay_source.count("* (1.0 - ") == 200   # 200 rules as numpy, no records

try:
    tg.compile(lambda x: x.sum() if bool((x * 1.0).sum()) else -x.sum())(x0)
    raise AssertionError("a value-dependent branch was traced")
except tg.TraceError as e:
    print(str(e)[:160], "...")

# %% [markdown]
# The generated code is readable: here is the backward of the seed's model at T = 2 (the walk the
# engine derived), annotated with the scope and equation of each line, and its gradients against
# the closed form of chapter 7.

# %%
from tinygrad_rnn.models import closed_form
from tinygrad_rnn.models.attention_rnn import AttentionRNN
from tinygrad_rnn.models.data import as_batch

model = AttentionRNN(2, 2, 2, seed=0)
seed_step = tg.compile(lambda X, Y: model.batch_loss(X, Y, mode="unrolled"))
X, Y, _ = as_batch(np.array([[0.5, -1.0], [1.5, 0.2]]), np.array([0, 1]), 2, 2)
source = seed_step.source(X, Y)
backward_part = source[source.index("    # backward"):]
lines = backward_part.splitlines()
first = next(k for k, line in enumerate(lines) if line.strip().startswith("g_h_2 = "))  # h_2's gradient, complete
last = next(k for k, line in enumerate(lines) if k > first and "@t=1" in line)
print("\n".join(lines[first:last]))                     # eq 1 at t = 2, walked backwards: tanh, the adds, the matmuls
seed_step(X, Y)                                          # trace
for p in model.parameters():
    p.grad = None
seed_step(X, Y)                                          # replay
exact = closed_form.bptt(model.numpy_params(), X, Y)
for name, p in model.params().items():
    assert np.allclose(p.grad, exact[name], rtol=1e-10, atol=1e-14), name
print(f"{len(backward_part.splitlines())} lines of backward; the replay's gradients equal the closed form")

# ## What vmap would add: per-example gradients
#
# Backward gives the gradient of *one* scalar. Per-example gradients (for clipping per example, or
# influence) take one backward pass per example in this engine; `jax.vmap` maps the computation
# over a batch axis instead. For a linear model the batched answer can be written by hand: for
# L_n = ½‖W x_n − y_n‖², ∂L_n/∂W = (W x_n − y_n) x_nᵀ, all n at once with one einsum.

# %%
rng = np.random.default_rng(0)
W0, X, Y = rng.standard_normal((2, 3)), rng.standard_normal((6, 3)), rng.standard_normal((6, 2))

def loop_of_backwards(W0, X, Y):
    out = []
    for x, y in zip(X, Y):
        W = tg.Tensor(W0, requires_grad=True)
        (0.5 * ((W @ x - y) ** 2).sum()).backward()
        out.append(W.grad)
    return np.array(out)

def batched_by_hand(W0, X, Y):
    return np.einsum("ni,nj->nij", X @ W0.T - Y, X)

def batched_wrong(W0, X, Y):             # the mean gradient, broadcast: right on average only
    g = np.einsum("ni,nj->ij", X @ W0.T - Y, X) / len(X)
    return np.broadcast_to(g, (len(X), *W0.shape))

loop = loop_of_backwards(W0, X, Y)
assert np.allclose(batched_by_hand(W0, X, Y), loop, rtol=1e-12)
assert not np.allclose(batched_wrong(W0, X, Y), loop, rtol=1e-6)          # the negative control: caught
assert np.allclose(batched_wrong(W0, X, Y)[0], loop.mean(axis=0), rtol=1e-12)   # (it is the mean)
print("per-example gradients: the batched einsum equals six backward passes; the mean is caught")

# %% [markdown]
# ## What in-place views would add
#
# numpy's `x[0] += 1` writes through a view into x. Here a view is a copy in the graph (a
# `getitem` record), so a write through it could not reach x: the engine refuses it while recording
# (chapter 6) instead of giving a third answer. PyTorch supports it by versioning every storage and
# rewriting the graph when a view is modified, which is a great deal of machinery.

# %%
x = tg.Tensor(np.zeros(3), requires_grad=True)
y = x * 1.0
try:
    y[0] += 1.0
    raise AssertionError("a write through a view was recorded")
except RuntimeError as e:
    print(str(e)[:110], "...")

# %% [markdown]
# ## What the simplicity buys
#
# Everything in this course was checked against something that shares no code with the engine,
# and the engine's core — the tape, the op protocol, the walk — is about 2 700 lines you can read.
# That is the trade: per-op speed for a system whose every number you can trace and check.
#
# ## Check yourself
#
# Write `per_example_grads(W, X, Y)` for L_n = ½‖W x_n − y_n‖² without a Python loop: return an
# array of shape (N, *W.shape). The checker compares with central differences of each example's loss.

# %%
from tinygrad_rnn import course

def my_per_example_grads(W, X, Y):
    raise NotImplementedError("your answer: shape (N, 2, 3)")

print(course.check("11.per_example", my_per_example_grads))
