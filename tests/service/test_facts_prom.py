"""Questionnaire facts in SQL equal the reference (`rules.facts_prom`), on both databases."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import reference
from rules.facts_prom import PromScore
from rules.instruments import PEG, score
from service.accounts.models import User
from service.evaluation.facts import compute, load_contexts
from service.extensions import db
from service.patients.models import PatientProfile
from service.questionnaires.models import Questionnaire, QuestionnaireResponse

NOW = dt.datetime(2026, 3, 29, 12, tzinfo=dt.UTC)
_emails = itertools.count()

answers = st.fixed_dictionaries({item.id: st.integers(0, 10) for item in PEG.items})
# (instrument, minutes before now: negative is after now, answers); few distinct minutes, so
# ties on the answered time come up.
responses = st.lists(
    st.tuples(
        st.sampled_from(["peg", "peg", "peg", "sleep-check"]),
        st.sampled_from([-60, 0, 1, 60, 1440, 1441, 40320, 80640]),
        answers,
    ),
    max_size=7,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=responses)
def test_it_computes_the_reference_prom_facts_in_sql(
    app: Flask, case: list[tuple[str, int, dict[str, int]]]
) -> None:
    session = db.session()
    try:
        user = User(email=f"prom{next(_emails)}@example.org", password_hash="x", role="patient")
        session.add(user)
        session.flush()
        enrolled = NOW - dt.timedelta(days=90)
        session.add(PatientProfile(user_id=user.id, timezone="UTC", enrolled_at=enrolled))
        history = reference.History(timezone="UTC", enrolled_at=enrolled, has_clinic=False)
        for instrument, minutes, given_answers in case:
            at = NOW - dt.timedelta(minutes=minutes)
            value = score(PEG, given_answers)
            asked = Questionnaire(
                patient_id=user.id, instrument=instrument, status="answered", created_at=at
            )
            session.add(asked)
            session.flush()
            session.add(
                QuestionnaireResponse(
                    questionnaire_id=asked.id,
                    patient_id=user.id,
                    instrument=instrument,
                    answers=given_answers,
                    score=value,
                    answered_at=at,
                )
            )
            session.flush()  # ids in list order: the reference's "stored" order
            history.prom.append(PromScore(instrument, at, value))
        facts, _ = compute(session, load_contexts(session, [user.id]).values(), NOW)[user.id]
        assert facts == reference.compute_facts(history, NOW)
        expected = [s.score for s in history.prom if s.instrument == "peg" and s.at <= NOW]
        if expected:  # the property is not vacuous: a PEG answered by now is the latest fact
            assert facts["prom.peg.latest"] in expected
    finally:
        session.rollback()


def test_a_batch_gets_each_patients_own_scores(app: Flask) -> None:
    session = db.session()
    ids: list[int] = []
    scores: list[Any] = []
    for number in range(5):
        user = User(email=f"prombatch{number}@example.org", password_hash="x", role="patient")
        session.add(user)
        session.flush()
        session.add(PatientProfile(user_id=user.id, timezone="UTC", enrolled_at=NOW))
        for weeks, value in ((8, 7.0), (4, 6.3), (0, 4.0 + number)):
            asked = Questionnaire(patient_id=user.id, instrument="peg", status="answered")
            session.add(asked)
            session.flush()
            session.add(
                QuestionnaireResponse(
                    questionnaire_id=asked.id,
                    patient_id=user.id,
                    instrument="peg",
                    answers={"pain": 1, "enjoyment": 1, "activity": 1},
                    score=value,
                    answered_at=NOW - dt.timedelta(weeks=weeks, minutes=1),
                )
            )
        ids.append(user.id)
    session.flush()
    computed = compute(session, load_contexts(session, ids).values(), NOW)
    for number, pid in enumerate(ids):
        facts = computed[pid][0]
        scores.append((facts["prom.peg.latest"], facts["prom.peg.change"]))
        assert facts["prom.peg.latest"] == 4.0 + number
        assert facts["prom.peg.change"] == round(4.0 + number - 7.0, 1)
    assert len(scores) == 5
    session.rollback()
