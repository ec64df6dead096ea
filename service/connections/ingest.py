"""Store what providers report: upsert daily totals and walks (idempotent per dialect)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from sqlalchemy.orm import Session

from integrations.wearables import DailyActivity as DayRecord
from integrations.wearables import WalkingSession as WalkRecord
from service.activity.models import DailyActivity, WalkingSession
from service.sqlutil import insert_for

EXTERNAL_ID_MAX = 128


def _external_id(value: str) -> str:
    """Keep provider ids within the column; long ones become a stable digest."""
    if len(value) <= EXTERNAL_ID_MAX:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def upsert_days(
    session: Session, patient_id: int, source: str, days: Sequence[DayRecord], now: dt.datetime
) -> int:
    """Insert or overwrite one row per (patient, date, source); return how many rows."""
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
        for day in days
    }
    if not rows:
        return 0
    # One Core statement executed for many rows: compiled once and cached across syncs, and
    # without ORM bookkeeping (this runs for every sync).
    stmt = insert_for(session, DailyActivity.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["patient_id", "date", "source"],
        set_={
            "steps": stmt.excluded.steps,
            "distance_m": stmt.excluded.distance_m,
            "active_minutes": stmt.excluded.active_minutes,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    session.execute(stmt, list(rows.values()))
    return len(rows)


def upsert_sessions(
    session: Session,
    patient_id: int,
    source: str,
    walks: Sequence[WalkRecord],
    now: dt.datetime,
) -> int:
    """Insert or update walks keyed by (patient, source, external id); return how many rows."""
    rows = {}
    for walk in walks:
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
    if not rows:
        return 0
    stmt = insert_for(session, WalkingSession.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["patient_id", "source", "external_id"],
        set_={
            "start": stmt.excluded.start,
            "end": stmt.excluded.end,
            "steps": stmt.excluded.steps,
            "distance_m": stmt.excluded.distance_m,
        },
    )
    session.execute(stmt, list(rows.values()))
    return len(rows)
