"""The first call of tg.compile on the seed model's fused step (trace + code generation + the eager
backward), against one eager step, in a fresh process:

    python benchmarks/trace_cost.py tiny 1 8 4 8 4      # name B T D H K
"""
import time, sys, numpy as np, tinygrad_rnn as tg
from tinygrad_rnn.models.attention_rnn import AttentionRNN
from tinygrad_rnn.models.data import as_batch
tg.reuse_freed_memory()
name, B, T, D, H, K = sys.argv[1], *map(int, sys.argv[2:])
m = AttentionRNN(D, H, K, seed=0)
rng = np.random.default_rng(1)
X, Y, _ = as_batch(rng.standard_normal((B, T, D)), rng.integers(0, K, (B, T)), D, K)
m.batch_loss(X, Y).backward()  # warm the eager path
t0 = time.perf_counter(); m.batch_loss(X, Y).backward(); eager = time.perf_counter() - t0
step = tg.compile(lambda X, Y: m.batch_loss(X, Y))
t0 = time.perf_counter(); step(X, Y); first = time.perf_counter() - t0
print(f"{name}: first call (trace + codegen + eager backward) {first*1e3:.2f} ms, one eager step {eager*1e3:.2f} ms")
