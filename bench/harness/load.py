"""An HTTP load generator on loopback: keep-alive connections, asyncio, no library.

Two shapes: ``closed_loop`` (N connections, each sends its next request as soon as
the last answer arrived: the most a server does) and ``open_loop`` (requests sent on
a fixed schedule whatever the answers: latency at a given rate, queueing included,
measured from when each request was due). Loop counts and durations are bounded:
it only ever talks to the address it is given, which the caller keeps on loopback.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

HEADER_END = b"\r\n\r\n"


@dataclass(frozen=True)
class LoadResult:
    """What a load run saw: requests answered, failures, latencies (ms), how long."""

    answered: int
    failed: int
    latencies_ms: list[float]
    seconds: float

    @property
    def per_second(self) -> float:
        """Requests answered with 200 per second."""
        return self.answered / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float | None:
        """A latency percentile (0.99 for p99), or None without answers."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def median_ms(self) -> float | None:
        """The median latency."""
        return statistics.median(self.latencies_ms) if self.latencies_ms else None


def request_bytes(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    """One keep-alive GET."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send ``request``, read the whole answer; its status code."""
    writer.write(request)
    head = await reader.readuntil(HEADER_END)
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _closed_loop(
    host: str, port: int, request: bytes, connections: int, seconds: float
) -> LoadResult:
    latencies: list[float] = []
    failed = 0
    deadline = time.perf_counter() + seconds

    async def one_connection() -> None:
        nonlocal failed
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status = await _exchange(reader, writer, request)
                if status == 200:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    failed += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return LoadResult(len(latencies), failed, latencies, time.perf_counter() - started)


async def _open_loop(
    host: str, port: int, request: bytes, rate: float, seconds: float, connections: int
) -> LoadResult:
    latencies: list[float] = []
    failed = 0
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection(host, port))
    total = int(rate * seconds)
    start = time.perf_counter()

    async def one_request(due: float) -> None:
        nonlocal failed
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        reader, writer = await idle.get()
        try:
            status = await _exchange(reader, writer, request)
        finally:
            idle.put_nowait((reader, writer))
        if status == 200:
            # From when the request was due: time spent waiting for a connection counts.
            latencies.append((time.perf_counter() - due) * 1000)
        else:
            failed += 1

    await asyncio.gather(*(one_request(start + n / rate) for n in range(total)))
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait()[1].close()
    return LoadResult(len(latencies), failed, latencies, elapsed)


def closed_loop(
    host: str, port: int, request: bytes, connections: int, seconds: float
) -> LoadResult:
    """As many requests as ``connections`` keep-alive connections get answered."""
    return asyncio.run(_closed_loop(host, port, request, connections, seconds))


def open_loop(
    host: str, port: int, request: bytes, rate: float, seconds: float, connections: int = 20
) -> LoadResult:
    """``rate`` requests a second for ``seconds``, over up to ``connections`` connections."""
    return asyncio.run(_open_loop(host, port, request, rate, seconds, connections))
