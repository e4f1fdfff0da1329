"""The chaos harness: real workers under faults, then an audit of what they recorded.

Run ``python -m bench.chaos`` from the repository root; see ``bench/README.md``.
The workers' python children import ``bench.chaos.targets``, so this package
imports nothing at load time.
"""
