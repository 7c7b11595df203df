"""The study overview's figures (pure): how fast the team answers alerts, how old the open ones are."""

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Open alerts by how long they have waited: (upper bound, key).
AGE_BANDS = ((timedelta(hours=1), "under_1h"), (timedelta(hours=24), "1h_24h"), (timedelta(days=3), "1d_3d"),
             (None, "over_3d"))


@dataclass(frozen=True)
class AlertTimes:
    """What the figures need of one alert."""

    severity: str
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


def percentile(values, share):
    """Return the nearest-rank percentile of a list of numbers (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _minutes(deltas):
    return [d.total_seconds() / 60 for d in deltas]


def response_times(alerts, now, days=30):
    """Median and 90th percentile minutes to acknowledge and to resolve, per severity, for alerts opened
    in the last `days` days; with how many were counted and how many still wait."""
    since = now - timedelta(days=days)
    out = {}
    for severity in ("red", "amber"):
        recent = [a for a in alerts if a.severity == severity and since <= a.opened_at <= now]
        row = {"opened": len(recent)}
        for step, attribute in (("acknowledge", "acknowledged_at"), ("resolve", "resolved_at")):
            minutes = _minutes(getattr(a, attribute) - a.opened_at for a in recent
                               if getattr(a, attribute) is not None and getattr(a, attribute) <= now)
            row[step] = {"n": len(minutes), "waiting": len(recent) - len(minutes),
                         "median": statistics.median(minutes) if minutes else None,
                         "p90": percentile(minutes, 0.9)}
        out[severity] = row
    return out


def open_by_age(alerts, now):
    """Count still-open alerts (not resolved) per severity and age band."""
    counts = {severity: {key: 0 for _bound, key in AGE_BANDS} for severity in ("red", "amber")}
    for a in alerts:
        if a.resolved_at is not None or a.severity not in counts:
            continue
        age = now - a.opened_at
        key = next(key for bound, key in AGE_BANDS if bound is None or age < bound)
        counts[a.severity][key] += 1
    return counts


def bar_widths(values, width=240):
    """Scale numbers to bar lengths in pixels, the largest filling `width` (all zero stay zero)."""
    top = max((v for v in values if v), default=0)
    return [round(width * v / top, 1) if top and v else 0 for v in values]
