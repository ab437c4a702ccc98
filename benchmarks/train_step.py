"""Train-step benchmark: forward + backward giving all five parameter gradients of the seed's
model (float64, summed cross-entropy, batch-first), for

- ``engine fused``     ``AttentionRNN.loss(mode="fused")`` + backward
- ``engine unrolled``  ``AttentionRNN.loss(mode="unrolled")`` + backward (one op per symbol)
- ``closed form``      ``tinygrad_rnn.models.closed_form.bptt`` (plain numpy, readable)
- ``floor``            ``benchmarks.floor.bptt_fast`` (plain numpy, written for speed: the floor)
- ``torch fused`` / ``torch per-step``  the same two formulations in PyTorch eager, if installed.

All implementations are checked to agree on the gradients first, then timed interleaved
(round-robin per repetition, after a warm-up, garbage collector paused while timing).
"""

from __future__ import annotations

import gc
import time
from typing import Any, Callable

import numpy as np

from tinygrad_rnn.models import closed_form as cf

from benchmarks import floor
import tinygrad_rnn as tg
from tinygrad_rnn.models.attention_rnn import AttentionRNN

CONFIGS: dict[str, tuple[int, int, int, int, int]] = {  # B, T, D, H, K
    "tiny": (1, 8, 4, 8, 4),
    "small": (1, 32, 16, 32, 16),
    "medium": (32, 64, 64, 64, 64),
    "long": (4, 512, 32, 64, 32),
    "wide": (16, 64, 256, 256, 256),
}
REPS = {"tiny": 40, "small": 20, "medium": 10, "long": 3, "wide": 8}

Grads = dict[str, np.ndarray]


def make_case(B: int, T: int, D: int, H: int, K: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((H, H)) / np.sqrt(H), "U": rng.standard_normal((H, D)) / np.sqrt(D),
              "b": rng.standard_normal(H) * 0.1, "V": rng.standard_normal((K, H)) / np.sqrt(H),
              "c": rng.standard_normal(K) * 0.1}
    return params, rng.standard_normal((B, T, D)), rng.integers(0, K, (B, T))


def engine(params: dict[str, np.ndarray], mode: str) -> Callable[[np.ndarray, np.ndarray], Grads]:
    model = AttentionRNN.from_params(params)

    def step(xs: np.ndarray, ys: np.ndarray) -> Grads:
        for p in model.params().values():
            p.grad = None
        model.loss(xs, ys, mode=mode).backward()
        return {k: p.grad for k, p in model.params().items()}

    return step


def engine_compiled(params: dict[str, np.ndarray]) -> Callable[[np.ndarray, np.ndarray], Grads]:
    """The fused step under ``tg.compile``: the inputs checked in numpy as ``loss()`` does
    (``as_batch``), then the replay of forward and backward."""
    from tinygrad_rnn.models.data import as_batch

    model = AttentionRNN.from_params(params)
    replay = tg.compile(lambda X, Y: model.batch_loss(X, Y, mode="fused"))

    def step(xs: np.ndarray, ys: np.ndarray) -> Grads:
        for p in model.params().values():
            p.grad = None
        X, Y, _ = as_batch(xs, ys, model.input_size, model.output_size)
        replay(X, Y)
        return {k: p.grad for k, p in model.params().items()}

    return step


def closed_form(params: dict[str, np.ndarray]) -> Callable[[np.ndarray, np.ndarray], Grads]:
    return lambda xs, ys: cf.bptt(params, xs, ys)


