"""Plan facts (`target.*`, progression holds): the target history and any hold."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.evaluation.derive import LoadedPatient
from service.plans.models import Plan, PlanChange
from service.sqlutil import among, chunks, rows


def load(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Fill each patient's target changes up to `now` and their progression hold."""
    for chunk in chunks(session, ids):
        changes = rows(
            session,
            select(PlanChange.patient_id, PlanChange.effective_at, PlanChange.target)
            .where(among(session, PlanChange.patient_id, chunk), PlanChange.effective_at <= now)
            .order_by(PlanChange.patient_id, PlanChange.effective_at, PlanChange.id),
        )
        for pid, effective, target in changes:
            patients[pid].plan.append((effective, target))
        held = rows(
            session,
            select(Plan.patient_id, Plan.progression_held_until).where(
                among(session, Plan.patient_id, chunk), Plan.progression_held_until.is_not(None)
            ),
        )
        for pid, until in held:
            patients[pid].held_until = until
