"""The evaluation use case: facts -> rule set -> tips, plan changes, holds, alerts, records."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import func, select

from service.accounts.models import Clinic
from service.alerts.models import ClinicianAlert
from service.bootstrap import ensure_clinic_defaults, run, seed_demo
from service.connections.models import WearableConnection
from service.evaluation import hooks, service
from service.evaluation.models import Evaluation, RuleFiring
from service.evaluation.population import evaluate_due
from service.evaluation.schedule import latest_decision_key, next_decision
from service.extensions import db, get_settings
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.reports.models import PainReport
from service.rulesets.models import RuleSet
from service.tips.models import Tip
from tests.support.factories import Seed, make_patient

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def now() -> dt.datetime:
    """The named users are enrolled on this module's clock."""
    return NOW


def _pain(patient_id: int, score: int, at: dt.datetime, flags: list[str] | None = None) -> None:
    db.session.add(
        PainReport(patient_id=patient_id, score=score, recorded_at=at, red_flags=flags or [])
    )


def test_it_answers_a_high_pain_report_with_rest_a_lower_target_and_a_hold(seed: Seed) -> None:
    with db.transaction() as session:
        _pain(seed.patient_a, 8, NOW)
        tips = hooks.after_pain_report(session, seed.patient_a, NOW)
    assert [t.tip_key for t in tips] == ["rest-and-reduce"]
    assert tips[0].id is not None
    assert "8/10" in tips[0].text
    assert tips[0].why.startswith("You rated your back 8 out of 10")
    plan = db.session.get(Plan, seed.patient_a)
    assert plan is not None
    assert plan.daily_target == 3200
    assert plan.progression_held_until == NOW + dt.timedelta(days=7)
    change = db.session.scalars(select(PlanChange).order_by(PlanChange.id.desc())).first()
    assert change is not None
    assert (change.target, change.reason) == (3200, "pain-flare")
    evaluation = db.session.scalars(select(Evaluation)).one()
    assert evaluation.trigger == "pain_report"
    assert evaluation.facts["pain.latest"] == 8
    assert evaluation.decision["fired"][0] == "pain-flare"
    assert evaluation.actions["target"] == {"to": 3200, "rule": "pain-flare"}
    state = db.session.get(RuleFiring, seed.patient_a)
    assert state is not None
    assert dt.datetime.fromisoformat(state.last_fired["pain-flare"]) == NOW
    assert state.last_variant == {"rest-and-reduce": 0}


def test_it_carries_cooldowns_and_tip_rotation_into_later_evaluations(seed: Seed) -> None:
    earlier = (NOW - dt.timedelta(days=30)).isoformat()
    with db.transaction() as session:
        session.add(
            RuleFiring(
                patient_id=seed.patient_a,
                last_fired={"footwear": earlier},
                last_variant={"walking-form": 2},
            )
        )
    outcomes = []
    for hours in (0, 1, 72):
        at = NOW + dt.timedelta(hours=hours)
        with db.transaction() as session:
            _pain(seed.patient_a, 8, at)
            outcomes.append(service.evaluate_one(session, seed.patient_a, "pain_report", at))
    first, cooling, later = (o.decision for o in outcomes)
    assert first is not None
    assert cooling is not None
    assert later is not None
    assert [(t.tip_id, t.variant) for t in first.tips] == [("rest-and-reduce", 0)]
    assert cooling.suppressed["pain-flare"].startswith("cooldown until")
    assert [(t.tip_id, t.variant) for t in later.tips] == [("rest-and-reduce", 1)]
    db.session.expire_all()
    state = db.session.get(RuleFiring, seed.patient_a)
    assert state is not None
    assert state.last_fired["footwear"] == earlier  # merged, not replaced
    assert dt.datetime.fromisoformat(state.last_fired["pain-flare"]) == NOW + dt.timedelta(hours=72)
    assert state.last_variant == {"walking-form": 2, "rest-and-reduce": 1}


def test_it_extends_a_progression_hold_but_never_shortens_it(seed: Seed) -> None:
    longer = NOW + dt.timedelta(days=20)
    with db.transaction() as session:
        for pid, until in ((seed.patient_a, longer), (seed.patient_b, NOW + dt.timedelta(days=1))):
            plan = session.get(Plan, pid)
            assert plan is not None
            plan.progression_held_until = until
            _pain(pid, 8, NOW)
    with db.transaction() as session:
        outcomes = service.evaluate(session, [seed.patient_a, seed.patient_b], "pain_report", NOW)
    assert all(o.decision and o.decision.hold_days == 7 for o in outcomes.values())
    db.session.expire_all()
    plans = {p.patient_id: p for p in db.session.scalars(select(Plan))}
    assert plans[seed.patient_a].progression_held_until == longer
    assert plans[seed.patient_b].progression_held_until == NOW + dt.timedelta(days=7)
    assert plans[seed.patient_a].daily_target == plans[seed.patient_b].daily_target == 3200
    assert plans[seed.patient_a].changed_at == NOW


def test_it_raises_one_urgent_alert_for_red_flags_and_no_progression(seed: Seed) -> None:
    for minutes in (0, 5):
        at = NOW + dt.timedelta(minutes=minutes)
        with db.transaction() as session:
            _pain(seed.patient_a, 6, at, ["numbness_saddle"])
            tips = hooks.after_pain_report(session, seed.patient_a, at)
        if minutes == 0:
            assert tips
            assert all(t.urgent for t in tips)
            assert tips[0].category == "safety"
    alerts = db.session.scalars(select(ClinicianAlert)).all()
    assert [(a.severity, a.rule_id, a.clinic_id) for a in alerts] == [
        ("urgent", "red-flag-emergency", seed.clinic_id)
    ]
    plan = db.session.get(Plan, seed.patient_a)
    assert plan is not None
    assert plan.daily_target <= 4000
    assert not db.session.scalar(select(Tip.id).where(Tip.category == "progression"))


