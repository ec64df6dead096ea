"""Steps and targets per local day for many patients at once, set-based (no query per patient).

What the Today list ranks on and draws its sparklines from: each patient's effective steps per
day (the primary source, else the largest; never summed) and the target in force at the end of
each day, from the plan changes around the window.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, case, func, select, type_coerce
from sqlalchemy.orm import Session

from service.activity.models import DailyActivity
from service.patients.models import PatientProfile
from service.plans.models import PlanChange

DAY = dt.timedelta(days=1)


def daily_steps(
    session: Session, scope: Select[Any], first: dt.date, last: dt.date
) -> list[tuple[int, dt.date, int]]:
    """Each patient's effective steps per day (the primary source, else the largest; never
    summed), grouped in SQL."""
    primary = func.max(
        case((DailyActivity.source == PatientProfile.primary_source, DailyActivity.steps))
    )
    rows = session.execute(
        select(
            DailyActivity.patient_id,
            # Raw values: SQLite returns text, and parsing thousands of repeats of the same few
            # dates cost more than the query; each distinct value is converted once below.
            type_coerce(DailyActivity.date, String),
            func.coalesce(primary, func.max(DailyActivity.steps)),
        )
        .join(PatientProfile, PatientProfile.user_id == DailyActivity.patient_id)
        .where(
            DailyActivity.patient_id.in_(scope),
            DailyActivity.date >= first,
            DailyActivity.date <= last,
        )
        .group_by(DailyActivity.patient_id, DailyActivity.date)
    )
    dates: dict[Any, dt.date] = {}
    out = []
    for pid, raw, steps in rows:
        day = dates.get(raw)
        if day is None:
            day = dates[raw] = raw if isinstance(raw, dt.date) else dt.date.fromisoformat(raw)
        out.append((pid, day, steps))
    return out


def plan_changes(
    session: Session, ids: Select[Any] | list[int], first: dt.date, last: dt.date
) -> dict[int, list[tuple[dt.datetime, int]]]:
    """Plan changes that decide the targets of days first..last: the last one before the
    window and those inside it, per patient, in time order (two queries)."""
    # A day a zone away from UTC starts at most 14 h earlier; a day's margin covers every zone.
    start = dt.datetime.combine(first - DAY, dt.time(0), tzinfo=dt.UTC)
    end = dt.datetime.combine(last + 2 * DAY, dt.time(0), tzinfo=dt.UTC)
    ranked = (
        select(
            PlanChange.patient_id,
            PlanChange.effective_at,
            PlanChange.target,
            func.row_number()
            .over(
                partition_by=PlanChange.patient_id,
                order_by=(PlanChange.effective_at.desc(), PlanChange.id.desc()),
            )
            .label("rank"),
        )
        .where(PlanChange.patient_id.in_(ids), PlanChange.effective_at < start)
        .subquery()
    )
    before = select(ranked.c.patient_id, ranked.c.effective_at, ranked.c.target).where(
        ranked.c.rank == 1
    )
    inside = select(PlanChange.patient_id, PlanChange.effective_at, PlanChange.target).where(
        PlanChange.patient_id.in_(ids),
        PlanChange.effective_at >= start,
        PlanChange.effective_at < end,
    )
    changes: dict[int, list[tuple[dt.datetime, int]]] = defaultdict(list)
    for query in (before, inside):
        for pid, at, target in session.execute(query):
            changes[pid].append((at, target))
    for items in changes.values():
        items.sort()
    return changes


def day_ends(zone: str, days: tuple[dt.date, ...]) -> list[dt.datetime]:
    """When each local day ends, in UTC (shared by every patient of the zone)."""
    key = (zone, days)
    found = _ENDS.get(key)
    if found is None:
        tz = ZoneInfo(zone)
        found = [
            dt.datetime.combine(day + DAY, dt.time(0), tzinfo=tz).astimezone(dt.UTC) for day in days
        ]
        if len(_ENDS) > 4096:
            _ENDS.clear()
        _ENDS[key] = found
    return found


_ENDS: dict[tuple[str, tuple[dt.date, ...]], list[dt.datetime]] = {}


def day_targets(
    changes: list[tuple[dt.datetime, int]], ends: list[dt.datetime]
) -> list[int | None]:
    """The target in force at the end of each day (None before the first plan)."""
    out: list[int | None] = []
    index, current = 0, None
    for end in ends:
        while index < len(changes) and changes[index][0] < end:
            current = changes[index][1]
            index += 1
        out.append(current)
    return out
