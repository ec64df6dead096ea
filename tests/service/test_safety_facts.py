"""Safety facts in SQL equal the reference (property test, both databases): open episodes,
tiers, the last resolution hiding the flags it assessed, clearances and the clinic."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from rules import reference
from rules.codes import CLEARANCE, RED_FLAGS
from service.accounts.models import User
from service.accounts.service import get_or_create_clinic
from service.evaluation.facts import compute, load_contexts
from service.extensions import db
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.reports.models import PainReport
from service.safety.models import Clearance, SafetyEpisode

ZONES = ["UTC", "Europe/London", "America/Los_Angeles", "Pacific/Auckland"]
NOW = dt.datetime(2026, 3, 29, 12, tzinfo=dt.UTC)  # London's clocks go forward this day


@pytest.fixture
def now() -> dt.datetime:
    """The named users are enrolled on this module's clock."""
    return NOW


_emails = itertools.count()


@dataclass
class Case:
    """A patient's reports, episodes and clearances, in hours before (+) or after (-) now."""

    zone: str
    now: dt.datetime
    clinic: bool
    conditions: list[str]
    pain: list[tuple[int, int, list[str]]]
    episodes: list[tuple[int, str, int | None]]  # opened, tier, closed (None: still open)
    clearances: list[tuple[str, int]]


@st.composite
def cases(draw: Any) -> Case:
    # Episodes follow each other: each opens after the previous one closed; the last may
    # stay open. Hours run backwards from now (negative: in the future).
    episodes = []
    start = draw(st.integers(100, 400))
    for _ in range(draw(st.integers(0, 3))):
        length = draw(st.integers(1, 90))
        still_open = draw(st.booleans())
        closed = None if still_open else start - length
        episodes.append((start, draw(st.sampled_from(["emergency", "urgent"])), closed))
        if still_open:
            break
        start = start - length - draw(st.integers(1, 60))
        if start < -30:
            break
    clearable = sorted(CLEARANCE)
    return Case(
        zone=draw(st.sampled_from(ZONES)),
        now=NOW + dt.timedelta(minutes=draw(st.integers(-3000, 3000))),
        clinic=draw(st.booleans()),
        conditions=draw(st.lists(st.sampled_from(clearable), unique=True, max_size=3)),
        pain=draw(
            st.lists(
                st.tuples(
                    st.integers(-10, 300),
                    st.integers(0, 10),
                    st.lists(st.sampled_from(sorted(RED_FLAGS)), unique=True, max_size=2),
                ),
                max_size=6,
            )
        ),
        episodes=episodes,
        clearances=draw(
            st.lists(
                st.tuples(st.sampled_from(clearable), st.integers(-20, 200)),
                unique_by=lambda item: item[0],
                max_size=3,
            )
        ),
    )


def _seed(case: Case, patient_id: int, clinic_id: int | None) -> reference.History:
    """Add the case's rows for the patient; return the same patient as a reference History."""
    session = db.session()
    now = case.now

    def ago(hours: int) -> dt.datetime:
        return now - dt.timedelta(hours=hours)

    enrolled = ago(24 * 30)
    history = reference.History(
        timezone=case.zone,
        enrolled_at=enrolled,
        conditions=frozenset(case.conditions),
        has_clinic=clinic_id is not None,
        plan=[reference.PlanChange(enrolled, 4000)],
    )
    session.add(
        PatientProfile(
            user_id=patient_id,
            clinic_id=clinic_id,
            timezone=case.zone,
            enrolled_at=enrolled,
            conditions=case.conditions,
        )
    )
    session.add(Plan(patient_id=patient_id, daily_target=4000, changed_at=enrolled))
    session.add(PlanChange(patient_id=patient_id, effective_at=enrolled, target=4000, reason="i"))
    for hours, score, flags in case.pain:
        session.add(
            PainReport(patient_id=patient_id, score=score, recorded_at=ago(hours), red_flags=flags)
        )
        history.pain.append(reference.PainReport(ago(hours), score, frozenset(flags)))
    for opened, tier, closed in case.episodes:
        closed_at = ago(closed) if closed is not None else None
        session.add(
            SafetyEpisode(
                patient_id=patient_id,
                tier=tier,
                flags=[],
                opened_at=ago(opened),
                closed_at=closed_at,
                resolution="resume" if closed_at else None,
            )
        )
        history.episodes.append(reference.SafetyEpisode(ago(opened), tier, closed_at=closed_at))
    for condition, hours in case.clearances:
        session.add(
            Clearance(patient_id=patient_id, condition=condition, note="n", cleared_at=ago(hours))
        )
        history.clearances.append(reference.Clearance(ago(hours), condition))
    session.flush()
    return history


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_it_computes_the_reference_safety_facts_in_sql(app: Flask, case: Case) -> None:
    session = db.session()
    try:
        clinic = get_or_create_clinic(session, "Safety Clinic") if case.clinic else None
        user = User(email=f"safety{next(_emails)}@example.org", password_hash="x", role="patient")
        session.add(user)
        session.flush()
        history = _seed(case, user.id, clinic.id if clinic else None)
        contexts = load_contexts(session, [user.id])
        facts, state = compute(session, contexts.values(), case.now)[user.id]
        assert facts == reference.compute_facts(history, case.now)
        assert state.episode_since == history.state(case.now).episode_since
    finally:
        session.rollback()


def test_it_reads_the_safety_of_a_batch_in_two_queries(app: Flask) -> None:
    session = db.session()
    ids = []
    for number in range(20):
        user = User(email=f"batchsafety{number}@example.org", password_hash="x", role="patient")
        session.add(user)
        session.flush()
        case = Case(
            zone=ZONES[number % len(ZONES)],
            now=NOW,
            clinic=False,
            conditions=["pregnancy"],
            pain=[(30, 5, ["fever"])],
            episodes=[(30, "urgent", None)] if number % 2 else [(90, "emergency", 20)],
            clearances=[("pregnancy", 10)] if number % 3 == 0 else [],
        )
        _seed(case, user.id, None)
        ids.append(user.id)
    statements: list[str] = []

    def count(*args: Any) -> None:
        if "safety_episodes" in str(args[2]) or "clearances" in str(args[2]):
            statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        computed = compute(session, load_contexts(session, ids).values(), NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        session.rollback()
    assert len(statements) == 2
    open_ones = [pid for pid in ids if computed[pid][0]["safety.episode_open"]]
    assert len(open_ones) == 10
    assert all(computed[pid][0]["plan.progression_held"] for pid in open_ones)
    closed = [pid for pid in ids if pid not in open_ones]
    # Closed 20 h ago, after the fever report of 30 h ago: the clinician assessed it.
    assert all(computed[pid][0]["pain.red_flags"] == frozenset() for pid in closed)
    assert all(computed[pid][0]["safety.days_since_resolved"] == 1 for pid in closed)
    cleared = [computed[pid][0]["patient.uncleared_conditions"] for pid in ids[::3]]
    assert cleared == [frozenset()] * len(cleared)
