"""Timing the way users run code: every implementation in its own fresh Python process.

``python -m benchmarks.fresh`` runs, for each configuration and round, one worker process per
implementation (in an order rotated every round), each doing a warm-up, a correctness check of its
gradients against the closed form, and ``steps`` timed train steps; the worker reports the median.
Workers for the engine and the numpy floor never import torch; every worker runs one BLAS / OpenMP
thread.  Every worker, torch's too, first asks for freed memory to be reused
(``tinygrad_rnn.reuse_freed_memory()``: the library does not change the allocator by itself)
unless ``--malloc system``.

Reported per implementation: the median over rounds of the per-process medians, with the range;
ratios are computed **per round** (engine / floor in the same round) and summarised the same way.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STEPS = {"tiny": 300, "small": 150, "medium": 25, "long": 5, "wide": 12}
IMPLS = ("floor", "closed form", "engine fused", "engine compiled", "engine unrolled", "torch fused", "torch per-step")
UNROLLED_CONFIGS = ("tiny", "small", "medium")  # the per-step formulations take seconds per step beyond these
PAIRS = {"engine fused": "torch fused", "engine compiled": "torch fused", "engine unrolled": "torch per-step"}


# ----------------------------------------------------------------------------- worker side
def _impl(name: str, params: dict[str, np.ndarray]) -> Callable[[np.ndarray, np.ndarray], Any]:
    from benchmarks import train_step

    if name == "floor":
        from benchmarks import floor

        return lambda xs, ys: floor.bptt_fast(params, xs, ys)
    if name == "closed form":
        return train_step.closed_form(params)
    if name == "engine compiled":
        return train_step.engine_compiled(params)
    if name.startswith("engine"):
        return train_step.engine(params, name.split()[1])
    return train_step.torch_impls(params)[name]


def worker(impl: str, config: str, steps: int) -> dict[str, Any]:
    """One implementation, one configuration, in this (fresh) process."""
    import gc
    import resource

    if impl == "peak":
        return {"gflops": matmul_peak()}
    if impl.startswith("overhead"):
        return {"us_per_op": overhead_in_process(impl.split(":")[1])}
    from benchmarks.train_step import CONFIGS, make_case
    from tinygrad_rnn.models import closed_form as cf

    params, xs, ys = make_case(*CONFIGS[config])
    fn = _impl(impl, params)
    reference = cf.bptt(params, xs, ys)
    got = fn(xs, ys)
    err = max(float(np.abs(got[k] - reference[k]).max() / np.abs(reference[k]).max()) for k in reference)
    if not err <= 1e-9:
        raise SystemExit(f"{impl} disagrees with the closed form on {config}: max relative error {err:.2e}")
    fn(xs, ys)
    times = []
    gc.collect()
    gc.disable()
    for _ in range(steps):
        start = time.perf_counter()
        fn(xs, ys)
        times.append(time.perf_counter() - start)
    gc.enable()
    return {"median": float(np.median(times)), "error": err, "torch_imported": "torch" in sys.modules,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def matmul_peak(n: int = 1024, reps: int = 7) -> float:
    """GFLOP/s of one-thread float64 ``a @ b`` at n × n (the machine's practical matmul peak)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    a @ b
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / float(np.median(times)) / 1e9


def overhead_in_process(which: str) -> float:
    from benchmarks import overhead

    fn = {"engine": overhead.engine_chain, "compiled": overhead.compiled_chain, "numpy": overhead.numpy_chain,
          "torch": overhead.torch_chain}[which](300)
    for _ in range(3):
        fn()
    times = []
    for _ in range(40):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) / 300 * 1e6)
    return float(np.median(times))