def test_it_evaluates_a_scheduled_decision_point_once(seed: Seed) -> None:
    key = {seed.patient_a: "schedule:2026-11-27T08:30"}
    with db.transaction() as session:
        first = service.evaluate(session, [seed.patient_a], "schedule", NOW, key)
    with db.transaction() as session:
        again = service.evaluate(session, [seed.patient_a], "schedule", NOW, key)
    assert not first[seed.patient_a].duplicate
    assert first[seed.patient_a].tips
    assert again[seed.patient_a].duplicate
    assert db.session.scalar(select(func.count()).select_from(Evaluation)) == 1
    assert db.session.scalar(select(func.count()).select_from(Tip)) == len(
        first[seed.patient_a].tips
    )


def test_it_keeps_to_the_patients_own_tip_budget(seed: Seed) -> None:
    with db.transaction() as session:
        profile = session.get(PatientProfile, seed.patient_a)
        assert profile is not None
        profile.max_tips_per_day = 1
        session.add(
            Tip(
                patient_id=seed.patient_a,
                rule_id="r",
                tip_key="t",
                category="general",
                title="t",
                text="t",
                created_at=NOW - dt.timedelta(hours=1),
            )
        )
    with db.transaction() as session:
        outcome = service.evaluate_one(session, seed.patient_a, "schedule", NOW)
    # Only the PEG check-in of the first week goes out: a questionnaire spends no budget.
    assert [tip.tip_key for tip in outcome.tips] == ["ask-peg"]
    assert outcome.decision is not None
    assert outcome.decision.facts["tips.sent_today"] == 1
    assert "budget" in outcome.decision.suppressed["surface"]


def test_it_follows_the_clinic_default_then_the_assigned_published_version(seed: Seed) -> None:
    with db.transaction() as session:
        clinic = session.get(Clinic, seed.clinic_id)
        assert clinic is not None
        ensure_clinic_defaults(session, clinic)
        ensure_clinic_defaults(session, clinic)  # idempotent
    rulesets = db.session.scalars(select(RuleSet).where(RuleSet.clinic_id == seed.clinic_id)).all()
    assert [(r.slug, r.published_version, r.is_default) for r in rulesets] == [
        ("low-back-walking", 1, True)
    ]
    with db.transaction() as session:
        outcome = service.evaluate_one(session, seed.patient_a, "schedule", NOW)
    evaluation = db.session.get(Evaluation, outcome.evaluation_id)
    assert evaluation is not None
    assert evaluation.ruleset_version_id is not None


def test_it_enrols_a_patient_at_the_initial_target_with_a_next_decision_time(app: Flask) -> None:
    with db.transaction() as session:
        user = make_patient(None, email="new@example.org", timezone="Asia/Kolkata", enrolled_at=NOW)
        session.delete(session.get(Plan, user.id))
        profile = session.get(PatientProfile, user.id)
        assert profile is not None
        session.flush()
        plan = hooks.enrol_patient(session, profile, NOW)
    assert plan.daily_target == 4000
    # 10:00 UTC is 15:30 in Kolkata: the next decision time is 08:30 local tomorrow.
    assert profile.next_decision_at == dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("zone", "now", "key", "following"),
    [
        ("Europe/London", NOW, "schedule:2026-11-27T08:30", dt.datetime(2026, 11, 27, 15, 0)),
        ("America/New_York", NOW, "schedule:2026-11-26T15:00", dt.datetime(2026, 11, 27, 13, 30)),
        # Spring forward in London: 08:30 exists, the key stays local.
        (
            "Europe/London",
            dt.datetime(2026, 3, 29, 7, 31, tzinfo=dt.UTC),
            "schedule:2026-03-29T08:30",
            dt.datetime(2026, 3, 29, 14, 0),
        ),
    ],
)
def test_it_finds_the_due_and_next_decision_points_in_local_time(
    zone: str, now: dt.datetime, key: str, following: dt.datetime
) -> None:
    times = (dt.time(8, 30), dt.time(15, 0))
    assert latest_decision_key(zone, times, now) == key
    assert next_decision(zone, times, now) == following.replace(tzinfo=dt.UTC)


def test_it_seeds_the_demo_once_with_sandbox_connections_and_pain_history(app: Flask) -> None:
    run(get_settings(), demo=True)
    run(get_settings(), demo=True)
    connections = db.session.scalars(select(WearableConnection)).all()
    assert len(connections) == 6
    assert {c.provider for c in connections} == {"sandbox"}
    assert db.session.scalar(select(func.count()).select_from(PainReport)) > 50
    profiles = db.session.scalars(select(PatientProfile)).all()
    assert all(p.next_decision_at is not None for p in profiles)
    assert db.session.scalar(select(func.count()).select_from(RuleSet)) == 1


def test_it_seeds_a_red_flag_patient_who_gets_an_urgent_alert(app: Flask) -> None:
    with db.transaction() as session:
        seed_demo(session, get_settings(), NOW)
    # The seed replays four weeks through the rules: the alert is there before the scheduler.
    severities = db.session.scalars(select(ClinicianAlert.severity)).all()
    assert "urgent" in severities
    # And the scheduler carries on from where the replay stopped.
    result = evaluate_due(NOW + dt.timedelta(days=1))
    assert (result.evaluated, result.failed) == (6, 0)
