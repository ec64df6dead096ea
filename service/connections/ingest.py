"""Store what providers report: upsert daily totals, walks and intraday counts (idempotent).

Records no day or walk could hold (`service.activity.plausibility`) are not stored: each is kept
in `quarantined_records` as received, counted and logged, and the rest of the batch is stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter
from sqlalchemy import insert
from sqlalchemy.orm import Session

from integrations.wearables import DailyActivity as DayRecord
from integrations.wearables import IntradaySteps as IntradayRecord
from integrations.wearables import WalkingSession as WalkRecord
from service.activity.models import IntradaySteps
from service.activity.plausibility import Implausible, day_problem, session_problem
from service.activity.store import store_days, store_walks
from service.connections.models import QuarantinedRecord
from service.inputs import text_problem
from service.sqlutil import upsert

log = logging.getLogger(__name__)

EXTERNAL_ID_MAX = 128
QUARANTINED = Counter(
    "backstride_quarantined_records_total",
    "Provider records not stored because no day or walk could hold them",
    ["provider", "kind", "reason"],
)


def _as_json(record: DayRecord | WalkRecord | IntradayRecord) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, dt.date) else value
        for key, value in dataclasses.asdict(record).items()
    }


def quarantine(
    session: Session,
    rejected: Sequence[tuple[DayRecord | WalkRecord | IntradayRecord, Implausible]],
    *,
    patient_id: int,
    source: str,
    kind: str,
    now: dt.datetime,
) -> None:
    """Keep implausible records aside (caller commits), count them and log one line each."""
    if not rejected:
        return
    rows = [
        {
            "provider": source,
            "patient_id": patient_id,
            "kind": kind,
            "reason": f"{problem.field}: {problem.message}",
            "record": _as_json(record),
            "received_at": now,
        }
        for record, problem in rejected
    ]
    session.execute(insert(QuarantinedRecord), rows)
    for _record, problem in rejected:
        QUARANTINED.labels(source, kind, problem.code).inc()
        # Ids and the reason only: a record may name the provider's user, never a credential.
        log.warning(
            "quarantined a %s %s record of patient %d: %s: %s",
            source,
            kind,
            patient_id,
            problem.field,
            problem.message,
        )


def _external_id(value: str) -> str:
    """Keep provider ids within the column; long ones (or a NUL) become a stable digest."""
    if len(value) <= EXTERNAL_ID_MAX and text_problem(value) is None:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def upsert_days(
    session: Session, patient_id: int, source: str, days: Sequence[DayRecord], now: dt.datetime
) -> int:
    """Insert or overwrite one row per plausible (patient, date, source); return how many were
    new or changed (a day re-fetched with the values already stored is not written)."""
    rejected = []
    plausible = []
    for day in days:
        problem = day_problem(day.date, day.steps, day.distance_m, day.active_minutes, now)
        if problem:
            rejected.append((day, problem))
        else:
            plausible.append(day)
    quarantine(session, rejected, patient_id=patient_id, source=source, kind="daily", now=now)
    rows = {
        day.date: {
            "patient_id": patient_id,
            "date": day.date,
            "source": source,
            "steps": day.steps,
            "distance_m": day.distance_m,
            "active_minutes": day.active_minutes,
            "updated_at": now,
        }
        for day in plausible
    }
    if not rows:
        return 0
    return store_days(session, list(rows.values()))


def upsert_sessions(
    session: Session,
    patient_id: int,
    source: str,
    walks: Sequence[WalkRecord],
    now: dt.datetime,
) -> int:
    """Insert or update plausible walks keyed by (patient, source, external id); return how many
    were new or changed."""
    rows = {}
    rejected = []
    for walk in walks:
        problem = session_problem(walk.start, walk.end, walk.steps, walk.distance_m, now)
        if problem:
            rejected.append((walk, problem))
            continue
        external_id = _external_id(walk.external_id)
        rows[external_id] = {
            "patient_id": patient_id,
            "source": source,
            "external_id": external_id,
            "start": walk.start,
            "end": walk.end,
            "steps": walk.steps,
            "distance_m": walk.distance_m,
            "created_at": now,
        }
    quarantine(session, rejected, patient_id=patient_id, source=source, kind="session", now=now)
    if not rows:
        return 0
    return store_walks(session, list(rows.values()))


# Faster than a sprint kept up for a whole interval: no wrist counts that.
MAX_STEPS_PER_MINUTE = 250


def _intraday_problem(count: IntradayRecord, now: dt.datetime) -> Implausible | None:
    if not 0 < count.minutes <= 60:
        return Implausible("minutes", "range", "must be 1 to 60")
    if not 0 <= count.steps <= MAX_STEPS_PER_MINUTE * count.minutes:
        return Implausible("steps", "range", f"must be 0 to {MAX_STEPS_PER_MINUTE} a minute")
    if count.start.tzinfo is None or count.start > now + dt.timedelta(days=1):
        return Implausible("start", "future", "must be an aware instant, not in the future")
    return None


def upsert_intraday(
    session: Session,
    patient_id: int,
    source: str,
    counts: Sequence[IntradayRecord],
    now: dt.datetime,
) -> int:
    """Insert or overwrite plausible counts keyed by (patient, source, start); return how many."""
    rows = {}
    rejected = []
    for count in counts:
        problem = _intraday_problem(count, now)
        if problem:
            rejected.append((count, problem))
            continue
        rows[count.start] = {
            "patient_id": patient_id,
            "source": source,
            "start": count.start,
            "minutes": count.minutes,
            "steps": count.steps,
        }
    quarantine(session, rejected, patient_id=patient_id, source=source, kind="intraday", now=now)
    if not rows:
        return 0
    statement = upsert(
        session, IntradaySteps.__table__, ("patient_id", "source", "start"), ("minutes", "steps")
    )
    session.connection().execute(statement, list(rows.values()))
    return len(rows)
