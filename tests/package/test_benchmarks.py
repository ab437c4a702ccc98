"""The benchmark harness runs and its implementations agree (a smoke test: no timings are judged)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from benchmarks import __main__ as bench
from benchmarks import train_step


def test_smoke_run_writes_the_tables(tmp_path):
    out = tmp_path / "results.md"
    assert bench.main(["--smoke", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Benchmark results")
    rows = re.findall(r"^\| tiny \(1, 8, 4, 8, 4\) \| ([^|]+) \| ([\d.]+) \[", text, flags=re.M)
    names = {n.strip() for n, _ in rows}
    assert {"engine fused", "engine unrolled", "closed form", "floor"} <= names
    assert "## Train step in fresh processes" in text and "## Targets" in text and "GFLOP/s" in text
    assert all(float(ms) > 0 for _, ms in rows)
    assert re.search(r"agree with the closed form to [\d.]+e-\d+", text)


def test_implementations_agree_and_a_wrong_one_is_caught():
    params, xs, ys = train_step.make_case(2, 5, 3, 4, 3)
    impls = train_step.implementations(params)
    errors = train_step.check_agreement(impls, xs, ys)
    assert max(errors.values()) < 1e-12
    good = impls["engine fused"]
    impls["engine fused"] = lambda x, y: {k: (v * 1.001 if k == "W" else v) for k, v in good(x, y).items()}
    with pytest.raises(AssertionError, match="engine fused disagrees"):
        train_step.check_agreement(impls, xs, ys)
    assert np.isfinite(list(errors.values())).all()


def test_the_memory_measurement_runs_and_sees_each_implementation():
    """The memory table's harness (not run by the smoke run): every peak is measured and positive."""
    from benchmarks import memory

    out = memory.peak_step(8)
    assert out["T"] == 8 and all(out[k] > 0 for k in ("engine_peak", "closed_peak", "floor_peak"))
