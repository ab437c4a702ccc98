"""Helpers shared by the engine's test files (not tests themselves)."""

from __future__ import annotations

import threading

import numpy as np

import tinygrad_rnn as tg


def _run(*targets):
    errors = []

    def wrap(f):
        def run():
            try:
                f()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def _two_layer_net(seed=0):
    rng = np.random.default_rng(seed)
    W1 = tg.Tensor(rng.standard_normal((4, 3)), requires_grad=True, name="W1")
    W2 = tg.Tensor(rng.standard_normal((2, 4)), requires_grad=True, name="W2")
    xs = rng.standard_normal((5, 3))
    return W1, W2, lambda: ((xs @ W1.T).tanh() @ W2.T).sum()
