"""Activity use cases: upload daily totals and walks, read the per-day history."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, NamedTuple

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from service import ports
from service.activity.models import DailyActivity
from service.activity.schemas import MAX_DAYS
from service.activity.store import store_days, store_walks
from service.errors import field_error
from service.patients.service import get_profile, note_upload, profile_timezone
from service.plans.service import targets_by_day

DAY = dt.timedelta(days=1)
# No time zone is behind UTC-12 (Etc/GMT+12): a date no later than tomorrow there is no later
# than tomorrow for every patient, so only a date past it needs the patient's own zone read.
WESTMOST = dt.timezone(-12 * dt.timedelta(hours=1))


class Upserted(NamedTuple):
    """What an upload stored: how many records it held, and how many of them were new or changed
    (a re-sent record already stored as it is is not written again, nor evaluated)."""

    records: int
    changed: int


def effective_steps(by_source: Mapping[str, int], primary: str | None) -> int | None:
    """A day's steps: the primary source if it has data, else the largest; never summed."""
    if not by_source:
        return None
    if primary is not None and primary in by_source:
        return by_source[primary]
    return max(by_source.values())


def upsert_daily(
    session: Session, patient_id: int, days: list[dict[str, Any]], now: dt.datetime
) -> Upserted:
    """Store daily totals, replacing earlier values for the same (date, source); mark the
    patient for an evaluation when any changed."""
    _not_after_tomorrow(session, patient_id, [day["date"] for day in days], now)
    rows = [
        {
            "patient_id": patient_id,
            "date": day["date"],
            "source": day["source"],
            "steps": day["steps"],
            "distance_m": day.get("distance_m"),
            "active_minutes": day.get("active_minutes"),
            "updated_at": now,
        }
        for day in days
    ]
    return _noted(session, patient_id, Upserted(len(rows), store_days(session, rows)), now)


def _not_after_tomorrow(
    session: Session, patient_id: int, dates: list[dt.date], now: dt.datetime
) -> None:
    """422 naming the first date after tomorrow in the patient's zone (read only if needed)."""
    if not dates or max(dates) <= now.astimezone(WESTMOST).date() + DAY:
        return
    latest = now.astimezone(zoneinfo.ZoneInfo(profile_timezone(session, patient_id))).date() + DAY
    for index, day in enumerate(dates):
        if day > latest:
            raise field_error(f"days.{index}.date", "must not be after tomorrow")


def session_key(source: str, start: dt.datetime, end: dt.datetime) -> str:
    """A stable id for an uploaded walk without one, so re-sends update rather than duplicate."""
    fmt = "%Y%m%dT%H%M%SZ"
    return f"{source}:{start.astimezone(dt.UTC):{fmt}}-{end.astimezone(dt.UTC):{fmt}}"


def upsert_sessions(
    session: Session, patient_id: int, sessions: list[dict[str, Any]], now: dt.datetime
) -> Upserted:
    """Store walking sessions, idempotent per (source, external id); mark the patient for an
    evaluation when any is new or changed."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for index, walk in enumerate(sessions):
        if walk["start"] > now + DAY:
            raise field_error(f"sessions.{index}.start", "must not be in the future")
        external_id = walk.get("external_id") or session_key(
            walk["source"], walk["start"], walk["end"]
        )
        key = (walk["source"], external_id)
        if key in rows:
            # PostgreSQL refuses to upsert one row twice in a statement; say so instead.
            raise field_error(f"sessions.{index}", "duplicate session in this request")
        rows[key] = {
            "patient_id": patient_id,
            "source": walk["source"],
            "external_id": external_id,
            "start": walk["start"],
            "end": walk["end"],
            "steps": walk.get("steps"),
            "distance_m": walk.get("distance_m"),
            "created_at": now,
        }
    stored = store_walks(session, list(rows.values()))
    return _noted(session, patient_id, Upserted(len(rows), stored), now)


def _noted(session: Session, patient_id: int, upserted: Upserted, now: dt.datetime) -> Upserted:
    """Mark the patient for an `activity` evaluation if the upload changed anything, and note
    the upload on their profile (last: see `note_upload`; 404, all undone, without one)."""
    if upserted.changed:
        ports.evaluation().after_activity(session, [patient_id], now)
    note_upload(session, patient_id, now)
    return upserted


def date_range(
    first: dt.date | None, last: dt.date | None, today: dt.date, *, default_days: int = 7
) -> list[dt.date]:
    """The local days from `first` to `last` inclusive (422 when reversed or too long)."""
    last = last or today
    first = first or last - (default_days - 1) * DAY
    if first > last:
        raise field_error("from", "must not be after 'to'")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise field_error("from", f"a range spans at most {MAX_DAYS} days")
    return [first + i * DAY for i in range(count)]


def steps_by_day(
    session: Session, patient_ids: list[int] | Select[Any], first: dt.date, last: dt.date
) -> dict[int, dict[dt.date, dict[str, int]]]:
    """Per patient (ids or a select of ids), per day, each source's steps, in one query."""
    rows = session.execute(
        select(
            DailyActivity.patient_id, DailyActivity.date, DailyActivity.source, DailyActivity.steps
        ).where(
            DailyActivity.patient_id.in_(patient_ids),
            DailyActivity.date >= first,
            DailyActivity.date <= last,
        )
    )
    result: dict[int, dict[dt.date, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for patient_id, day, source, steps in rows:
        result[patient_id][day][source] = steps
    return result


def activity_days(
    session: Session, patient_id: int, first: dt.date | None, last: dt.date | None, now: dt.datetime
) -> list[dict[str, Any]]:
    """Each day of the range: effective steps, that day's target, met, per-source steps."""
    profile = get_profile(session, patient_id)
    tz = zoneinfo.ZoneInfo(profile.timezone)
    days = date_range(first, last, now.astimezone(tz).date())
    by_day = steps_by_day(session, [patient_id], days[0], days[-1]).get(patient_id, {})
    targets = targets_by_day(session, patient_id, days, tz)
    result = []
    for day in days:
        sources = dict(by_day.get(day, {}))
        steps = effective_steps(sources, profile.primary_source)
        target = targets[day]
        met = None if steps is None or target is None else steps >= target
        result.append(
            {"date": day, "steps": steps, "target": target, "met": met, "sources": sources}
        )
    return result
