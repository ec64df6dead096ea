"""Entry points other packages call when new data arrives (owned by the evaluation pipeline).

PLACEHOLDER until the evaluation pipeline lands: the bodies below are replaced by real
evaluation. Signatures are the contract.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from service.tips.models import Tip


def after_pain_report(session: Session, patient_id: int, now: dt.datetime) -> list[Tip]:
    """Evaluate at once after a pain report; return the tips it created (same transaction)."""
    return []


def after_exercise_report(session: Session, patient_id: int, now: dt.datetime) -> list[Tip]:
    """Evaluate after an exercise report; return the tips it created (same transaction)."""
    return []


def after_activity(session: Session, patient_ids: list[int], now: dt.datetime) -> None:
    """Note that new activity arrived (evaluation may be deferred to a job)."""
