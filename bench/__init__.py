"""pgsched's benchmark: real worker processes against scratch databases.

Run ``python -m bench`` from the repository root; see ``bench/README.md``.
"""
