"""The writes of activity rows, shared by the phone's uploads and the wearable syncs.

Real upserts, so concurrent uploads of the same day or walk cannot both insert, each batch of
rows as one multi-row statement (`service.sqlutil.upsert_rows`). A row re-sent with the values
already stored is left alone, so each write says how many rows are new or changed: a sync or an
upload that brought nothing new need not cost the patient an evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from service.activity.models import DailyActivity, WalkingSession
from service.sqlutil import upsert_rows

_DAY_KEYS = ("patient_id", "date", "source")
_DAY_MEASURES = ("steps", "distance_m", "active_minutes")
_DAY_VALUES = (*_DAY_MEASURES, "updated_at")  # updated_at: when the values last changed
_WALK_KEYS = ("patient_id", "source", "external_id")
_WALK_VALUES = ("start", "end", "steps", "distance_m")


def store_days(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or update daily totals per (patient, date, source); return how many changed."""
    table = DailyActivity.__table__
    return upsert_rows(session, table, _DAY_KEYS, _DAY_VALUES, rows, compared=_DAY_MEASURES)


def store_walks(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or update walks per (patient, source, external id); return how many changed."""
    table = WalkingSession.__table__
    return upsert_rows(session, table, _WALK_KEYS, _WALK_VALUES, rows, compared=_WALK_VALUES)
