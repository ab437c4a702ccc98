"""The allocator choice (tinygrad_rnn.memory) is opt-in: importing the library (every subpackage)
changes nothing process-wide; a program that asks gets freed buffers reused, so a loop that
allocates and frees the same large temporaries stops page-faulting — measured with the kernel's
own fault counter in fresh processes, the untuned import as the control."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import resource, sys, numpy as np
import tinygrad_rnn as tg
if sys.argv[1] == "ask":
    tg.reuse_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(2):  # warm-up: the first allocation faults in either case
    a = np.empty(5_000_000); a.fill(1.0); del a
start = faults()
for _ in range(5):  # 40 MB: above glibc's largest dynamic mmap threshold (32 MB)
    a = np.empty(5_000_000); a.fill(1.0); del a
print(tg.memory.TUNED, faults() - start)
"""

# mallopt watched: ctypes.CDLL(None) is how the library reaches it; the spy records every call
SPY = """
import ctypes, importlib, sys
calls = []
class Spy:
    def __init__(self, *a, **k):
        pass
    def __getattr__(self, name):
        if name != "mallopt":
            raise AttributeError(name)
        def mallopt(*args):
            calls.append(args)
            return 1
        return mallopt
real = ctypes.CDLL
ctypes.CDLL = lambda name, *a, **k: Spy() if name is None else real(name, *a, **k)
for module in ("tinygrad_rnn", "tinygrad_rnn.models", "tinygrad_rnn.viz", "tinygrad_rnn.testing",
               "tinygrad_rnn.models.train", "tinygrad_rnn.models.app.sweep", "tinygrad_rnn.models.attention_rnn"):
    importlib.import_module(module)
import tinygrad_rnn as tg
print(len(calls), tg.memory.TUNED)
if sys.argv[1] == "ask":
    print(tg.reuse_freed_memory(), len(calls), tg.memory.TUNED)
"""


def _run(code: str, arg: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYGRAD_RNN")}
    out = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_importing_the_library_leaves_the_allocator_alone():
    assert _run(SPY, "import") == ["0", "False"]  # no mallopt call from any import
    assert _run(SPY, "ask") == ["0", "False", "True", "2", "True"]  # the control: the spy sees an explicit call


def test_freed_memory_is_reused_when_asked_for():
    tuned, faults = _run(PROBE, "ask")
    untuned, faults_off = _run(PROBE, "import")
    assert tuned == "True" and untuned == "False"
    # the control: every 40 MB block faults in again — at least once per 2 MB (transparent huge
    # pages, as numpy asks for them) and up to once per 4 KB page: 5 blocks, ≥ 100 faults
    assert int(faults_off) >= 100
    assert int(faults) * 20 <= int(faults_off) and int(faults) < 50  # reused: (almost) no new pages


def test_a_command_lines_choice_is_checked():
    from tinygrad_rnn import memory

    with pytest.raises(ValueError, match="--malloc must be one of reuse, system, got 'sytem'"):
        memory.apply("sytem")


def test_the_train_command_asks_for_the_tuning_and_can_be_told_not_to():
    from tinygrad_rnn.models import train

    assert train.parser().parse_args([]).malloc == "reuse"
    assert train.parser().parse_args(["--malloc", "system"]).malloc == "system"
