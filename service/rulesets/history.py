"""Histories for simulation from a stored patient's records (posted ones: `rules.history`)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules import reference
from service.activity.models import DailyActivity, WalkingSession
from service.delivery.policy import effective_quiet_hours
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.reports.models import ExerciseSession, PainReport
from service.safety.history import add_safety


def load_history(session: Session, profile: PatientProfile, start: dt.date) -> reference.History:
    """A stored patient's records as a `rules.reference.History`.

    Plan changes are kept only before `start`: from then on the simulation makes its own.
    """
    pid = profile.user_id
    first_day = dt.datetime.combine(start, dt.time(0), ZoneInfo(profile.timezone)).astimezone(
        dt.UTC
    )
    history = reference.History(
        timezone=profile.timezone,
        enrolled_at=profile.enrolled_at,
        conditions=frozenset(profile.conditions or ()),
        shoes_changed_on=profile.shoes_changed_on,
        primary_source=profile.primary_source,
        max_tips_per_day=profile.max_tips_per_day,
        has_clinic=profile.clinic_id is not None,
        seed=str(pid),
        quiet_hours=effective_quiet_hours(profile, None),
    )
    for day, source, steps, distance in session.execute(
        select(
            DailyActivity.date, DailyActivity.source, DailyActivity.steps, DailyActivity.distance_m
        )
        .where(DailyActivity.patient_id == pid)
        .order_by(DailyActivity.date)
    ):
        history.daily_steps.append(reference.DailySteps(day, source, steps, distance))
    for begin, end, distance in session.execute(
        select(WalkingSession.start, WalkingSession.end, WalkingSession.distance_m)
        .where(WalkingSession.patient_id == pid)
        .order_by(WalkingSession.start)
    ):
        minutes = (end - begin).total_seconds() / 60
        history.walks.append(reference.WalkingSession(begin, minutes, distance))
    for at, score, flags in session.execute(
        select(PainReport.recorded_at, PainReport.score, PainReport.red_flags)
        .where(PainReport.patient_id == pid)
        .order_by(PainReport.recorded_at, PainReport.id)
    ):
        history.pain.append(reference.PainReport(at, score, frozenset(flags or ())))
    for kind, at, name in session.execute(
        select(ExerciseSession.kind, ExerciseSession.performed_at, ExerciseSession.name)
        .where(ExerciseSession.patient_id == pid)
        .order_by(ExerciseSession.performed_at)
    ):
        history.exercise.append(reference.ExerciseSession(kind, at, name))
    for effective, target, reason in session.execute(
        select(PlanChange.effective_at, PlanChange.target, PlanChange.reason)
        .where(PlanChange.patient_id == pid, PlanChange.effective_at < first_day)
        .order_by(PlanChange.effective_at, PlanChange.id)
    ):
        history.plan.append(reference.PlanChange(effective, target, reason))
    history.baseline_steps = session.scalar(
        select(Plan.baseline_steps).where(Plan.patient_id == pid)
    )
    add_safety(session, history, pid, first_day)
    return history
