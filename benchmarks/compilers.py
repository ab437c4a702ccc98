"""Side by side: the seed model's fused train step (forward and backward, all five gradients,
float64, one thread) as `tg.compile` replays it, as `torch.compile` (CPU, the default inductor
backend) compiles it, and as `jax.jit(jax.grad(...))` compiles it, each next to its own eager
version, every implementation in its own fresh process, after its gradients are checked against
the closed form (relative 1e-9).

    python -m benchmarks.compilers                 # writes benchmarks/compilers.md (needs torch and jax)

The first call (trace and compile) is reported separately from the steady-state step; torch's
inductor and JAX keep on-disk or in-process caches, so a first call after an earlier run of the same
program can be faster than a cold one. Every worker asks for freed memory to be reused
(``tg.reuse_freed_memory()``), as the primary table of ``python -m benchmarks`` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMPLS = ("floor", "engine eager", "engine compiled", "torch eager", "torch.compile", "jax.jit")
CONFIGS = ("tiny", "small", "medium")
STEPS = {"tiny": 200, "small": 100, "medium": 15}


def _torch_step(params: dict[str, np.ndarray], compiled: bool) -> Callable[[np.ndarray, np.ndarray], dict]:
    import torch

    torch.set_num_threads(1)
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}

    def loss(W: Any, U: Any, b: Any, V: Any, c: Any, X: Any, Y: Any) -> Any:
        B, T, _ = X.shape
        inputs = X @ U.T + b
        h = torch.zeros(B, W.shape[0], dtype=torch.float64)
        hs = []
        for t in range(T):
            h = torch.tanh(h @ W.T + inputs[:, t])
            hs.append(h)
        Hs = torch.stack(hs, dim=1)
        scores = Hs @ Hs.transpose(1, 2)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        alpha = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        logits = (alpha @ Hs) @ V.T + c
        return torch.nn.functional.cross_entropy(logits.reshape(B * T, -1), Y.reshape(-1), reduction="sum")

    fn = torch.compile(loss) if compiled else loss

    def step(xs: np.ndarray, ys: np.ndarray) -> dict:
        for p in P.values():
            p.grad = None
        fn(*(P[k] for k in "WUbVc"), torch.from_numpy(xs), torch.from_numpy(ys)).backward()
        return {k: p.grad.numpy() for k, p in P.items()}

    return step


def _jax_step(params: dict[str, np.ndarray]) -> Callable[[np.ndarray, np.ndarray], dict]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(P: dict, X: Any, Y: Any) -> Any:
        B, T, _ = X.shape
        inputs = X @ P["U"].T + P["b"]
        h = jnp.zeros((B, P["W"].shape[0]))
        hs = []
        for t in range(T):
            h = jnp.tanh(h @ P["W"].T + inputs[:, t])
            hs.append(h)
        Hs = jnp.stack(hs, axis=1)
        scores = Hs @ jnp.swapaxes(Hs, 1, 2)
        causal = jnp.tril(jnp.ones((T, T), dtype=bool))
        alpha = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)
        logits = (alpha @ Hs) @ P["V"].T + P["c"]
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.take_along_axis(logp, Y[..., None], axis=-1).sum()

    grad = jax.jit(jax.grad(loss))
    P = {k: jnp.asarray(v) for k, v in params.items()}

    def step(xs: np.ndarray, ys: np.ndarray) -> dict:
        g = grad(P, jnp.asarray(xs), jnp.asarray(ys))
        return {k: np.asarray(v.block_until_ready()) for k, v in g.items()}

    return step


def _impl(name: str, params: dict[str, np.ndarray]) -> Callable[[np.ndarray, np.ndarray], dict]:
    from benchmarks import floor, train_step

    if name == "floor":
        return lambda xs, ys: floor.bptt_fast(params, xs, ys)
    if name == "engine eager":
        return train_step.engine(params, "fused")
    if name == "engine compiled":
        return train_step.engine_compiled(params)
    if name.startswith("torch"):
        return _torch_step(params, compiled=name == "torch.compile")
    return _jax_step(params)


def worker(impl: str, config: str, steps: int) -> dict[str, Any]:
    import tinygrad_rnn as tg

    tg.reuse_freed_memory()  # every worker, as in benchmarks/fresh.py's primary table
    from benchmarks.train_step import CONFIGS as SHAPES, make_case
    from tinygrad_rnn.models import closed_form as cf

    params, xs, ys = make_case(*SHAPES[config])
    start = time.perf_counter()
    fn = _impl(impl, params)
    got = fn(xs, ys)  # the first call: traces and compiles where the implementation does
    first = time.perf_counter() - start
    ref = cf.bptt(params, xs, ys)
    err = max(float(np.abs(got[k] - ref[k]).max() / np.abs(ref[k]).max()) for k in ref)
    if not err <= 1e-9:
        raise SystemExit(f"{impl} disagrees with the closed form on {config}: max relative error {err:.2e}")
    fn(xs, ys)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn(xs, ys)
        times.append(time.perf_counter() - t0)
    return {"median": float(np.median(times)), "first": first, "error": err}


def spawn(impl: str, config: str, steps: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
           "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-m", "benchmarks.compilers", "--worker", impl, config, str(steps)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
    if done.returncode != 0:
        return {"failed": done.stderr.strip().splitlines()[-1][:200] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        print(json.dumps(worker(argv[1], argv[2], int(argv[3]))))
        return 0
    rounds = 3
    from benchmarks.__main__ import commit, versions
    from benchmarks.train_step import CONFIGS as SHAPES

    rows = []
    for config in CONFIGS:
        res: dict[str, list] = {i: [] for i in IMPLS}
        for r in range(rounds):
            for impl in IMPLS[r % len(IMPLS):] + IMPLS[: r % len(IMPLS)]:
                res[impl].append(spawn(impl, config, STEPS[config]))
        floor = float(np.median([x["median"] for x in res["floor"]]))
        for impl in IMPLS:
            ok = [x for x in res[impl] if "median" in x]
            if not ok:
                rows.append(f"| {config} {SHAPES[config]} | {impl} | failed: {res[impl][0]['failed']} | | |")
                continue
            med = float(np.median([x["median"] for x in ok]))
            first = float(np.median([x["first"] for x in ok]))
            rows.append(f"| {config} {SHAPES[config]} | {impl} | {med * 1e3:.3g} | {med / floor:.2f} | {first * 1e3:.4g} |")
            print(rows[-1], flush=True)
    text = ("# Compilers side by side\n\n" + versions() + f"\n\nCommand: `python -m benchmarks.compilers` (commit {commit()}); "
            f"{rounds} rounds of fresh processes in rotated order; one thread everywhere (XLA's too); freed memory "
            "reused in every worker. First calls are warm for torch.compile when its inductor cache in /tmp already "
            "holds the program from an earlier run.\n\n"
            "| config (B, T, D, H, K) | implementation | ms per step (median) | × floor | first call, ms (trace + compile) |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    (ROOT / "benchmarks" / "compilers.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
