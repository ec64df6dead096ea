"""The default rule set asks the PEG at enrolment and every four weeks; the answer is scored, a
fact for the next evaluation, and a row of the console's patient page."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import select

from service.evaluation.models import Evaluation
from service.evaluation.population import evaluate_due
from service.extensions import db
from service.patients.models import PatientProfile
from service.questionnaires.models import Questionnaire
from service.tips.models import Tip
from tests.support.console import signed_in
from tests.support.factories import Seed


def _due(patient_id: int, at: dt.datetime) -> None:
    with db.transaction() as session:
        profile = session.get(PatientProfile, patient_id)
        assert profile is not None
        profile.next_decision_at = at - dt.timedelta(minutes=1)


def test_the_peg_goes_out_at_enrolment_and_its_score_reaches_the_console(
    app: Flask, seed: Seed, now: dt.datetime
) -> None:
    _due(seed.patient_a, now)
    evaluate_due(now)
    asked = db.session.scalars(
        select(Questionnaire).where(Questionnaire.patient_id == seed.patient_a)
    ).all()
    assert [(q.instrument, q.status, q.rule_id) for q in asked] == [
        ("peg", "pending", "peg-checkin")
    ]
    note = db.session.scalar(
        select(Tip).where(Tip.patient_id == seed.patient_a, Tip.tip_key == "ask-peg")
    )
    assert note is not None
    assert (note.category, note.asks) == ("checkin", "questionnaire")
    assert "four weeks" in note.why
    actions = db.session.scalar(
        select(Evaluation.actions).where(Evaluation.patient_id == seed.patient_a)
    )
    assert actions["asks"] == [{"rule_id": "peg-checkin", "instrument": "peg"}]

    # The next decision time the same week asks nothing more (cooldown, and one is waiting).
    _due(seed.patient_a, now + dt.timedelta(hours=7))
    evaluate_due(now + dt.timedelta(hours=7))
    again = select(Questionnaire).where(Questionnaire.patient_id == seed.patient_a)
    assert len(db.session.scalars(again).all()) == 1

    api = app.test_client()
    pending = api.get("/v1/me/questionnaires", headers=seed.headers("patient_a")).json["items"]
    answered = api.post(
        f"/v1/me/questionnaires/{pending[0]['id']}/responses",
        json={"answers": {"pain": 6, "enjoyment": 4, "activity": 5}},
        headers=seed.headers("patient_a"),
    )
    assert answered.status_code == 201, answered.json
    assert answered.json["score"] == 5.0
    report = api.post("/v1/me/pain", json={"score": 4}, headers=seed.headers("patient_a"))
    assert report.status_code == 201

    page = signed_in(app, seed.clinician).get(f"/console/patients/{seed.patient_a}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Questionnaire scores" in html
    assert "PEG: pain, enjoyment and activity" in html
    assert "<td>5.0</td>" in html
    other = signed_in(app, seed.clinician).get(f"/console/patients/{seed.patient_b}")
    assert "No questionnaire answered yet" in other.get_data(as_text=True)
