"""Tip facts (`tips.today`): how many rule tips the patient got since their local midnight."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.evaluation.derive import LoadedPatient
from service.sqlutil import among, chunks, rows
from service.tips.models import CLINICIAN_CATEGORY, Tip


def load(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Count each patient's tips created today (local), clinicians' messages left out."""
    lo = min(p.cal.day_lo for p in patients.values())
    for chunk in chunks(session, ids):
        tips = rows(
            session,
            select(Tip.patient_id, Tip.created_at).where(
                among(session, Tip.patient_id, chunk),
                Tip.created_at.between(lo, now),
                Tip.category != CLINICIAN_CATEGORY,
            ),
        )
        for pid, at in tips:
            patient = patients[pid]
            if at >= patient.cal.day_lo:
                patient.tips_today += 1
