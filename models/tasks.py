"""Sequence tasks generated in code (no downloads).

Every generator returns a :class:`Batch`: one-hot inputs ``xs`` (B, T, D) and target rows
``ys`` (B, T, K) that are one-hot where a step is scored and all-zero where it is not (a zero
row adds nothing to the loss and nothing to the gradient: ∂L/∂Ω = ŷ Σ_k y_k − y = 0).

- ``recall``: associative recall.  ``pairs`` key–value pairs, then a query marker and one of the
  keys; at the last step the model must output that key's value.
- ``first``: a symbol, then ``seq_len − 1`` distractor symbols from the same alphabet; at the
  last step the model must output the first symbol.
- ``copy``: random symbols; at every step t > ``delay`` the model outputs the input of step
  t − ``delay`` (a delayed copy).
- ``text``: character-level language modelling on ``models/data/corpus.txt`` (public domain);
  every step predicts the next character.

**Held out in content, not only in random stream.**  For ``recall``, ``first`` and ``copy`` one
sequence in :data:`EVAL_SHARE` is reserved for evaluation, chosen by a hash of its tokens
(:func:`is_held_out`): the training generator rejects those sequences and the evaluation generator
draws only them, so no evaluation sequence can ever be a training sequence (measured overlap: 0,
tested).  For ``text`` the held-out split is the corpus's last 10 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import hashlib

import numpy as np

TASKS = ("recall", "first", "copy", "text")
EVAL_SHARE = 8  # one sequence in 8 (by content) is reserved for evaluation
CORPUS = Path(__file__).resolve().parent / "data" / "corpus.txt"


@dataclass
class Batch:
    xs: np.ndarray  # (B, T, D) one-hot inputs
    ys: np.ndarray  # (B, T, K) one-hot targets at scored steps, zero rows elsewhere
    tokens: np.ndarray  # (B, T) input token ids (for printing)

    @property
    def scored(self) -> np.ndarray:
        """(B, T) mask of the steps that count."""
        return self.ys.sum(axis=-1) > 0


def _one_hot(ids: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n)[ids]


@dataclass(frozen=True)
class TaskSpec:
    """A task's shape: input size D, output size K and sequence length T."""

    name: str
    input_size: int
    output_size: int
    seq_len: int


def spec(task: str, seq_len: int = 10, pairs: int = 3, symbols: int = 8, delay: int = 3) -> TaskSpec:
    """The sizes a model needs for ``task`` with these settings."""
    if task == "recall":
        # keys 0..pairs*2-1 (so a sequence uses a subset), values as many again, plus the marker
        n_keys = 2 * pairs
        return TaskSpec(task, n_keys + symbols + 1, symbols, 2 * pairs + 2)
    if task == "first":
        return TaskSpec(task, symbols, symbols, seq_len)
    if task == "copy":
        if not 0 < delay < seq_len:
            raise ValueError(f"copy: need 0 < delay < seq_len, got delay={delay}, seq_len={seq_len}")
        return TaskSpec(task, symbols, symbols, seq_len)
    if task == "text":
        vocab = len(text_vocabulary())
        return TaskSpec(task, vocab, vocab, seq_len)
    raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def recall(rng: np.random.Generator, batch: int, pairs: int, symbols: int = 8) -> Batch:
    """k_1 v_1 … k_p v_p ? k_q  →  at the last step: v_q.  Keys are distinct within a sequence."""
    if pairs < 1:
        raise ValueError(f"recall: pairs must be >= 1, got {pairs}")
    n_keys = 2 * pairs
    D = n_keys + symbols + 1
    marker = D - 1
    T = 2 * pairs + 2
    tokens = np.zeros((batch, T), dtype=np.int64)
    ys = np.zeros((batch, T, symbols))
    for b in range(batch):
        keys = rng.choice(n_keys, size=pairs, replace=False)
        values = rng.integers(0, symbols, size=pairs)
        tokens[b, 0:2 * pairs:2] = keys
        tokens[b, 1:2 * pairs:2] = n_keys + values
        tokens[b, -2] = marker
        q = rng.integers(0, pairs)
        tokens[b, -1] = keys[q]
        ys[b, -1, values[q]] = 1.0
    return Batch(_one_hot(tokens, D), ys, tokens)


def first(rng: np.random.Generator, batch: int, seq_len: int, symbols: int = 8) -> Batch:
    """s_1 d_2 … d_T  →  at the last step: s_1."""
    if seq_len < 2:
        raise ValueError(f"first: seq_len must be >= 2, got {seq_len}")
    tokens = rng.integers(0, symbols, size=(batch, seq_len))
    ys = np.zeros((batch, seq_len, symbols))
    ys[np.arange(batch), -1, tokens[:, 0]] = 1.0
    return Batch(_one_hot(tokens, symbols), ys, tokens)


