"""SQL facts equal the reference facts of `rules.reference` (property test, both databases)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from rules import reference
from service.accounts.models import User
from service.activity.models import DailyActivity, WalkingSession
from service.evaluation.facts import compute, load_contexts
from service.evaluation.models import RuleFiring
from service.extensions import db
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.reports.models import ExerciseSession, PainReport
from service.tips.models import Tip

ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Pacific/Kiritimati",
    "America/St_Johns",
]
# Days around DST changes: US spring forward, EU spring forward, AU/NZ autumn, US autumn.
BASES = [
    dt.datetime(2026, 3, 8, 12, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 29, 12, tzinfo=dt.UTC),
    dt.datetime(2026, 4, 5, 12, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC),
]
SOURCES = ["healthkit", "health_connect", "manual", "sandbox"]
FLAGS = ["numbness_saddle", "leg_weakness", "fever", "night_pain"]
_emails = itertools.count()


@dataclass
class Case:
    """A random patient history and the moment to compute facts at."""

    zone: str
    now: dt.datetime
    enrolled_days: float
    primary: str | None
    conditions: list[str]
    shoes_day: int | None
    days: list[tuple[int, str, int, int | None]]
    walks: list[tuple[int, int]]
    pain: list[tuple[int, int, int, list[str]]]
    exercise: list[tuple[str, int]]
    plan: list[tuple[int, int]]
    hold: tuple[int, int] | None
    tips: list[tuple[int, str, bool | None, int]]
    long_streak: bool
    names: list[str]
    baseline: int | None


@st.composite
def cases(draw: Any) -> Case:
    zone = draw(st.sampled_from(ZONES))
    now = draw(st.sampled_from(BASES)) + dt.timedelta(
        seconds=draw(st.integers(-5 * 86400, 5 * 86400))
    )
    now = now.replace(microsecond=0)
    long_streak = draw(st.booleans())
    span = 40 if long_streak else 20
    days = []
    for back in range(-1, span):
        if long_streak and back > 0:
            days.append((back, "sandbox", 30000, 1000))
            continue
        for source in draw(st.lists(st.sampled_from(SOURCES), unique=True, max_size=3)):
            distance = draw(st.none() | st.integers(0, 9000))
            days.append((back, source, draw(st.integers(0, 12000)), distance))
    # Pain at random moments and exactly at local-midnight boundaries (-1 s, 0, +1 s).
    pain_moments = draw(
        st.lists(
            st.tuples(
                st.integers(-2, 34), st.sampled_from([-1, 0, 1, 3600 * 7, 3600 * 15]), st.booleans()
            ),
            max_size=10,
        )
    )
    pain = [
        (
            back,
            second,
            draw(st.integers(0, 10)),
            draw(st.lists(st.sampled_from(FLAGS), unique=True, max_size=2)) if flag else [],
        )
        for back, second, flag in pain_moments
    ]
    return Case(
        zone=zone,
        now=now,
        # Enrolled before the data (a whole window of first days), within it, or just now.
        enrolled_days=draw(st.floats(-45, 60)),
        primary=draw(st.none() | st.sampled_from(SOURCES)),
        conditions=draw(st.lists(st.sampled_from(["spinal_stenosis", "pregnancy"]), unique=True)),
        shoes_day=draw(st.none() | st.integers(-2, 30)),
        days=days,
        walks=draw(
            st.lists(st.tuples(st.integers(-3600, 10 * 86400), st.integers(1, 120)), max_size=6)
        ),
        pain=pain,
        exercise=draw(
            st.lists(
                st.tuples(st.sampled_from(["strength", "stretch"]), st.integers(-3600, 30 * 86400)),
                max_size=6,
            )
        ),
        plan=draw(
            st.lists(
                st.tuples(st.integers(-7200, 30 * 86400), st.integers(2000, 12000)),
                max_size=4,
                unique_by=lambda item: item[0],
            )
        ),
        hold=draw(st.none() | st.tuples(st.integers(0, 20 * 86400), st.integers(1, 14))),
        tips=draw(
            st.lists(
                st.tuples(
                    st.integers(-3600, 30 * 86400),
                    st.sampled_from(["general", "checkin", "checkin", "pain"]),
                    st.none() | st.booleans(),
                    st.integers(-3600, 3600),
                ),
                max_size=6,
            )
        ),
        long_streak=long_streak,
        baseline=draw(st.none() | st.none() | st.integers(0, 20000)),
        names=draw(st.lists(st.sampled_from(["Bird-dog", " plank", "bird-dog ", "x"]), max_size=6)),
    )


def _history_and_rows(case: Case, patient_id: int) -> tuple[reference.History, list[Any], Any]:
    zone = ZoneInfo(case.zone)
    now = case.now
    today = now.astimezone(zone).date()
    enrolled = now - dt.timedelta(days=case.enrolled_days + 45)
    enrolled = enrolled.replace(microsecond=0)
    history = reference.History(
        timezone=case.zone,
        enrolled_at=enrolled,
        conditions=frozenset(case.conditions),
        shoes_changed_on=today - dt.timedelta(days=case.shoes_day)
        if case.shoes_day is not None
        else None,
        primary_source=case.primary,
        has_clinic=False,  # the profile below belongs to no clinic
    )
    rows: list[Any] = []
    for back, source, steps, distance in case.days:
        day = today - dt.timedelta(days=back)
        history.daily_steps.append(reference.DailySteps(day, source, steps, distance))
        rows.append(
            DailyActivity(
                patient_id=patient_id, date=day, source=source, steps=steps, distance_m=distance
            )
        )
    for number, (back_s, minutes) in enumerate(case.walks):
        start = now - dt.timedelta(seconds=back_s)
        end = start + dt.timedelta(minutes=minutes)
        history.walks.append(reference.WalkingSession(start, (end - start).total_seconds() / 60))
        rows.append(
            WalkingSession(
                patient_id=patient_id,
                source="manual",
                external_id=str(number),
                start=start,
                end=end,
            )
        )
    for back, second, score, flags in case.pain:
        midnight = dt.datetime.combine(today - dt.timedelta(days=back), dt.time(0), tzinfo=zone)
        at = (midnight.astimezone(dt.UTC) + dt.timedelta(seconds=second)).astimezone(dt.UTC)
        history.pain.append(reference.PainReport(at, score, frozenset(flags)))
        rows.append(PainReport(patient_id=patient_id, score=score, recorded_at=at, red_flags=flags))
    for number, (kind, back_s) in enumerate(case.exercise):
        at = now - dt.timedelta(seconds=back_s)
        name = case.names[number] if number < len(case.names) else "x"
        history.exercise.append(reference.ExerciseSession(kind, at, name))
        rows.append(ExerciseSession(patient_id=patient_id, kind=kind, name=name, performed_at=at))
    changes = [(enrolled, 4000)] + [(now - dt.timedelta(seconds=s), t) for s, t in case.plan]
    for effective, target in sorted(changes, key=lambda change: change[0]):
        history.plan.append(reference.PlanChange(effective, target))
        rows.append(
            PlanChange(patient_id=patient_id, effective_at=effective, target=target, reason="test")
        )
    held_until = None
    if case.hold is not None:
        start = now - dt.timedelta(seconds=case.hold[0])
        history.holds.append(reference.Hold(start, case.hold[1]))
        held_until = start + dt.timedelta(days=case.hold[1])
    history.baseline_steps = case.baseline
    rows.append(
        Plan(
            patient_id=patient_id,
            daily_target=4000,
            progression_held_until=held_until,
            baseline_steps=case.baseline,
        )
    )
    for back_s, category, helpful, answer_s in case.tips:
        at = now - dt.timedelta(seconds=back_s)
        # Feedback some time after the tip: before now, or (an earlier moment's view) after.
        feedback = at + dt.timedelta(seconds=abs(answer_s)) if helpful is not None else None
        history.tips.append(
            reference.TipRecord(at, category=category, helpful=helpful, feedback_at=feedback)
        )
        rows.append(
            Tip(
                patient_id=patient_id,
                rule_id="r",
                tip_key="t",
                category=category,
                title="t",
                text="t",
                created_at=at,
                helpful=helpful,
                feedback_at=feedback,
            )
        )
    profile = PatientProfile(
        user_id=patient_id,
        timezone=case.zone,
        enrolled_at=enrolled,
        conditions=case.conditions,
        shoes_changed_on=history.shoes_changed_on,
        primary_source=case.primary,
    )
    return history, rows, profile


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_it_computes_the_reference_facts_in_sql(app: Flask, case: Case) -> None:
    session = db.session()
    try:
        user = User(email=f"facts{next(_emails)}@example.org", password_hash="x", role="patient")
        session.add(user)
        session.flush()
        history, rows, profile = _history_and_rows(case, user.id)
        session.add(profile)
        session.flush()
        session.add_all(rows)
        session.flush()
        contexts = load_contexts(session, [user.id])
        facts, state = compute(session, contexts.values(), case.now)[user.id]
        expected = reference.compute_facts(history, case.now)
        assert facts == expected, (case, history.enrolled_at, history.daily_steps)
        oracle_state = history.state(case.now)
        assert state.tips_sent_today == oracle_state.tips_sent_today
        assert state.target_7d_ago == oracle_state.target_7d_ago
    finally:
        session.rollback()


def test_it_computes_a_batch_of_patients_in_a_few_queries(app: Flask) -> None:
    session = db.session()
    now = dt.datetime(2026, 3, 29, 12, tzinfo=dt.UTC)
    ids = []
    for number in range(30):
        user = User(email=f"batch{number}@example.org", password_hash="x", role="patient")
        session.add(user)
        session.flush()
        session.add(
            PatientProfile(
                user_id=user.id,
                timezone=ZONES[number % len(ZONES)],
                enrolled_at=now - dt.timedelta(days=20),
                shoes_changed_on=dt.date(2026, 3, 1),
            )
        )
        session.add(
            PlanChange(
                patient_id=user.id,
                effective_at=now - dt.timedelta(days=20),
                target=3000,
                reason="initial",
            )
        )
        session.add(RuleFiring(patient_id=user.id, last_fired={"progress": now.isoformat()}))
        for back in range(20):
            session.add(
                DailyActivity(
                    patient_id=user.id,
                    date=dt.date(2026, 3, 30) - dt.timedelta(days=back),
                    source="manual",
                    steps=5000,
                    distance_m=3000,
                )
            )
        session.add(
            PainReport(patient_id=user.id, score=3, recorded_at=now - dt.timedelta(days=30))
        )
        ids.append(user.id)
    session.flush()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        computed = compute(session, load_contexts(session, ids).values(), now)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        session.rollback()
    assert len(computed) == 30
    assert all(facts["steps.streak"] >= 14 for facts, _ in computed.values())
    assert all(state.last_fired == {"progress": now} for _, state in computed.values())
    assert all(facts["pain.latest"] == 3 for facts, _ in computed.values())
    # 16; two for safety episodes and clearances; one for questionnaire scores; eight for
    # the personal facts (older days for each of the two local dates, first days after
    # enrolment, pain baseline, check-ins unanswered and the last one, tip feedback,
    # exercise names).
    assert len(statements) <= 27
