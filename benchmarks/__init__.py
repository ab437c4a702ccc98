"""Benchmarks (run from the checkout: ``python -m benchmarks``). Never part of ``make test``."""
