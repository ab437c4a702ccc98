"""Recording contexts (``no_grad``, ``scope``, ``tag``, ``detect_anomaly``): entered, nested, decorating
functions, generators and coroutines."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

import tinygrad_rnn as tg


def _t(values, rg=True, **kw):
    return tg.Tensor(np.array(values, dtype=np.float64), requires_grad=rg, **kw)


# ============================================================================ recording contexts
def test_no_grad_on_a_generator_holds_while_its_body_runs():
    x = _t([1.0])

    @tg.no_grad()
    def gen():
        yield (x * 2).requires_grad
        yield (x * 3).requires_grad

    assert list(gen()) == [False, False]
    assert tg.is_grad_enabled()


def test_no_grad_on_a_coroutine_holds_while_it_runs():
    x = _t([1.0])

    @tg.no_grad()
    async def co():
        await asyncio.sleep(0)
        return (x * 2).requires_grad

    assert asyncio.run(co()) is False
    assert tg.is_grad_enabled()


def test_reentering_one_context_object_restores_the_state_after_an_error():
    cm = tg.no_grad()
    with pytest.raises(ValueError):
        with cm:
            with cm:
                raise ValueError
    assert tg.is_grad_enabled()


def test_one_scope_object_shared_by_two_threads():
    sc = tg.scope("shared")
    barrier = threading.Barrier(2)
    seen: list[str] = []
    errors: list[BaseException] = []

    def work():
        try:
            with sc:
                barrier.wait()
                seen.append(tg.current_scope())
                barrier.wait()
            seen.append(tg.current_scope())
        except BaseException as e:  # pragma: no cover - the failure being tested
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(seen) == ["", "", "shared", "shared"]
