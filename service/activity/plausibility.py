"""What a day's totals or a walk may plausibly hold, one definition for every source.

Phone uploads that break these limits are refused with a 422 naming the field (the upload
schemas use the same limits); provider records that break them are quarantined by
`service.connections.ingest` instead of stored.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from service.inputs import FIRST_DATE, last_supported_date

MAX_DAILY_STEPS = 200_000
MAX_DAILY_DISTANCE_M = 500_000.0
MINUTES_A_DAY = 24 * 60
MAX_SESSION = dt.timedelta(hours=24)


class Implausible(NamedTuple):
    """Why a record cannot be true: the field, a short code (a metric label) and a message."""

    field: str
    code: str
    message: str


def _day_in_range(field: str, day: dt.date, now: dt.datetime) -> Implausible | None:
    last = last_supported_date(now)
    if FIRST_DATE <= day <= last:
        return None
    return Implausible(field, "date", f"must be from {FIRST_DATE} to {last}")


def _count(field: str, value: int | None, limit: int) -> Implausible | None:
    if value is None or 0 <= value <= limit:
        return None
    return Implausible(field, field, f"must be from 0 to {limit:,}")


def _distance(value: float | None) -> Implausible | None:
    if value is None or 0 <= value <= MAX_DAILY_DISTANCE_M:
        return None
    limit = f"{MAX_DAILY_DISTANCE_M / 1000:,.0f} km"
    return Implausible("distance_m", "distance_m", f"must be from 0 to {limit}")


def day_problem(
    day: dt.date,
    steps: int,
    distance_m: float | None,
    active_minutes: int | None,
    now: dt.datetime,
) -> Implausible | None:
    """The first thing wrong with one day's totals, or None when they are plausible."""
    return (
        _day_in_range("date", day, now)
        or _count("steps", steps, MAX_DAILY_STEPS)
        or _distance(distance_m)
        or _count("active_minutes", active_minutes, MINUTES_A_DAY)
    )


def session_problem(
    start: dt.datetime,
    end: dt.datetime,
    steps: int | None,
    distance_m: float | None,
    now: dt.datetime,
) -> Implausible | None:
    """The first thing wrong with a walk, or None when it is plausible."""
    for field, instant in (("start", start), ("end", end)):
        # Checked on the written calendar date: converting year 1 or 9999 could overflow.
        problem = _day_in_range(field, instant.date(), now)
        if problem:
            return problem
    if end <= start:
        return Implausible("end", "order", "must be after start")
    if end - start > MAX_SESSION:
        return Implausible("end", "duration", "a walk lasts at most 24 hours")
    return _count("steps", steps, MAX_DAILY_STEPS) or _distance(distance_m)
