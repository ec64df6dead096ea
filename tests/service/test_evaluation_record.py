"""What an evaluation stores: a compact record that re-derives the full trace; pushes it queues."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

import rules
from service.accounts.service import get_or_create_clinic
from service.delivery.models import PushDelivery
from service.evaluation import hooks, service
from service.evaluation.facts import compute, load_contexts
from service.evaluation.models import Evaluation
from service.evaluation.record import rederive
from service.extensions import db
from service.patients.models import Device, PatientProfile
from service.reports.models import PainReport
from service.rulesets.compiled import compiled_versions
from service.rulesets.models import RuleSet, RuleSetVersion
from service.tips.models import Tip
from tests.support.factories import Seed, make_patient

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def now() -> dt.datetime:
    """The named users are enrolled on this module's clock."""
    return NOW


QUIET_YAML = """\
ruleset: quiet-test
title: Quiet hours from the rule set
settings:
  decision_times: ["08:30"]
  max_tips_per_day: 5
  quiet_hours: {start: "21:00", end: "08:00"}
  target: {initial: 4000, min: 2000, max: 12000, max_weekly_increase: 0.10}
tips:
  rest: {category: pain, title: Rest, text: "Pain {pain.latest}/10"}
  care: {category: safety, title: Stop, text: Seek care now}
rules:
  - id: red
    priority: 100
    on: [pain_report]
    when: pain.red_flag
    then:
      - send_tip: care
      - alert_clinician: {severity: urgent, message: Red flags}
  - id: flare
    on: [pain_report]
    when: pain.latest >= 7
    then: [{send_tip: rest}]
"""


def _pain(patient_id: int, score: int, at: dt.datetime, flags: list[str] | None = None) -> None:
    db.session.add(
        PainReport(patient_id=patient_id, score=score, recorded_at=at, red_flags=flags or [])
    )


def _traces(decision: rules.Decision) -> list[dict[str, Any]]:
    return [trace.as_dict() for trace in decision.traces.values()]


def test_it_re_derives_the_full_trace_of_a_stored_evaluation(seed: Seed) -> None:
    # A history that makes rules fire, cool down and get cut by the budget.
    with db.transaction() as session:
        _pain(seed.patient_a, 8, NOW - dt.timedelta(hours=30))
        hooks.after_pain_report(session, seed.patient_a, NOW - dt.timedelta(hours=30))
    with db.transaction() as session:
        profile = session.get(PatientProfile, seed.patient_a)
        assert profile is not None
        profile.max_tips_per_day = 2
        _pain(seed.patient_a, 7, NOW, ["night_pain"])
        session.flush()
        contexts = load_contexts(session, [seed.patient_a])
        facts, state = compute(session, contexts.values(), NOW)[seed.patient_a]
        outcome = service.evaluate_one(session, seed.patient_a, "pain_report", NOW)
    assert outcome.decision is not None
    assert not outcome.decision.traced
    assert outcome.decision.suppressed  # some rules did not fire: their traces were skipped
    evaluation = db.session.get(Evaluation, outcome.evaluation_id)
    assert evaluation is not None
    assert "traces" not in evaluation.decision
    ruleset = compiled_versions(db.session, [evaluation.ruleset_version_id])[
        evaluation.ruleset_version_id
    ]
    original = ruleset.evaluate(facts, "pain_report", state, NOW, trace=True)
    again = rederive(
        ruleset, evaluation.facts, evaluation.decision, evaluation.trigger, evaluation.evaluated_at
    )
    assert again is not None
    assert _traces(again) == _traces(original)
    assert any(trace["conditions"] for trace in _traces(again) if not trace["fired"])
    assert again.explain() == original.explain()
    assert [t.why for t in again.tips] == [t.why for t in outcome.decision.tips]


def test_it_shows_the_re_derived_trace_to_the_clinician(client: Any, seed: Seed) -> None:
    with db.transaction() as session:
        _pain(seed.patient_a, 3, NOW)
        hooks.after_pain_report(session, seed.patient_a, NOW)
    response = client.get(
        f"/v1/clinician/patients/{seed.patient_a}/evaluations", headers=seed.headers("clinician")
    )
    assert response.status_code == 200
    [item] = response.json["items"]
    assert item["suppressed"]
    not_fired = [trace for trace in item["traces"] if not trace["fired"]]
    assert not_fired
    assert all(trace["reason"] == item["suppressed"][trace["rule_id"]] for trace in not_fired)
    assert any("->  3 >= 7  ->  false" in line for line in item["explain"].splitlines())


def test_it_says_when_a_stored_record_no_longer_reproduces(seed: Seed) -> None:
    with db.transaction() as session:
        _pain(seed.patient_a, 8, NOW)
        outcome = service.evaluate_one(session, seed.patient_a, "pain_report", NOW)
    evaluation = db.session.get(Evaluation, outcome.evaluation_id)
    assert evaluation is not None
    record = {**evaluation.decision, "fired": []}
    ruleset = compiled_versions(db.session, [evaluation.ruleset_version_id])[
        evaluation.ruleset_version_id
    ]
    assert rederive(ruleset, evaluation.facts, record, "pain_report", NOW) is None


def _quiet_patient() -> int:
    with db.transaction() as session:
        user = make_patient(
            None, email="quiet@example.org", timezone="America/New_York", enrolled_at=NOW
        )
        clinic = get_or_create_clinic(session, "Quiet clinic")
        ruleset = RuleSet(clinic_id=clinic.id, slug="quiet-test", title="Quiet")
        session.add(ruleset)
        session.flush()
        rules.load_ruleset(QUIET_YAML)  # valid, or the test is wrong
        session.add(RuleSetVersion(ruleset_id=ruleset.id, version=1, yaml_text=QUIET_YAML))
        ruleset.published_version = 1
        profile = session.get(PatientProfile, user.id)
        assert profile is not None
        assert profile.quiet_start is None  # no quiet hours of their own
        profile.ruleset_id = ruleset.id
        session.add(Device(patient_id=user.id, platform="web", token="web-token"))
        return user.id


def test_it_holds_pushes_for_the_rule_sets_quiet_hours_but_not_urgent_ones(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(vapid_private_key="test-vapid-key")
    with app.app_context():
        patient = _quiet_patient()
        # 03:00 UTC is 22:00 in New York (EST): inside the rule set's 21:00-08:00.
        late = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)
        with db.transaction() as session:
            _pain(patient, 8, late)
            [tip] = hooks.after_pain_report(session, patient, late)
        with db.transaction() as session:
            _pain(patient, 5, late, ["leg_weakness"])
            [urgent] = hooks.after_pain_report(session, patient, late)
        deliveries = {
            d.tip_id: d for d in db.session.scalars(select(PushDelivery).order_by(PushDelivery.id))
        }
        assert urgent.urgent
        assert not tip.urgent
        # 08:00 EST on the 27th is 13:00 UTC.
        assert deliveries[tip.id].next_attempt_at == dt.datetime(2026, 11, 27, 13, 0, tzinfo=dt.UTC)
        assert deliveries[tip.id].quiet_hours == "21:00-08:00"
        assert deliveries[urgent.id].next_attempt_at == late
        assert db.session.scalar(select(Tip.id).where(Tip.id == tip.id)) == tip.id
        db.remove()
