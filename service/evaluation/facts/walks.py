"""Walk facts (`walks.*`): the minutes of each walk started in the last seven local days."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.activity.models import WalkingSession
from service.evaluation.derive import LoadedPatient
from service.sqlutil import among, chunks, rows


def load(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Fill each patient's walk durations (minutes) since their window's first local day."""
    lo = min(p.cal.event_lo for p in patients.values())
    for chunk in chunks(session, ids):
        walks = rows(
            session,
            select(WalkingSession.patient_id, WalkingSession.start, WalkingSession.end)
            .where(
                among(session, WalkingSession.patient_id, chunk),
                WalkingSession.start.between(lo, now),
            )
            .order_by(WalkingSession.patient_id, WalkingSession.start, WalkingSession.id),
        )
        for pid, start, end in walks:
            patient = patients[pid]
            if start >= patient.cal.event_lo:
                patient.walks.append((end - start).total_seconds() / 60)