def torch_impls(params: dict[str, np.ndarray]) -> dict[str, Callable[[np.ndarray, np.ndarray], Grads]]:
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(1)
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}

    def grads() -> Grads:
        out = {k: p.grad.numpy().copy() for k, p in P.items()}
        for p in P.values():
            p.grad = None
        return out

    def fused(xs: np.ndarray, ys: np.ndarray) -> Grads:
        X = torch.from_numpy(xs)
        Y = torch.from_numpy(ys)
        B, T, _ = X.shape
        inputs = X @ P["U"].T + P["b"]
        h = torch.zeros(B, P["W"].shape[0], dtype=torch.float64)
        hs = []
        for t in range(T):
            h = torch.tanh(h @ P["W"].T + inputs[:, t])
            hs.append(h)
        Hs = torch.stack(hs, dim=1)
        scores = Hs @ Hs.transpose(1, 2)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        alpha = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        logits = (alpha @ Hs) @ P["V"].T + P["c"]
        torch.nn.functional.cross_entropy(logits.reshape(B * T, -1), Y.reshape(-1), reduction="sum").backward()
        return grads()

    def per_step(xs: np.ndarray, ys: np.ndarray) -> Grads:
        X = torch.from_numpy(xs)
        Y = torch.nn.functional.one_hot(torch.from_numpy(ys), P["V"].shape[0]).to(torch.float64)
        B, T, _ = X.shape
        Wt, Ut, Vt = P["W"].T, P["U"].T, P["V"].T
        h = torch.zeros(B, P["W"].shape[0], dtype=torch.float64)
        hs, losses = [], []
        for t in range(T):
            h = torch.tanh(h @ Wt + X[:, t] @ Ut + P["b"])
            hs.append(h)
            scores = [(h_i * h).sum(dim=-1) for h_i in hs]
            alpha = torch.softmax(torch.stack(scores, dim=-1), dim=-1)
            Z = alpha[:, 0:1] * hs[0]
            for i in range(1, len(hs)):
                Z = Z + alpha[:, i:i + 1] * hs[i]
            probs = torch.softmax(Z @ Vt + P["c"], dim=-1)
            losses.append(-(Y[:, t] * torch.log(probs)).sum(dim=-1))
        torch.stack(losses, dim=1).sum().backward()
        return grads()

    return {"torch fused": fused, "torch per-step": per_step}


def implementations(params: dict[str, np.ndarray], unrolled: bool = True) -> dict[str, Callable]:
    impls: dict[str, Callable] = {"engine fused": engine(params, "fused"), "engine compiled": engine_compiled(params)}
    if unrolled:
        impls["engine unrolled"] = engine(params, "unrolled")
    impls["closed form"] = closed_form(params)
    impls["floor"] = lambda xs, ys: floor.bptt_fast(params, xs, ys)
    t = torch_impls(params)
    impls["torch fused"] = t.get("torch fused") or None
    if unrolled and t:
        impls["torch per-step"] = t["torch per-step"]
    return {k: v for k, v in impls.items() if v is not None}


def check_agreement(impls: dict[str, Callable], xs: np.ndarray, ys: np.ndarray, rtol: float = 1e-9) -> dict[str, float]:
    """Max relative error of every implementation's gradients against the closed form."""
    reference = impls["closed form"](xs, ys)
    errors = {}
    for name, fn in impls.items():
        got = fn(xs, ys)
        err = max(float(np.abs(got[k] - reference[k]).max() / max(np.abs(reference[k]).max(), 1e-300))
                  for k in reference)
        if not err <= rtol:
            raise AssertionError(f"benchmark: {name} disagrees with the closed form (max relative error {err:.2e})")
        errors[name] = err
    return errors


def time_config(name: str, reps: int | None = None, unrolled: bool = True) -> dict[str, Any]:
    """Median, quartiles (seconds) per implementation, interleaved round-robin."""
    B, T, D, H, K = CONFIGS[name]
    params, xs, ys = make_case(B, T, D, H, K)
    impls = implementations(params, unrolled=unrolled)
    errors = check_agreement(impls, xs, ys)  # doubles as the warm-up
    reps = reps or REPS[name]
    times: dict[str, list[float]] = {k: [] for k in impls}
    gc_was = gc.isenabled()
    try:
        for _ in range(reps):
            for k, fn in impls.items():
                gc.collect()
                gc.disable()
                start = time.perf_counter()
                fn(xs, ys)
                times[k].append(time.perf_counter() - start)
                gc.enable()
    finally:
        if gc_was:
            gc.enable()
    return {"config": name, "shape": CONFIGS[name], "reps": reps, "errors": errors,
            "times": {k: {"median": float(np.median(v)), "q1": float(np.percentile(v, 25)),
                          "q3": float(np.percentile(v, 75))} for k, v in times.items()}}
