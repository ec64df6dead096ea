"""Questionnaire use cases: sent by a rule's `ask`, listed for the patient, answered once.

`record_asks` runs inside the evaluation transaction (`service.evaluation.service`): each
`rules.asks.Ask` of a decision becomes a pending questionnaire, unless one for that instrument
has been waiting less than `REASK_AFTER` (a partial unique index keeps it to one, even against a
racing evaluation). One left unanswered longer is expired and replaced, so each round of a
repeated measure (the PEG every four weeks) has its own questionnaire and its own date.
The inbox note telling the patient about it is one of the decision's tips, written with the
others. Answers are checked item by item (every item, whole numbers in range), scored
(`rules.instruments.score`) and stored; the score is then a fact (`prom.<id>.latest`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rules import Decision
from rules.instruments import answer_problems, score
from service import bulk
from service.errors import Conflict, Invalid, NotFound
from service.patients.models import PatientProfile
from service.questionnaires.instruments import find, view
from service.questionnaires.models import Questionnaire, QuestionnaireResponse
from service.sqlutil import among, chunks

COLUMNS = ("patient_id", "instrument", "rule_id", "evaluation_id", "status", "created_at")
# Longer than a PEG's one-week recall: a questionnaire this old asks about a week long gone, so a
# new ask replaces it rather than leaving the patient to answer the stale one.
REASK_AFTER = dt.timedelta(days=7)


def record_asks(
    session: Session, decided: Iterable[tuple[int, int | None, Decision]], now: dt.datetime
) -> int:
    """Create the questionnaires these decisions ask for; return how many were created."""
    wanted: dict[tuple[int, str], tuple[Any, ...]] = {}
    for patient_id, evaluation_id, decision in decided:
        for ask in decision.asks:
            key = (patient_id, ask.instrument)
            wanted.setdefault(
                key, (patient_id, ask.instrument, ask.rule_id, evaluation_id, "pending", now)
            )
    if not wanted:
        return 0
    waiting: set[tuple[int, str]] = set()
    stale: list[int] = []
    patients = sorted({pid for pid, _ in wanted})
    for chunk in chunks(session, patients):
        found = session.execute(
            select(
                Questionnaire.id,
                Questionnaire.patient_id,
                Questionnaire.instrument,
                Questionnaire.created_at,
            ).where(
                among(session, Questionnaire.patient_id, chunk),
                Questionnaire.status == "pending",
            )
        )
        for qid, pid, instrument, sent_at in found:
            if (pid, instrument) not in wanted:
                continue
            if sent_at <= now - REASK_AFTER:
                stale.append(qid)
            else:
                waiting.add((pid, instrument))
    for ids in chunks(session, stale):
        session.execute(
            update(Questionnaire)
            .where(Questionnaire.id.in_(ids), Questionnaire.status == "pending")
            .values(status="expired")
            .execution_options(synchronize_session=False)
        )
    rows = [row for key, row in sorted(wanted.items()) if key not in waiting]
    created = bulk.insert_unless_taken(session, Questionnaire, COLUMNS, rows)
    return sum(1 for made in created if made is not None)


def pending(session: Session, patient_id: int) -> list[dict[str, Any]]:
    """The patient's questionnaires waiting for an answer, oldest first, with their items."""
    clinic_id = session.scalar(
        select(PatientProfile.clinic_id).where(PatientProfile.user_id == patient_id)
    )
    found = session.scalars(
        select(Questionnaire)
        .where(Questionnaire.patient_id == patient_id, Questionnaire.status == "pending")
        .order_by(Questionnaire.created_at, Questionnaire.id)
    )
    out = []
    for questionnaire in found:
        instrument = find(session, clinic_id, questionnaire.instrument)
        if instrument is None:  # an instrument the clinic no longer has: nothing to show
            continue
        out.append(
            {
                "id": questionnaire.id,
                "sent_at": questionnaire.created_at,
                "instrument": view(instrument),
            }
        )
    return out


def answer(
    session: Session,
    patient_id: int,
    questionnaire_id: int,
    answers: Mapping[str, object],
    now: dt.datetime,
) -> dict[str, Any]:
    """Store the patient's answers to their questionnaire and its score (409 if answered)."""
    questionnaire = session.scalar(
        select(Questionnaire)
        .where(Questionnaire.id == questionnaire_id, Questionnaire.patient_id == patient_id)
        .with_for_update()
    )
    if questionnaire is None:
        raise NotFound("no such questionnaire")
    if questionnaire.status == "expired":
        raise Conflict("this questionnaire was replaced by a newer one; please answer that one")
    if questionnaire.status != "pending":
        raise Conflict(f"this questionnaire is {questionnaire.status} already")
    clinic_id = session.scalar(
        select(PatientProfile.clinic_id).where(PatientProfile.user_id == patient_id)
    )
    instrument = find(session, clinic_id, questionnaire.instrument)
    if instrument is None:
        raise NotFound("this questionnaire is no longer available")
    problems = answer_problems(instrument, answers)
    if problems:
        errors = [
            {"field": f"answers.{item}", "message": message} for item, message in problems.items()
        ]
        first = errors[0]
        raise Invalid(f"{first['field']}: {first['message']}", errors=errors)
    given = {item.id: cast(int, answers[item.id]) for item in instrument.items}
    value = score(instrument, given)
    response = QuestionnaireResponse(
        questionnaire_id=questionnaire.id,
        patient_id=patient_id,
        instrument=instrument.id,
        answers=given,
        score=value,
        answered_at=now,
    )
    questionnaire.status = "answered"
    questionnaire.answered_at = now
    session.add(response)
    session.flush()
    return {
        "id": response.id,
        "questionnaire_id": questionnaire.id,
        "instrument": instrument.id,
        "score": value,
        "answered_at": now,
    }


def scores(session: Session, patient_id: int) -> list[dict[str, Any]]:
    """Every scored response of the patient, oldest first (the console and clinician API)."""
    found = session.execute(
        select(
            QuestionnaireResponse.id,
            QuestionnaireResponse.instrument,
            QuestionnaireResponse.score,
            QuestionnaireResponse.answered_at,
            QuestionnaireResponse.answers,
        )
        .where(QuestionnaireResponse.patient_id == patient_id)
        .order_by(QuestionnaireResponse.answered_at, QuestionnaireResponse.id)
    )
    return [
        {"id": rid, "instrument": instrument, "score": value, "answered_at": at, "answers": given}
        for rid, instrument, value, at, given in found
    ]


def score_table(session: Session, patient_id: int, clinic_id: int | None) -> list[dict[str, Any]]:
    """The patient's scores over time for the console: title, score, change from the first."""
    firsts: dict[str, float] = {}
    titles: dict[str, str] = {}
    out = []
    for row in scores(session, patient_id):
        instrument = row["instrument"]
        if instrument not in titles:
            found = find(session, clinic_id, instrument)
            titles[instrument] = found.title if found is not None else instrument
        is_first = instrument not in firsts
        first = firsts.setdefault(instrument, row["score"])
        change = round(row["score"] - first, 1)
        out.append({**row, "title": titles[instrument], "change": change, "first": is_first})
    return out
