"""Exercise facts (`exercise.*`): the window's sessions by kind and the last strength session."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.evaluation.derive import LoadedPatient
from service.reports.models import ExerciseSession
from service.sqlutil import among, chunks, rows


def load(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Fill each patient's exercise kinds of the last seven local days and last strength time."""
    lo = min(p.cal.event_lo for p in patients.values())
    for chunk in chunks(session, ids):
        exercise = rows(
            session,
            select(
                ExerciseSession.patient_id, ExerciseSession.kind, ExerciseSession.performed_at
            ).where(
                among(session, ExerciseSession.patient_id, chunk),
                ExerciseSession.performed_at.between(lo, now),
            ),
        )
        for pid, kind, at in exercise:
            patient = patients[pid]
            if at >= patient.cal.event_lo:
                patient.exercise.append(kind)
        strength = rows(
            session,
            select(ExerciseSession.patient_id, func.max(ExerciseSession.performed_at))
            .where(
                among(session, ExerciseSession.patient_id, chunk),
                ExerciseSession.kind == "strength",
                ExerciseSession.performed_at <= now,
            )
            .group_by(ExerciseSession.patient_id),
        )
        for pid, at in strength:
            patients[pid].last_strength = at
