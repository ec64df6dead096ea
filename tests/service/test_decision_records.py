"""Randomised rules in the pipeline: every decision recorded with P, replays that reproduce."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from service.accounts.models import Clinic
from service.evaluation import service
from service.evaluation.models import Evaluation
from service.evaluation.record import rederive
from service.extensions import db
from service.outcomes.models import DecisionRecord
from service.rulesets.compiled import compiled_versions
from service.tips.models import Tip
from tests.support.factories import Seed
from tests.support.outcomes import follow, mrt_ruleset

NOW = dt.datetime(2026, 11, 27, 16, 0, tzinfo=dt.UTC)


@pytest.fixture
def now() -> dt.datetime:
    """The named users are enrolled on this module's clock."""
    return NOW


def _follow_mrt(seed: Seed) -> None:
    with db.transaction():
        clinic = db.session.get(Clinic, seed.clinic_id)
        assert clinic is not None
        ruleset_id = mrt_ruleset(clinic.id)
        follow(seed.patient_a, ruleset_id)
        follow(seed.patient_b, ruleset_id)


def test_it_records_each_randomised_rule_with_its_probability(seed: Seed) -> None:
    _follow_mrt(seed)
    records: list[DecisionRecord] = []
    for day in range(6):
        at = NOW + dt.timedelta(days=day)
        with db.transaction() as session:
            service.evaluate(session, [seed.patient_a, seed.patient_b], "schedule", at)
    records = list(db.session.scalars(select(DecisionRecord).order_by(DecisionRecord.id)))
    assert len(records) == 6 * 2 * 2  # days x patients x randomised rules
    assert {r.probability for r in records} == {0.5}
    assert {r.outcome for r in records} == {"fired", "randomised_out"}
    assert {r.ruleset for r in records} == {"mrt-walk"}
    tips = {(t.evaluation_id, t.rule_id) for t in db.session.scalars(select(Tip))}
    for record in records:
        assert record.draw is not None
        assert (record.outcome == "fired") == (record.draw < 0.5)
        # A fired record has its tip; a randomised-out one has none.
        assert ((record.evaluation_id, record.rule_id) in tips) == (record.outcome == "fired")
        assert record.steps_60m is None
        assert record.outcomes_at is None


def test_it_records_quiet_hours_as_ineligible(seed: Seed) -> None:
    _follow_mrt(seed)
    late = NOW.replace(hour=22)
    with db.transaction() as session:
        service.evaluate(session, [seed.patient_a], "schedule", late)
    records = list(db.session.scalars(select(DecisionRecord)))
    assert len(records) == 2
    assert {r.outcome for r in records} == {"ineligible"}
    assert all("quiet hours" in r.reason and r.draw is None for r in records)
    assert db.session.scalars(select(Tip)).all() == []


def test_it_re_derives_a_randomised_decision(seed: Seed) -> None:
    _follow_mrt(seed)
    with db.transaction() as session:
        outcome = service.evaluate_one(session, seed.patient_a, "schedule", NOW)
    evaluation = db.session.get(Evaluation, outcome.evaluation_id)
    assert evaluation is not None
    assert evaluation.decision["state"]["seed"] == str(seed.patient_a)
    assert len(evaluation.decision["randomized"]) == 2
    version = compiled_versions(db.session, [evaluation.ruleset_version_id])[
        evaluation.ruleset_version_id
    ]
    again = rederive(version, evaluation.facts, evaluation.decision, "schedule", NOW)
    assert again is not None
    assert [r.as_dict() for r in again.randomized] == evaluation.decision["randomized"]
