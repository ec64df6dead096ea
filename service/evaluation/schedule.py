"""Patient-local decision times: which point is due, which comes next, and its idempotency key.

A decision point is a (local date, decision time) pair, keyed `schedule:2026-11-27T08:30` in
the patient's local time, so a DST repeat of 01:30 is still one point and a point skipped by a
DST gap (02:30 on a spring-forward day) runs at the instant the clocks jump over it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo


def _points(
    zone: ZoneInfo, times: Sequence[dt.time], around: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """(nominal local datetime, UTC instant) of every point from yesterday to tomorrow."""
    today = around.astimezone(zone).date()
    out = []
    for offset in (-2, -1, 0, 1, 2):
        day = today + dt.timedelta(days=offset)
        for moment in times:
            nominal = dt.datetime.combine(day, moment)
            out.append((nominal, nominal.replace(tzinfo=zone).astimezone(dt.UTC)))
    return sorted(out, key=lambda point: point[1])


def next_decision(timezone: str, times: Sequence[dt.time], now: dt.datetime) -> dt.datetime:
    """The first decision instant strictly after `now` (UTC)."""
    if not times:
        return now + dt.timedelta(days=1)
    return next(at for _nominal, at in _points(ZoneInfo(timezone), times, now) if at > now)


def latest_decision_key(timezone: str, times: Sequence[dt.time], now: dt.datetime) -> str:
    """The key of the latest decision point at or before `now`."""
    past = [nominal for nominal, at in _points(ZoneInfo(timezone), times, now) if at <= now]
    if not past:
        return f"schedule:{now.astimezone(ZoneInfo(timezone)):%Y-%m-%dT%H:%M}"
    return f"schedule:{past[-1]:%Y-%m-%dT%H:%M}"
