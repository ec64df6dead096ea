"""Engagement facts for a batch at one moment (SPEC §11.3): check-ins left unanswered and
the last one, the share of rated tips found helpful, and the exercises logged this week.

Definitions in `rules.facts_personal`, reference in `rules.reference_personal`; one query per
chunk of patients for each fact, never one per patient.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from rules.facts_personal import FEEDBACK_DAYS
from rules.reference_personal import CHECKIN, exercise_name, helpful_rate
from service.evaluation.derive import LoadedPatient
from service.reports.models import ExerciseSession, PainReport
from service.sqlutil import among, chunks
from service.tips.models import Tip


def load(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Fill each patient's `personal` facts with check-ins, tip feedback and exercise names."""
    connection = session.connection()
    since = now - dt.timedelta(days=FEEDBACK_DAYS)
    event_lo = min(patients[pid].cal.event_lo for pid in ids)
    names: dict[int, set[str]] = defaultdict(set)
    for chunk in chunks(session, ids):
        answered = (
            select(PainReport.patient_id, func.max(PainReport.recorded_at).label("at"))
            .where(among(session, PainReport.patient_id, chunk), PainReport.recorded_at <= now)
            .group_by(PainReport.patient_id)
            .subquery()
        )
        unanswered: Any = (
            select(Tip.patient_id, func.count())
            .outerjoin(answered, answered.c.patient_id == Tip.patient_id)
            .where(
                among(session, Tip.patient_id, chunk),
                Tip.category == CHECKIN,
                Tip.created_at <= now,
                (answered.c.at.is_(None)) | (Tip.created_at > answered.c.at),
            )
            .group_by(Tip.patient_id)
        )
        for pid, count in connection.execute(unanswered):
            patients[pid].personal["checkins.unanswered"] = count
        asked = (
            select(Tip.patient_id, func.max(Tip.created_at))
            .where(
                among(session, Tip.patient_id, chunk),
                Tip.category == CHECKIN,
                Tip.created_at <= now,
            )
            .group_by(Tip.patient_id)
        )
        for pid, at in connection.execute(asked):
            cal = patients[pid].cal
            patients[pid].personal["checkins.days_since"] = (cal.today - cal.local_date(at)).days
        helpful = func.sum(case((Tip.helpful.is_(True), 1), else_=0))
        rated = (
            select(Tip.patient_id, helpful, func.count())
            .where(
                among(session, Tip.patient_id, chunk),
                Tip.created_at > since,
                Tip.created_at <= now,
                Tip.helpful.is_not(None),
                Tip.feedback_at <= now,
            )
            .group_by(Tip.patient_id)
        )
        for pid, yes, count in connection.execute(rated):
            patients[pid].personal["tips.helpful_rate_28d"] = helpful_rate(
                [True] * int(yes) + [False] * (int(count) - int(yes))
            )
        exercise = select(
            ExerciseSession.patient_id, ExerciseSession.performed_at, ExerciseSession.name
        ).where(
            among(session, ExerciseSession.patient_id, chunk),
            ExerciseSession.performed_at.between(event_lo, now),
        )
        for pid, at, name in connection.execute(exercise):
            if at >= patients[pid].cal.event_lo:
                names[pid].add(exercise_name(name))
    for pid, found in names.items():
        patients[pid].personal["exercise.kinds_7d"] = frozenset(found)
