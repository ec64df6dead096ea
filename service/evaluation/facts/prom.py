"""Questionnaire facts (`prom.<instrument>.latest` and `.change`) for a batch of patients.

`rules.facts_prom.prom_facts` defines them: the latest score answered at or before `now` and
its difference from the first, per built-in instrument. One query per chunk of patients: window
functions pick each (patient, instrument)'s first and latest score in SQL (ties by id, the
order stored), so only one row per patient and instrument comes back, however many
questionnaires a patient has answered.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rules.instruments import BUILTIN
from service.evaluation.derive import LoadedPatient
from service.questionnaires.models import QuestionnaireResponse as Response
from service.sqlutil import among, chunks, rows

NAMES = {i: (f"prom.{i}.latest", f"prom.{i}.change") for i in BUILTIN}


def load(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Give the patients who answered a questionnaire their prom facts at `now`."""
    partition = (Response.patient_id, Response.instrument)
    first = func.first_value(Response.score).over(
        partition_by=partition, order_by=(Response.answered_at, Response.id)
    )
    latest = func.first_value(Response.score).over(
        partition_by=partition, order_by=(Response.answered_at.desc(), Response.id.desc())
    )
    count = func.count().over(partition_by=partition)
    for chunk in chunks(session, ids):
        inner = (
            select(Response.patient_id, Response.instrument, first, latest, count)
            .where(
                among(session, Response.patient_id, chunk),
                Response.instrument.in_(sorted(BUILTIN)),
                Response.answered_at <= now,
            )
            .subquery()
        )
        for pid, instrument, first_score, latest_score, n in rows(
            session, select(inner).distinct()
        ):
            latest_name, change_name = NAMES[instrument]
            patient = patients[pid]
            facts = patient.prom = dict(patient.prom)
            facts[latest_name] = latest_score
            facts[change_name] = round(latest_score - first_score, 1) if n >= 2 else None
