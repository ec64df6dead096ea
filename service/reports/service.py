"""Report use cases: pain and exercise, each evaluated at once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from service import ports
from service.errors import field_error
from service.patients.service import get_profile
from service.reports.models import ExerciseSession, PainReport
from service.tips.models import WrittenTip

# Phones' clocks drift; a report a few minutes "in the future" is still today's report.
CLOCK_SKEW = dt.timedelta(minutes=5)
OLDEST = dt.timedelta(days=30)


def _when(value: dt.datetime | None, field: str, now: dt.datetime) -> dt.datetime:
    if value is None:
        return now
    if value > now + CLOCK_SKEW:
        raise field_error(field, "must not be in the future")
    if value < now - OLDEST:
        raise field_error(field, "must be within the last 30 days")
    return value


def report_pain(
    session: Session, patient_id: int, body: dict[str, Any], now: dt.datetime
) -> tuple[PainReport, list[WrittenTip]]:
    """Store a pain report and evaluate the rules at once (same transaction)."""
    get_profile(session, patient_id)
    report = PainReport(
        patient_id=patient_id,
        score=body["score"],
        recorded_at=_when(body.get("recorded_at"), "recorded_at", now),
        location=body.get("location"),
        red_flags=sorted(set(body.get("red_flags") or [])),
        note=body.get("note"),
        created_at=now,
    )
    session.add(report)
    session.flush()
    tips = ports.evaluation().after_pain_report(session, patient_id, now)
    session.flush()
    return report, tips


def report_exercise(
    session: Session, patient_id: int, body: dict[str, Any], now: dt.datetime
) -> tuple[ExerciseSession, list[WrittenTip]]:
    """Store an exercise session and evaluate the rules (same transaction)."""
    get_profile(session, patient_id)
    exercise = ExerciseSession(
        patient_id=patient_id,
        kind=body["kind"],
        name=body["name"].strip() or body["name"],
        sets=body.get("sets"),
        reps=body.get("reps"),
        duration_s=body.get("duration_s"),
        performed_at=_when(body.get("performed_at"), "performed_at", now),
        created_at=now,
    )
    session.add(exercise)
    session.flush()
    tips = ports.evaluation().after_exercise_report(session, patient_id, now)
    session.flush()
    return exercise, tips