def copy(rng: np.random.Generator, batch: int, seq_len: int, delay: int = 3, symbols: int = 8) -> Batch:
    """x_1 … x_T  →  at step t > delay: x_{t−delay}."""
    spec("copy", seq_len=seq_len, delay=delay, symbols=symbols)
    tokens = rng.integers(0, symbols, size=(batch, seq_len))
    ys = np.zeros((batch, seq_len, symbols))
    for t in range(delay, seq_len):
        ys[np.arange(batch), t, tokens[:, t - delay]] = 1.0
    return Batch(_one_hot(tokens, symbols), ys, tokens)


def text_vocabulary() -> str:
    """The sorted characters of the corpus."""
    return "".join(sorted(set(CORPUS.read_text(encoding="utf-8"))))


def text_ids(split: str = "train") -> np.ndarray:
    """The corpus as character ids; the last 10 % is the held-out split."""
    text = CORPUS.read_text(encoding="utf-8")
    vocab = {ch: i for i, ch in enumerate(text_vocabulary())}
    ids = np.array([vocab[ch] for ch in text], dtype=np.int64)
    cut = int(len(ids) * 0.9)
    return ids[:cut] if split == "train" else ids[cut:]


def text(rng: np.random.Generator, batch: int, seq_len: int, split: str = "train") -> Batch:
    """Random windows of the corpus: input chars c_1..c_T, targets c_2..c_{T+1}."""
    ids = text_ids(split)
    V = len(text_vocabulary())
    if len(ids) <= seq_len + 1:
        raise ValueError(f"text: seq_len {seq_len} is longer than the {split} split ({len(ids)} chars)")
    starts = rng.integers(0, len(ids) - seq_len - 1, size=batch)
    window = np.stack([ids[s:s + seq_len + 1] for s in starts])
    return Batch(_one_hot(window[:, :-1], V), _one_hot(window[:, 1:], V), window[:, :-1])


def is_held_out(tokens: np.ndarray) -> np.ndarray:
    """(B,) mask: which sequences belong to the evaluation set (a hash of the token ids, so the
    same sequence is always on the same side, whatever generator drew it)."""
    tokens = np.ascontiguousarray(tokens, dtype=np.int64)
    return np.array([hashlib.blake2b(row.tobytes(), digest_size=8).digest()[0] % EVAL_SHARE == 0 for row in tokens],
                    dtype=bool)


def _raw(task: str, rng: np.random.Generator, batch: int, seq_len: int, pairs: int, symbols: int,
         delay: int) -> Batch:
    if task == "recall":
        return recall(rng, batch, pairs, symbols)
    if task == "first":
        return first(rng, batch, seq_len, symbols)
    if task == "copy":
        return copy(rng, batch, seq_len, delay, symbols)
    raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def generate(task: str, rng: np.random.Generator, batch: int, seq_len: int = 10, pairs: int = 3,
             symbols: int = 8, delay: int = 3, split: str = "train") -> Batch:
    """A batch of ``task`` from the ``split`` ("train" or "test") side of the held-out partition."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if task == "text":
        return text(rng, batch, seq_len, split)
    parts: list[Batch] = []
    have = 0
    while have < batch:
        b = _raw(task, rng, batch, seq_len, pairs, symbols, delay)
        keep = is_held_out(b.tokens) == (split == "test")
        if keep.any():
            parts.append(Batch(b.xs[keep], b.ys[keep], b.tokens[keep]))
            have += int(keep.sum())
    return Batch(*(np.concatenate([getattr(p, f) for p in parts])[:batch] for f in ("xs", "ys", "tokens")))


def most_frequent_accuracy(batch: Batch, task: str, pairs: int = 3) -> float:
    """Accuracy of a trivial strategy that ignores what the task asks: answer the most frequent
    value (``recall``: among the pair values, blind to the query key) or the most frequent symbol
    in the sequence (``first``), ties split evenly — the floor a model must beat to show it learned
    the look-up, not only chance."""
    scores = []
    for s in range(len(batch.tokens)):
        tok = batch.tokens[s]
        answer = int(batch.ys[s, -1].argmax())
        if task == "recall":
            values = tok[1:2 * pairs:2] - 2 * pairs
        elif task == "first":
            values = tok
        else:
            raise ValueError(f"most_frequent_accuracy: defined for recall and first, not {task!r}")
        counts = np.bincount(values)
        best = np.flatnonzero(counts == counts.max())
        scores.append(1.0 / len(best) if answer in best else 0.0)
    return float(np.mean(scores))
