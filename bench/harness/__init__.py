"""What every benchmark phase and the chaos harness share.

Scratch databases (``server``), connections and the job targets workers run
(``database``, ``targets``), worker processes (``workers``), CPU and memory
readings (``cpu``, ``meter``), figures and tables (``report``); servers started
here for pooling and failover (``pgbouncer``, ``replication``, and ``programs``: as
whom and on which port). Worker processes' python children import
``bench.harness.targets``, so this package imports nothing at load time.
"""