# ----------------------------------------------------------------------------- parent side
def spawn(impl: str, config: str, steps: int, malloc: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    done = subprocess.run([sys.executable, "-m", "benchmarks.fresh", "--worker", impl, config, str(steps), malloc],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"worker {impl} {config} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(values: list[float]) -> dict[str, float]:
    return {"median": float(np.median(values)), "min": float(min(values)), "max": float(max(values))}


def run(configs: list[str], rounds: int, malloc: str, steps_scale: float = 1.0, with_torch: bool = True,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    from benchmarks.floor import bptt_flops
    from benchmarks.train_step import CONFIGS

    out: dict[str, Any] = {"malloc": malloc, "rounds": rounds, "configs": {}}
    for config in configs:
        impls = [i for i in IMPLS if (with_torch or not i.startswith("torch"))
                 and (config in UNROLLED_CONFIGS or i not in ("engine unrolled", "torch per-step"))]
        steps = max(1, int(STEPS[config] * steps_scale))
        per_round: dict[str, list[float]] = {i: [] for i in impls}
        rss: dict[str, float] = {}
        for r in range(rounds):
            order = impls[r % len(impls):] + impls[:r % len(impls)]
            for impl in order:
                res = spawn(impl, config, steps, malloc)
                if impl in ("floor", "engine fused", "engine compiled", "engine unrolled", "closed form") and res["torch_imported"]:
                    raise RuntimeError(f"{impl} imported torch")
                per_round[impl].append(res["median"])
                rss[impl] = max(rss.get(impl, 0.0), res["max_rss_mb"])
        floor = per_round["floor"]
        entry = {"shape": CONFIGS[config], "steps": steps, "impls": {}}
        for impl, vals in per_round.items():
            e = {"ms": summary([v * 1e3 for v in vals]), "x_floor": summary([v / f for v, f in zip(vals, floor)]),
                 "max_rss_mb": rss[impl]}
            ref = PAIRS.get(impl)
            if ref in per_round:
                e["x_torch"] = summary([v / t for v, t in zip(vals, per_round[ref])])
            entry["impls"][impl] = e
        flops = bptt_flops(*CONFIGS[config])
        entry["floor_gflops"] = flops / np.median(floor) / 1e9
        out["configs"][config] = entry
        log(f"[{malloc}] {config}: " + ", ".join(f"{k} {v['ms']['median']:.3g} ms (×{v['x_floor']['median']:.2f})"
                                                for k, v in entry["impls"].items()))
    out["peak_gflops"] = spawn("peak", "-", 0, malloc)["gflops"]
    oh = {}
    for which in ("engine", "compiled", "numpy") + (("torch",) if with_torch else ()):
        oh[which] = summary([spawn(f"overhead:{which}", "-", 0, malloc)["us_per_op"] for _ in range(rounds)])
    out["overhead_us"] = oh
    return out


def table(res: dict[str, Any]) -> str:
    lines = ["| config (B, T, D, H, K) | implementation | ms per step: median [range over rounds] | × floor, per round: "
             "median [range] | × torch (same formulation), per round |", "|---|---|---|---|---|"]
    for config, entry in res["configs"].items():
        for impl, e in entry["impls"].items():
            ms, xf = e["ms"], e["x_floor"]
            xt = e.get("x_torch")
            lines.append(f"| {config} {tuple(entry['shape'])} | {impl} | {ms['median']:.3g} [{ms['min']:.3g}–{ms['max']:.3g}] "
                         f"| {xf['median']:.2f} [{xf['min']:.2f}–{xf['max']:.2f}] | "
                         + (f"{xt['median']:.2f} [{xt['min']:.2f}–{xt['max']:.2f}]" if xt else "—") + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        impl, config, steps = argv[1], argv[2], int(argv[3])
        from tinygrad_rnn import memory

        memory.apply(argv[4])  # before any array is allocated
        print(json.dumps(worker(impl, config, steps)))
        return 0
    p = argparse.ArgumentParser(prog="python -m benchmarks.fresh", description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="*", default=list(STEPS), choices=list(STEPS))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--malloc", choices=["reuse", "system"], default="reuse")
    p.add_argument("--json", help="also write the raw results here")
    args = p.parse_args(argv)
    res = run(args.configs, args.rounds, args.malloc)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    print(table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
