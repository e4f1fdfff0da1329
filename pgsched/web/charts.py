"""Charts drawn on the server as SVG: no script draws them, they print, and a
screen reader gets each mark's title. Colours come from CSS classes, so dark mode
restyles them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup

from pgsched.db.schema import RUN_STATUSES

# Status classes a mark may take; anything else is drawn as "other".
SLOT_CLASSES = frozenset((*RUN_STATUSES, "missed"))


@dataclass(frozen=True)
class Layer:
    """One series of a stacked bar chart: its key in the data, label and CSS class."""

    key: str
    label: str
    css: str


def stacked_bars(
    buckets: Sequence[dict[str, object]],
    layers: Sequence[Layer],
    label: Callable[[datetime], str],
    *,
    time_key: str,
    title: str,
    width: int = 720,
    height: int = 160,
) -> Markup:
    """A stacked bar per bucket (oldest left), layers bottom up, with a y-axis maximum
    and the first and last bucket's labels. Each bar's title lists its counts."""
    top = max((sum(_count(b, layer.key) for layer in layers) for b in buckets), default=0)
    scale_top = max(top, 1)
    plot_height = height - 22
    slot = width / max(len(buckets), 1)
    bar = max(slot * 0.8, 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="none">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="0" y1="{plot_height}" x2="{width}" y2="{plot_height}"/>',
        f'<text class="tick" x="2" y="10">{top:,}</text>',
    ]
    for index, bucket in enumerate(buckets):
        x = index * slot + (slot - bar) / 2
        y = float(plot_height)
        when = bucket[time_key]
        assert isinstance(when, datetime)
        counts = ", ".join(f"{layer.label} {_count(bucket, layer.key):,}" for layer in layers)
        parts.append(f"<g><title>{escape(label(when))}: {escape(counts)}</title>")
        parts.append(
            f'<rect class="hit" x="{x:.1f}" y="0" width="{bar:.1f}" height="{plot_height}"/>'
        )
        for layer in layers:
            value = _count(bucket, layer.key)
            if not value:
                continue
            h = value / scale_top * (plot_height - 14)
            y -= h
            parts.append(
                f'<rect class="{layer.css}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"/>'
            )
        parts.append("</g>")
    if buckets:
        first, last = buckets[0][time_key], buckets[-1][time_key]
        assert isinstance(first, datetime) and isinstance(last, datetime)
        parts.append(f'<text class="tick" x="0" y="{height - 4}">{escape(label(first))}</text>')
        parts.append(
            f'<text class="tick" x="{width}" y="{height - 4}" text-anchor="end">'
            f"{escape(label(last))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def slot_strip(
    slots: Sequence[dict[str, object]],
    label: Callable[[datetime], str],
    *,
    title: str,
    cell: int = 12,
    height: int = 24,
    newest_right: bool = True,
) -> Markup:
    """One cell per slot coloured by how it ended (ran, failed, skipped, missed...),
    the newest on the right. ``slots`` come newest first, as the database gives them."""
    ordered = list(reversed(slots)) if newest_right else list(slots)
    width = max(len(ordered), 1) * cell
    parts = [
        f'<svg class="strip" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for index, slot in enumerate(ordered):
        status = str(slot["status"])
        css = status if status in SLOT_CLASSES else "other"
        when = slot["scheduled_for"]
        assert isinstance(when, datetime)
        attempts = slot.get("attempts") or 0
        described = status.replace("_", " ")
        if isinstance(attempts, int) and attempts > 1:
            described += f" after {attempts} attempts"
        missed_slots = slot.get("missed_slots")
        if isinstance(missed_slots, int) and missed_slots > 1:
            described += f" ({missed_slots} slots passed over)"
        error = slot.get("error")
        tail = f": {error}" if error else ""
        parts.append(
            f'<rect class="slot {css}" data-status="{escape(status)}" x="{index * cell + 1}" '
            f'y="2" width="{cell - 2}" height="{height - 4}" rx="2">'
            f"<title>{escape(label(when))} {escape(described)}{escape(str(tail))}</title></rect>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _count(bucket: dict[str, object], key: str) -> int:
    value = bucket.get(key) or 0
    assert isinstance(value, int)
    return value
