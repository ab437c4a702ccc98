# %% [markdown]
# # 10. Attention over the past: when it helps
#
# Chapter 7 showed *why* the seed's attention might help: Z_t reads every earlier h_i directly
# (eq 4), so the gradient reaching h_1 need not pass through T − 1 shrinking Jacobians. Whether
# that makes a model **learn** a task is a different question, answered only by training runs.
# This chapter reads the recorded runs (`results/sweep.jsonl`: 10 seeds per setting, all rows from
# one commit) and re-derives what they show, checking every number it prints against the raw rows.
#
# Two tasks: `first` (output the first symbol after T − 1 distractors) and `recall` (key–value
# pairs, then a key: answer its value). A result means something only against a **floor**: chance
# is 1/8, but a trivial strategy does better: answering the most frequent symbol (first) or the most
# frequent value among the pairs, blind to the key (recall).

# %%
import json
from pathlib import Path

import numpy as np

def repository_root():
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / "results" / "sweep.jsonl").is_file():
            return d
    raise FileNotFoundError("run this chapter from inside the repository (results/sweep.jsonl)")

rows = [json.loads(line) for line in (repository_root() / "results" / "sweep.jsonl").read_text().splitlines()]
main = [r for r in rows if r["stage"] == "main"]
print(len(main), "main runs from commit", {r["commit"] for r in main})
assert len({r["commit"] for r in main}) == 1 and not any(r["dirty"] for r in main)

# %% [markdown]
# ## The floor, recomputed from the held-out data
#
# Each run was evaluated on 512 held-out sequences (no training step can draw them: one sequence
# in 8, chosen by a hash of its tokens, is reserved). We regenerate seed 0's held-out set for
# `first` at T = 20 and compute the most-frequent-symbol floor with our own few lines; it must equal
# the floor the sweep recorded.

# %%
from tinygrad_rnn.models import tasks, train
from tinygrad_rnn.models.app.sweep import COMMON

cfg = train.Config(task="first", seq_len=20, seed=0, **COMMON)
held_out = train.eval_batch(cfg)

def most_frequent_symbol_accuracy(tokens, answers):
    score = 0.0
    for seq, answer in zip(tokens, answers):
        counts = np.bincount(seq)
        best = np.flatnonzero(counts == counts.max())
        score += (answer in best) / len(best)             # ties split evenly
    return score / len(tokens)

ours = most_frequent_symbol_accuracy(held_out.tokens, held_out.ys[:, -1].argmax(axis=1))
recorded = next(r["floor"] for r in main if (r["task"], r["value"], r["model"], r["seed"]) == ("first", 20, "attn", 0))
print(f"floor at first, T = 20, seed 0: ours {ours:.6f}, recorded {recorded:.6f}")
assert ours == recorded
training = tasks.generate("first", np.random.default_rng(5), 2048, 20)     # what a training step can draw
assert not tasks.is_held_out(training.tokens).any() and tasks.is_held_out(held_out.tokens).all()

# %% [markdown]
# ## What the runs show
#
# For each setting: mean held-out accuracy over the 10 seeds, how many runs solved it
# (accuracy ≥ 0.9) and how many beat the floor by more than two evaluation standard errors,
# recomputed here from the raw rows.

# %%
def summary(task, value, model):
    sel = [r for r in main if (r["task"], r["value"], r["model"]) == (task, value, model)]
    acc = np.array([r["eval_acc"] for r in sel])
    above = [r["eval_acc"] > r["floor"] + 2 * np.sqrt(r["floor"] * (1 - r["floor"]) / r["eval_n"]) for r in sel]
    return acc.mean(), int((acc >= 0.9).sum()), int(sum(above)), len(sel), np.mean([r["floor"] for r in sel])

names = {"attn": "attention", "rnn": "tanh RNN", "lstm": "LSTM (same H)", "gru": "GRU (same H)"}
print(f"{'task':7s} {'setting':8s} {'floor':>6s}  " + "  ".join(f"{n:>22s}" for n in names.values()))
table = {}
for task, values in (("first", (10, 20, 40)), ("recall", (2, 3, 4))):
    for v in values:
        cells = []
        for m in names:
            mean, solved, above, n, floor = summary(task, v, m)
            table[task, v, m] = (mean, solved, above, n)
            cells.append(f"{mean:.3f} ({solved}/{n} solved)")
        print(f"{task:7s} {v:<8d} {floor:6.3f}  " + "  ".join(f"{c:>22s}" for c in cells))

# %% [markdown]
# Read with the floors in mind:
#
# - On `first`, attention helps where the delay is long: at T = 20 every attention run solves it
#   while the tanh RNN solves fewer and the gated baselines none (a caveat: the learning-rate rule
#   gave every model its smallest rate; the gated models might need another).
# - On `recall`, an LSTM of the same width beats the seed's attention at every size.
#
# These are assertions, so if the runs are regenerated and say otherwise, this page fails to build
# rather than tell you something the runs no longer show.

# %%
assert table["first", 20, "attn"][1] == 10 and table["first", 20, "rnn"][1] < 10
assert table["first", 20, "lstm"][1] == 0 and table["first", 20, "gru"][1] == 0
assert all(table["recall", v, "lstm"][0] > table["recall", v, "attn"][0] for v in (2, 3, 4))

# %% [markdown]
# ## The negative control: the trivial strategy does not count as learning
#
# The criterion "above the floor by two standard errors" must reject the trivial strategy itself,
# which a criterion of "better than chance" would wrongly accept: scored as if it were a model, the
# most-frequent-symbol answer is far above chance and exactly on the floor.

# %%
floor = ours
se = np.sqrt(floor * (1 - floor) / len(held_out.tokens))
trivial_accuracy = ours                                   # the strategy's own accuracy is the floor
assert not trivial_accuracy > floor + 2 * se              # the floor criterion rejects it
se_chance = np.sqrt(1 / 8 * 7 / 8 / len(held_out.tokens))
assert trivial_accuracy > 1 / 8 + 2 * se_chance           # "better than chance" would have counted it
print(f"floor {floor:.3f} (chance {1 / 8:.3f}); a run must exceed {floor + 2 * se:.3f} to count")

# %% [markdown]
# ## Check yourself
#
# Write the attention weights of eqs 2–3 for one sequence: given hs (T, H) return α (T, T) with
# α[t, i] = softmax over i ≤ t of h_i · h_t, and zeros above the diagonal. Vectorise it if you like;
# the checker compares with a loop.

# %%
from tinygrad_rnn import course

def my_attention_weights(hs):
    raise NotImplementedError("your answer: alpha, shape (T, T)")

print(course.check("10.attention", my_attention_weights))
