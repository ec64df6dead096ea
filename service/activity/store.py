"""The writes of activity rows, shared by the phone's uploads and the wearable syncs.

Real upserts, so concurrent uploads of the same day or walk cannot both insert, executed with
the rows as parameters (executemany) of a statement built once per dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from service.activity.models import DailyActivity, WalkingSession
from service.sqlutil import upsert

_DAY_KEYS = ("patient_id", "date", "source")
_DAY_VALUES = ("steps", "distance_m", "active_minutes", "updated_at")
_WALK_KEYS = ("patient_id", "source", "external_id")
_WALK_VALUES = ("start", "end", "steps", "distance_m")


def store_days(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update daily totals per (patient, date, source)."""
    statement = upsert(session, DailyActivity.__table__, _DAY_KEYS, _DAY_VALUES)
    session.connection().execute(statement, list(rows))


def store_walks(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update walks per (patient, source, external id)."""
    statement = upsert(session, WalkingSession.__table__, _WALK_KEYS, _WALK_VALUES)
    session.connection().execute(statement, list(rows))
