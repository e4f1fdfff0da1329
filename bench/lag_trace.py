"""``python -m bench.lag_trace``: where the start lag of held python slots goes, slot by slot.

```sh
python -m bench.lag_trace run TRACE_DIR [-- python -m bench arguments]   # default: --phase lag
python -m bench.lag_trace report TRACE_DIR
```

``run`` runs ``python -m bench`` (``--phase lag`` unless other arguments follow ``--``)
with ``bench/trace`` first on ``PYTHONPATH`` and ``BENCH_LAG_TRACE=TRACE_DIR``: its
``sitecustomize`` wraps a few functions of each worker and python child (``trace_hooks``
says which and what they record), then ``report`` splits each traced slot's lag
``started_at - scheduled_for`` into parts that add up to it, all measured against the
host's true clock offset (the database runs on this host: ``time.time()`` and its
``clock_timestamp()`` read the same clock):

- **hold margin**: ``start_at`` (the worker instant the hold clock lets the slot begin)
  after the true instant: the lower bound of the offset it used, short of the truth;
- **first wake**: the first slot of a child's burst, begun after ``start_at`` (the
  child's timed wait and wake-up, or a child still busy when it came);
- **queue on-CPU / off-CPU**: the time a slot waits for those before it in its child's
  burst, split into the child's CPU time and the time it was not running (descheduled);
- **prelude**: from ``next_attempt`` returning to the job's call (``started``);
- **stamp margin**: the recorded ``started_at`` after the true begin (the upper bound
  of the offset it used, beyond the truth; never negative, or it would be early).

Also: slots sent to their child after ``start_at`` (late hand-over), and burst sizes;
per instant, how its slots were split between the workers, how many claims brought
them, and claims answered after the hand-over time (``HAND_OVER_LEAD_SECONDS`` before
the instant); the statements (claims, outcome batches) each worker had under way in
an instant's first 30 ms; and one line per instant (held slots, lag p50 and max, each
worker's claims ahead of it). The wrapped functions cost a few microseconds per slot; compare traced
runs with traced runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

# pgsched.executors.python_held.HAND_OVER_LEAD_SECONDS, not imported: the report reads
# traces of any branch.
HAND_OVER_LEAD_SECONDS = 0.05
TRACE_SITE = Path(__file__).resolve().parent / "trace"
SHARES = (0.5, 0.9, 0.99)


def _load(directory: Path) -> dict[int, list[dict[str, Any]]]:
    records: dict[int, list[dict[str, Any]]] = {}
    for path in directory.glob("*.jsonl"):
        with path.open() as lines:
            records[int(path.stem)] = [json.loads(line) for line in lines if line.strip()]
    return records


def _quantiles(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    picks = [ordered[min(len(ordered) - 1, int(share * len(ordered)))] for share in SHARES]
    shown = "  ".join(f"p{int(100 * s)} {v:7.2f}" for s, v in zip(SHARES, picks, strict=True))
    return f"mean {statistics.fmean(values):7.2f}  {shown}  max {ordered[-1]:7.2f}"


def slots(directory: Path) -> list[dict[str, float]]:
    """One row per traced held slot: its parts of the lag, in ms."""
    records = _load(directory)
    wakes: dict[tuple[int, int], dict[str, Any]] = {}
    began: dict[tuple[int, int], float] = {}
    for pid, rows in records.items():
        for row in rows:
            if row["e"] == "wake":
                wakes[pid, row["key"]] = row
            elif row["e"] == "began" and row["started"] is not None:
                began[pid, row["key"]] = row["started"]
    # A child's wakes in order: its bursts.
    previous: dict[tuple[int, int], dict[str, Any] | None] = {}
    for pid, rows in records.items():
        ordered = sorted((r for r in rows if r["e"] == "wake"), key=lambda r: r["t"])
        for before, row in zip([None, *ordered], ordered, strict=False):
            previous[pid, row["key"]] = before
    out = []
    for rows in records.values():
        sent = {row["key"]: row for row in rows if row["e"] == "sent"}
        if not sent:
            continue
        results = {row["key"]: row for row in rows if row["e"] == "result"}
        stamps = {row["m"]: row for row in rows if row["e"] == "stamp"}
        for key, hand in sent.items():
            wake = wakes.get((hand["child"], key))
            started = began.get((hand["child"], key))
            if started is None and (result := results.get(key)) is not None:
                started = result["started"]
            if wake is None or started is None:
                continue
            stamp = stamps.get(started)
            if stamp is None:
                continue
            off, start_at = stamp["off"], hand["start_at"]
            # The burst: back to back wakes of this child since the first at start_at.
            first, chain = wake, [wake]
            while (before := previous.get((hand["child"], first["key"]))) and not first["waited"]:
                if before["t"] < start_at:
                    break
                first = before
                chain.append(first)
            cpu_queue = wake["cpu"] - first["cpu"]
            queue = wake["t"] - first["t"]
            out.append(
                {
                    "lag": 1000 * (stamp["db"] - hand["slot"]),
                    "hold": 1000 * (start_at - (hand["slot"] - off)),
                    "first": 1000 * (first["t"] - start_at),
                    "queue_cpu": 1000 * cpu_queue,
                    "queue_off": 1000 * (queue - cpu_queue),
                    "prelude": 1000 * (started - wake["t"]),
                    "stamp": 1000 * (stamp["db"] - (started + off)),
                    "position": float(len(chain) - 1),
                    "sent_late": 1000 * (hand["t"] - start_at),
                    "busy": 0.0 if first["waited"] else 1.0,
                    "slot": hand["slot"],
                }
            )
    return out


def report(directory: Path) -> None:
    rows = slots(directory)
    print(f"{len(rows):,} held slots traced in {directory}")
    if not rows:
        return
    names = {
        "lag": "lag (started_at - scheduled_for)",
        "hold": "hold margin (start_at after the true instant)",
        "first": "first wake (burst's first begins after start_at)",
        "queue_cpu": "queue on-CPU (own child's CPU for those before)",
        "queue_off": "queue off-CPU (child not running meanwhile)",
        "prelude": "prelude (next_attempt to the job's call)",
        "stamp": "stamp margin (started_at after the true begin)",
        "position": "position in its child's burst",
        "sent_late": "hand-over, ms after start_at (< 0: before)",
    }
    for key, name in names.items():
        print(f"  {name:52} {_quantiles([row[key] for row in rows])}")
    late = sum(1 for row in rows if row["sent_late"] > 0)
    busy = sum(1 for row in rows if row["busy"])
    print(f"  handed over after start_at: {late:,}; burst begun by a child still busy: {busy:,}")
    parts = ("hold", "first", "queue_cpu", "queue_off", "prelude", "stamp")
    residual = [row["lag"] - sum(row[p] for p in parts) for row in rows]
    print(f"  lag minus its parts (should be ~0): {_quantiles(residual)}")
    by_lag = sorted(rows, key=lambda row: row["lag"])
    for share in (0.5, 0.99):
        band = by_lag[int(share * len(by_lag)) - 50 : int(share * len(by_lag)) + 50]
        means = {p: statistics.fmean(row[p] for row in band) for p in (*parts, "position")}
        shown = ", ".join(f"{p} {v:.2f}" for p, v in means.items())
        print(f"  slots around p{int(100 * share)} of lag, mean parts: {shown}")
    _instants(directory)
    split(directory)
    per_instant(directory, rows)
    collections = [r for rows in _load(directory).values() for r in rows if r["e"] == "gc"]
    for generation in (0, 1, 2):
        took = [1000 * (r["t1"] - r["t0"]) for r in collections if r["n"] == generation]
        if took:
            print(f"  workers' garbage collections of generation {generation}, ms:", end=" ")
            print(_quantiles(took))
    clock = [r for rows in _load(directory).values() for r in rows if r["e"] == "clock"]
    if clock:
        lower = [1000 * (r["off"] - r["lower"]) for r in clock]
        upper = [1000 * (r["upper"] - r["off"]) for r in clock]
        print(f"  hold clock, true offset minus lower bound, ms:  {_quantiles(lower)}")
        print(f"  hold clock, upper bound minus true offset, ms:  {_quantiles(upper)}")
        print(
            f"  clock samples' round trips, ms:                 "
            f"{_quantiles([1000 * r['rtt'] for r in clock])}"
        )


def _instants(directory: Path) -> None:
    """Per instant: when each child began its burst and ended it, and what the workers
    did in the first 30 ms (their held slots' bookkeeping, reading results)."""
    records = _load(directory)
    offsets = [r["off"] for rows in records.values() for r in rows if r["e"] == "stamp"]
    if not offsets:
        return
    off = statistics.median(offsets)
    firsts: dict[float, list[float]] = defaultdict(list)
    lasts: dict[float, list[float]] = defaultdict(list)
    for rows in records.values():
        sent = [row for row in rows if row["e"] == "sent"]
        if not sent:
            continue
        keys: dict[tuple[int, float], list[int]] = defaultdict(list)
        for row in sent:
            keys[row["child"], row["slot"]].append(row["key"])
        for (child, slot), burst in keys.items():
            times = [
                r["t"]
                for r in records.get(child, [])
                if r["e"] == "wake" and r["key"] in set(burst)
            ]
            if times:
                firsts[slot].append(1000 * (min(times) - (slot - off)))
                lasts[slot].append(1000 * (max(times) - (slot - off)))
    ranks: dict[int, list[float]] = defaultdict(list)
    for values in firsts.values():
        for rank, value in enumerate(sorted(values)):
            ranks[rank].append(value)
    for rank, values in sorted(ranks.items()):
        print(f"  child burst {rank + 1} of the instant, first begins (ms after):", end=" ")
        print(_quantiles(values))
    last = [max(values) for values in lasts.values()]
    print(f"  an instant's last slot begins (ms after): {_quantiles(last)}")
    _statements(records, off)
    book, reading, reads = [], [], []
    for rows in records.values():
        instants = [r for r in rows if r["e"] == "instant"]
        read = [r for r in rows if r["e"] == "read"]
        for instant in instants:
            late, took = instant["t0"] - instant["at"], instant["t1"] - instant["t0"]
            book.append((1000 * late, 1000 * took))
            window = [r for r in read if instant["at"] <= r["t0"] < instant["at"] + 0.03]
            reading.append(1000 * sum(r["t1"] - r["t0"] for r in window))
            reads.append(float(len(window)))
    if book:
        begins, takes = [b[0] for b in book], [b[1] for b in book]
        print(f"  worker's instant bookkeeping, begins (ms after start_at): {_quantiles(begins)}")
        print(f"  worker's instant bookkeeping, takes (ms):                {_quantiles(takes)}")
        print(f"  worker reading results in the first 30 ms (ms):          {_quantiles(reading)}")
        print(f"  worker's reads (wake-ups) in the first 30 ms:            {_quantiles(reads)}")


def _statements(records: dict[int, list[dict[str, Any]]], off: float) -> None:
    """Per worker and instant, the statements it had the database run while its
    processes began the instant's held slots (the first 30 ms): claims, outcome batches."""
    for kind in ("claim", "finish"):
        counts, busy = [], []
        for rows in records.values():
            instants = {row["slot"] for row in rows if row["e"] == "sent"}
            done = [row for row in rows if row["e"] == kind]
            for slot in instants:
                at = slot - off
                inside = [row for row in done if row["t1"] > at and row["t0"] < at + 0.03]
                counts.append(float(len(inside)))
                overlap = sum(min(r["t1"], at + 0.03) - max(r["t0"], at) for r in inside)
                busy.append(1000 * overlap)
        if counts:
            print(f"  {kind} statements under way in an instant's first 30 ms,", end=" ")
            print("per worker:", end=" ")
            print(_quantiles(counts))
            print("    ms of those 30 ms with one under way:", end=" ")
            print(_quantiles(busy))


def split(directory: Path) -> None:
    """Per instant: each worker's share of its held slots, the claims that brought them,
    and how late the last of them was answered and handed over."""
    records = _load(directory)
    offsets = [r["off"] for rows in records.values() for r in rows if r["e"] == "stamp"]
    if not offsets:
        return
    off = statistics.median(offsets)
    shares: dict[float, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    claims: dict[float, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    answered_late: list[float] = []
    sent_late: dict[float, float] = defaultdict(lambda: -1e9)
    # Per instant and worker: each claim ahead's (sent, answered, slots), ms from the instant.
    timings: dict[float, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for pid, rows in records.items():
        for row in rows:
            if row["e"] == "sent":
                shares[row["slot"]][pid] += 1
                late = 1000 * (row["t"] - row["start_at"])
                sent_late[row["slot"]] = max(sent_late[row["slot"]], late)
            elif row["e"] == "claim" and row["ahead"] > 0:
                for slot in row.get("slots", []):
                    claims[slot][pid] += 1
                    at = slot - off
                    timings[slot][pid].append(
                        f"{1000 * (row['t0'] - at):.0f}..{1000 * (row['t1'] - at):.0f}:{row['n']}"
                    )
                    hand_over = slot - off - HAND_OVER_LEAD_SECONDS
                    if row["t1"] > hand_over:
                        answered_late.append(1000 * (row["t1"] - hand_over))
    if not shares:
        return
    larger = [max(by.values()) / sum(by.values()) for by in shares.values()]
    lopsided = sum(1 for share in larger if share >= 0.9)
    print(
        f"  {len(shares)} instants; larger worker's share of one: {_quantiles(larger)};"
        f" >= 90 %: {lopsided}"
    )
    per_worker = [float(count) for by in claims.values() for count in by.values()]
    print(f"  claims ahead bringing one instant's slots, per worker: {_quantiles(per_worker)}")
    print(
        f"  claims ahead answered after the hand-over time: {len(answered_late)}"
        f" (ms after it: {_quantiles(answered_late)})"
    )
    late = [value for value in sent_late.values() if value > 0]
    print(f"  instants handed over after start_at: {len(late)} (ms: {_quantiles(late)})")
    first = min(shares)
    for slot in sorted(shares):
        by, share = shares[slot], max(shares[slot].values()) / sum(shares[slot].values())
        if share >= 0.9 or sent_late[slot] > 0:
            counts = ", ".join(
                f"{by[pid]} in {claims[slot][pid]} claims ({' '.join(timings[slot][pid][:4])})"
                for pid in sorted(by)
            )
            print(
                f"    instant +{slot - first:.0f} s: {counts};"
                f" last hand-over {sent_late[slot]:+.1f} ms after start_at"
            )


def per_instant(directory: Path, rows: list[dict[str, float]]) -> None:
    """One line per instant: its held slots (the others were claimed once due), their
    lag p50 and max, and each worker's claims ahead of it (ms from the instant, sent ..
    answered : slots; answered after -50 ms is after the hand-over time)."""
    records = _load(directory)
    offsets = [r["off"] for rows_ in records.values() for r in rows_ if r["e"] == "stamp"]
    if not offsets or not rows:
        return
    off = statistics.median(offsets)
    lags: dict[float, list[float]] = defaultdict(list)
    for row in rows:
        lags[row["slot"]].append(row["lag"])
    first = min(lags)
    print("  per instant: held slots, lag p50 / max ms | each worker's claims ahead of it")
    for slot in sorted(lags):
        ordered = sorted(lags[slot])
        claims = []
        for pid in sorted(records):
            mine = [r for r in records[pid] if r["e"] == "claim" and slot in r.get("slots", [])]
            at = slot - off
            shown = " ".join(
                f"{1000 * (r['t0'] - at):.0f}..{1000 * (r['t1'] - at):.0f}:{r['n']}"
                for r in mine[:3]
            )
            if shown:
                claims.append(shown + (" ..." if len(mine) > 3 else ""))
        print(
            f"    +{slot - first:.0f} s: {len(ordered)} held, {ordered[len(ordered) // 2]:.1f} /"
            f" {ordered[-1]:.1f} | {' | '.join(claims)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lag_trace", description=__doc__)
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("bench_arguments", nargs="*", help="after --: python -m bench arguments")
    arguments = parser.parse_args()
    if arguments.command == "run":
        environment = dict(os.environ)
        environment["BENCH_LAG_TRACE"] = str(arguments.directory.resolve())
        path = environment.get("PYTHONPATH")
        environment["PYTHONPATH"] = str(TRACE_SITE) + (os.pathsep + path if path else "")
        bench = arguments.bench_arguments or ["--phase", "lag"]
        subprocess.run([sys.executable, "-m", "bench", *bench], env=environment, check=True)
    report(arguments.directory)


if __name__ == "__main__":
    main()
