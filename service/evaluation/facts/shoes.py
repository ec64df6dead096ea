"""Shoe facts (`shoes.km`): the effective day's distance summed since the shoes changed."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.activity.models import DailyActivity
from service.evaluation.derive import LoadedPatient
from service.patients.models import PatientProfile
from service.sqlutil import among, byte_collation, chunks, rows


def load(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Sum the effective day's distance since the shoes changed, in SQL (it can span years)."""
    wanted = [p for p in patients.values() if p.ctx.shoes_changed_on is not None]
    by_today: dict[dt.date, list[int]] = defaultdict(list)
    for patient in wanted:
        by_today[patient.cal.today].append(patient.ctx.patient_id)
    # Sources are compared byte-wise on both backends, as Python compares them.
    collation = byte_collation(session)
    for today, group in by_today.items():
        for chunk in chunks(session, group):
            is_primary = DailyActivity.source == PatientProfile.primary_source
            rank = (
                func.row_number()
                .over(
                    partition_by=(DailyActivity.patient_id, DailyActivity.date),
                    order_by=(
                        func.coalesce(is_primary, False).desc(),
                        DailyActivity.steps.desc(),
                        DailyActivity.source.collate(collation).desc(),
                    ),
                )
                .label("rank")
            )
            ranked = (
                select(
                    DailyActivity.patient_id.label("pid"),
                    func.coalesce(DailyActivity.distance_m, 0.0).label("metres"),
                    rank,
                )
                .join(PatientProfile, PatientProfile.user_id == DailyActivity.patient_id)
                .where(
                    among(session, DailyActivity.patient_id, chunk),
                    DailyActivity.date >= PatientProfile.shoes_changed_on,
                    DailyActivity.date <= today,
                )
                .subquery()
            )
            found = rows(
                session,
                select(ranked.c.pid, func.sum(ranked.c.metres))
                .where(ranked.c.rank == 1)
                .group_by(ranked.c.pid),
            )
            for pid, metres in found:
                patients[pid].shoes_m = float(metres or 0.0)
