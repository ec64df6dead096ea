"""The writes of activity rows, shared by the phone's uploads and the wearable syncs.

Real upserts, so concurrent uploads of the same day or walk cannot both insert, each batch of
rows as one multi-row statement (`service.sqlutil.upsert_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from service.activity.models import DailyActivity, WalkingSession
from service.sqlutil import upsert_rows

_DAY_KEYS = ("patient_id", "date", "source")
_DAY_VALUES = ("steps", "distance_m", "active_minutes", "updated_at")
_WALK_KEYS = ("patient_id", "source", "external_id")
_WALK_VALUES = ("start", "end", "steps", "distance_m")


def store_days(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update daily totals per (patient, date, source)."""
    upsert_rows(session, DailyActivity.__table__, _DAY_KEYS, _DAY_VALUES, rows)


def store_walks(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update walks per (patient, source, external id)."""
    upsert_rows(session, WalkingSession.__table__, _WALK_KEYS, _WALK_VALUES, rows)
