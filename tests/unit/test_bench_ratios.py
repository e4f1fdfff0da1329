"""The bench's figures divided by one another: what each ratio is made of."""

from __future__ import annotations

from bench.__main__ import _ratios
from bench.harness.report import Figure, cpu_ms_per_run


def test_cpu_per_run_sums_the_workers_and_the_whole_server() -> None:
    cpu: dict[str, float | None] = {"workers_cpu_pct": 60.0, "postgres_server_cpu_pct": 100.0}
    # 1.6 cores over 16,000 runs a second: 0.1 ms of CPU each.
    assert cpu_ms_per_run(cpu, 16_000) == 0.1


def test_cpu_per_run_is_unknown_without_a_reading_or_a_run() -> None:
    cpu: dict[str, float | None] = {"workers_cpu_pct": None, "postgres_server_cpu_pct": 100.0}
    assert cpu_ms_per_run(cpu, 16_000) is None
    assert cpu_ms_per_run({"workers_cpu_pct": 1.0, "postgres_server_cpu_pct": 1.0}, 0) is None


def test_overload_is_compared_by_runs_and_by_cpu_per_run() -> None:
    figures = [
        Figure("throughput_2w_runs_per_s", "throughput", "", 16_000, "runs/s"),
        Figure("overload_runs_per_s", "overload 5x", "", 12_000, "runs/s"),
        Figure("throughput_2w_cpu_ms_per_run", "throughput", "", 0.10, "ms/run"),
        Figure("overload_cpu_ms_per_run", "overload 5x", "", 0.11, "ms/run"),
    ]
    ratios = {figure.key: figure for figure in _ratios(figures)}
    assert ratios["overload_to_1x_ratio"].value == 0.75
    assert ratios["overload_to_1x_ratio"].met is False
    cpu = ratios["overload_cpu_ratio"]
    assert cpu.value is not None and round(cpu.value, 3) == 0.909
    assert cpu.target is None and cpu.met is None
