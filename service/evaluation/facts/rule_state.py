"""Rule state: when each rule last fired (cooldowns) and each tip's last variant (rotation)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.evaluation.derive import LoadedPatient
from service.evaluation.models import RuleFiring
from service.sqlutil import among, chunks, rows


def load(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Fill each patient's rule state from their RuleFiring row."""
    for chunk in chunks(session, ids):
        firings = rows(
            session,
            select(RuleFiring.patient_id, RuleFiring.last_fired, RuleFiring.last_variant).where(
                among(session, RuleFiring.patient_id, chunk)
            ),
        )
        for pid, fired, variants in firings:
            patient = patients[pid]
            patient.fired, patient.variants = fired or {}, variants or {}
