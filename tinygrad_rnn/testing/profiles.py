"""Hypothesis profiles for gradient tests (registered, never loaded: loading one is your choice).

- ``"tinygrad_rnn"``: 40 examples, no deadline (a gradient check is slow by design), derandomized
  (a run is reproducible on any machine), no example database, and **no explain phase**:
  hypothesis's explain phase re-runs a failing test many times to list the lines only failing runs
  reach, which for a gradient check costs over a minute and prints our internals, not your bug.
  Turn it back on with the ``"tinygrad_rnn-explain"`` profile (or ``settings(phases=...)``).
  It prints no ``@reproduce_failure`` blob, even on CI (where hypothesis's default turns it on):
  the run is derandomized, so running the test again reproduces the failure, and the failing
  example is printed in full anyway; output is then the same on every machine.
- ``"thorough"``: 5× the examples.
- ``"explore"``: 5× the examples, fresh random ones each run (for hunting, not CI); failing examples
  are saved in ``.hypothesis/explore`` and the ``@reproduce_failure`` blob is printed, so that a
  rare failure can be replayed.
- ``"mutation"``: for ``make mutation``: 20 examples, no shrinking (a failing example is enough to
  kill a mutant; shrinking can take minutes and turn a killed mutant into a timeout).

Select one with ``pytest --hypothesis-profile=tinygrad_rnn`` (the pytest plugin registers them) or
``settings.load_profile("tinygrad_rnn")`` after :func:`register_profiles`.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

__all__ = ["register_profiles", "PHASES"]

#: every phase but explain
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)


def register_profiles() -> None:
    """Register the profiles of the module docstring (idempotent)."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True, database=None,
                  print_blob=False)
    settings.register_profile("tinygrad_rnn", max_examples=40, phases=PHASES, **common)
    settings.register_profile("tinygrad_rnn-explain", max_examples=40, phases=PHASES + (Phase.explain,), **common)
    settings.register_profile("thorough", max_examples=200, phases=PHASES, **common)
    settings.register_profile("mutation", max_examples=20, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                              **common)
    settings.register_profile("explore", max_examples=200, phases=PHASES,
                              **{**common, "derandomize": False, "print_blob": True,
                                 "database": DirectoryBasedExampleDatabase(".hypothesis/explore")})
