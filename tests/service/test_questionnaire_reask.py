"""A repeated ask: a recent questionnaire still waiting is kept, a stale one is replaced."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select

from rules import Decision
from rules.asks import Ask
from service.errors import Conflict
from service.extensions import db
from service.questionnaires import service
from service.questionnaires.models import Questionnaire
from tests.support.factories import make_patient

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def now() -> dt.datetime:
    """The patient is enrolled and asked on this module's clock."""
    return NOW


def _ask_peg(patient_id: int, at: dt.datetime) -> int:
    decision = Decision("default", "schedule", at, {})
    decision.asks.append(Ask("peg-checkin", "peg"))
    with db.transaction() as session:
        return service.record_asks(session, [(patient_id, None, decision)], at)


def _statuses(patient_id: int) -> list[tuple[str, dt.datetime]]:
    rows = db.session().execute(
        select(Questionnaire.status, Questionnaire.created_at)
        .where(Questionnaire.patient_id == patient_id)
        .order_by(Questionnaire.id)
    )
    return [(status, created.replace(tzinfo=dt.UTC)) for status, created in rows]


def test_a_stale_questionnaire_is_replaced_and_a_recent_one_kept(app: Flask) -> None:
    patient = make_patient(None, email="asked@example.org", enrolled_at=NOW)
    db.session().commit()

    assert _ask_peg(patient.id, NOW) == 1
    # Asked again within the week: the waiting one stands, nothing new.
    assert _ask_peg(patient.id, NOW + dt.timedelta(days=6, hours=23)) == 0
    assert _statuses(patient.id) == [("pending", NOW)]

    # Four weeks on, unanswered: that one asks about a week long past, so it is replaced.
    later = NOW + dt.timedelta(days=28)
    assert _ask_peg(patient.id, later) == 1
    assert _statuses(patient.id) == [("expired", NOW), ("pending", later)]
    (waiting,) = service.pending(db.session(), patient.id)
    assert waiting["sent_at"].replace(tzinfo=dt.UTC) == later

    old_id = (
        db.session()
        .scalars(select(Questionnaire.id).where(Questionnaire.status == "expired"))
        .one()
    )
    with pytest.raises(Conflict, match="replaced by a newer one"):
        service.answer(
            db.session(), patient.id, old_id, {"pain": 3, "enjoyment": 3, "activity": 3}, later
        )
