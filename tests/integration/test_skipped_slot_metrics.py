"""A claim says how many slots it recorded skipped, per job, and the worker's metrics
count them (pgsched_slots_skipped_total, which the missed-slots alert reads)."""

from __future__ import annotations

from typing import Any

import psycopg
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pgsched.engine.events import RunEvents
from pgsched.engine.metrics import Metrics
from tests.commands import add_job
from tests.integration.test_claims import claim

Connection = psycopg.Connection[tuple[Any, ...]]


def test_a_misfire_gap_is_counted_slot_by_slot(database_url: str, db: Connection) -> None:
    # Due every minute, last fired ten minutes ago, skip on misfire: nine slots passed over
    # (the tenth, just due, runs) land in one gap record.
    add_job(db, "every-minute", "* * * * *", misfire="skip", misfire_threshold_seconds=5)
    db.execute(
        "UPDATE pgsched.jobs SET next_run = date_trunc('minute', now()) - interval '10 minutes'"
    )
    result = claim(database_url)
    recorded = db.execute(
        "SELECT coalesce(sum(coalesce(missed_slots, 1)), 0) FROM pgsched.runs"
        " WHERE status = 'skipped'"
    ).fetchone()
    assert recorded is not None and recorded[0] > 1
    assert result.skipped_slots == [("every-minute", recorded[0])]

    metrics = Metrics(job_label=True)
    RunEvents(lambda: "w1", metrics).planned(result)
    [family] = [
        f
        for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        if f.name == "pgsched_slots_skipped"
    ]
    assert [(s.labels, s.value) for s in family.samples] == [
        ({"job": "every-minute"}, float(recorded[0]))
    ]
