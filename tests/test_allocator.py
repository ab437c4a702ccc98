"""The engine's default allocator choice (tinygrad_rnn.memory): freed buffers are reused, so a
loop that allocates and frees the same large temporaries stops page-faulting — measured with the
kernel's own fault counter in fresh processes, with the off switch as the control."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import resource, numpy as np
import tinygrad_rnn as tg
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(2):  # warm-up: the first allocation faults in either case
    a = np.empty(5_000_000); a.fill(1.0); del a
start = faults()
for _ in range(5):  # 40 MB: above glibc's largest dynamic mmap threshold (32 MB)
    a = np.empty(5_000_000); a.fill(1.0); del a
print(tg.memory.TUNED, faults() - start)
"""


def run(env_value: str | None) -> tuple[bool, int]:
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_RNN_MALLOC"}
    if env_value is not None:
        env["TINYGRAD_RNN_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    tuned, faults = out.stdout.split()
    return tuned == "True", int(faults)


def test_freed_memory_is_reused_by_default_and_the_off_switch_works():
    tuned, faults = run(None)
    off, faults_off = run("system")
    assert tuned and not off
    # the control: every 40 MB block faults in again — at least once per 2 MB (transparent huge
    # pages, as numpy asks for them) and up to once per 4 KB page: 5 blocks, ≥ 100 faults
    assert faults_off >= 100
    assert faults * 20 <= faults_off and faults < 50  # reused: (almost) no new pages


def test_a_mistyped_switch_is_an_error():
    env = {**os.environ, "TINYGRAD_RNN_MALLOC": "sytem"}
    out = subprocess.run([sys.executable, "-c", "import tinygrad_rnn"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode != 0 and "TINYGRAD_RNN_MALLOC must be 'reuse' (the default) or 'system'" in out.stderr
