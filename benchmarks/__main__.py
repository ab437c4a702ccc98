"""``python -m benchmarks``: for now the per-op overhead table (see benchmarks/overhead.py)."""

from benchmarks.overhead import main

main()
