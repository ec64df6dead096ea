"""Clinician use cases: invites, set-based patient summaries, timelines, plan changes."""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo
from collections import defaultdict
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from service.accounts.auth import Principal
from service.accounts.models import Invite, User
from service.activity.service import DAY, date_range, effective_steps, steps_by_day
from service.alerts.models import ClinicianAlert
from service.audit.service import record
from service.errors import Conflict, Forbidden, field_error
from service.patients.access import patient_in_scope
from service.patients.models import PatientProfile
from service.plans import service as plans
from service.plans.models import Plan
from service.reports.models import ExerciseSession, PainReport
from service.rulesets.models import RuleSet
from service.tips.models import Tip
from service.tips.service import tip_view

INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed by hand
INVITE_LENGTH = 10
INVITE_DAYS = 14


def _ruleset(
    session: Session, clinic_id: int | None, slug: str, *, published: bool = True
) -> RuleSet:
    """The clinic's rule set by slug. Assigning one needs a published version for the patient
    to follow (otherwise they would silently stay on the clinic's default); an invite may name a
    draft, which its patient follows from its publication on."""
    ruleset = session.scalar(
        select(RuleSet).where(RuleSet.clinic_id == clinic_id, RuleSet.slug == slug)
    )
    if ruleset is None:
        raise field_error("ruleset", f"no rule set {slug!r} in this clinic")
    if published and ruleset.published_version is None:
        raise Conflict(
            f"rule set {slug!r} has no published version yet: publish one before assigning it",
            errors=[{"field": "ruleset", "message": "no published version"}],
        )
    return ruleset


def create_invite(
    session: Session, principal: Principal, body: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """Create a one-time invite code for the caller's clinic (admins name a clinic)."""
    clinic_id = principal.clinic_id
    if body.get("clinic_id") is not None:
        if principal.role != "admin" and body["clinic_id"] != principal.clinic_id:
            raise Forbidden("clinicians invite into their own clinic only")
        clinic_id = body["clinic_id"]
    if clinic_id is None:
        raise field_error("clinic_id", "required for an account without a clinic")
    ruleset = (
        _ruleset(session, clinic_id, body["ruleset"], published=False)
        if body.get("ruleset")
        else None
    )
    invite = Invite(
        code="".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH)),
        clinic_id=clinic_id,
        clinician_id=principal.user_id,
        ruleset_id=ruleset.id if ruleset else None,
        created_at=now,
        expires_at=now + dt.timedelta(days=body.get("expires_in_days", INVITE_DAYS)),
    )
    session.add(invite)
    session.flush()
    record(
        session, principal, "invite.create", "invite", invite.code,
        {"clinic_id": clinic_id, "ruleset": ruleset.slug if ruleset else None},
    )  # fmt: skip
    return {
        "code": invite.code,
        "expires_at": invite.expires_at,
        "ruleset": ruleset.slug if ruleset else None,
    }


def _scope(principal: Principal) -> Select[Any]:
    """Ids of the patients the caller may see."""
    query = select(PatientProfile.user_id)
    if principal.role != "admin":
        query = query.where(PatientProfile.clinic_id == principal.clinic_id)
    return query


def summaries(
    session: Session, principal: Principal, now: dt.datetime, only: int | None = None
) -> list[dict[str, Any]]:
    """Summaries of every patient in scope, computed with a fixed number of queries."""
    scope = _scope(principal)
    if only is not None:
        scope = scope.where(PatientProfile.user_id == only)
    people = session.execute(
        select(
            PatientProfile.user_id,
            PatientProfile.clinic_id,
            PatientProfile.timezone,
            PatientProfile.primary_source,
            User.email,
            Plan.daily_target,
        )
        .join(User, User.id == PatientProfile.user_id)
        .outerjoin(Plan, Plan.patient_id == PatientProfile.user_id)
        .where(PatientProfile.user_id.in_(scope))
        .order_by(PatientProfile.user_id)
    ).all()
    if not people:
        return []
    yesterdays = {
        p.user_id: now.astimezone(zoneinfo.ZoneInfo(p.timezone)).date() - DAY for p in people
    }
    first, last = min(yesterdays.values()) - 6 * DAY, max(yesterdays.values())
    steps = steps_by_day(session, scope, first, last)
    pain = _latest_pain(session, scope)
    alerts = dict(
        session.execute(
            select(ClinicianAlert.patient_id, func.count())
            .where(ClinicianAlert.patient_id.in_(scope), ClinicianAlert.acked_at.is_(None))
            .group_by(ClinicianAlert.patient_id)
        ).all()
    )
    result = []
    for person in people:
        # The mean over the last 7 complete local days that have data (as the facts define it).
        end = yesterdays[person.user_id]
        days = steps.get(person.user_id, {})
        values = [
            value
            for day, sources in days.items()
            if end - 6 * DAY <= day <= end
            and (value := effective_steps(sources, person.primary_source)) is not None
        ]
        latest = pain.get(person.user_id)
        result.append(
            {
                "id": person.user_id,
                "email": person.email,
                "clinic_id": person.clinic_id,
                "steps_avg_7d": round(sum(values) / len(values), 1) if values else None,
                "target": person.daily_target,
                "latest_pain": latest[0] if latest else None,
                "latest_pain_at": latest[1] if latest else None,
                "open_alerts": alerts.get(person.user_id, 0),
            }
        )
    return result


def _latest_pain(session: Session, scope: Select[Any]) -> dict[int, tuple[int, dt.datetime]]:
    ranked = (
        select(
            PainReport.patient_id,
            PainReport.score,
            PainReport.recorded_at,
            func.row_number()
            .over(
                partition_by=PainReport.patient_id,
                order_by=(PainReport.recorded_at.desc(), PainReport.id.desc()),
            )
            .label("rank"),
        )
        .where(PainReport.patient_id.in_(scope))
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.patient_id, ranked.c.score, ranked.c.recorded_at).where(ranked.c.rank == 1)
    )
    return {patient_id: (score, at) for patient_id, score, at in rows}


def list_patients(session: Session, principal: Principal, now: dt.datetime) -> list[dict[str, Any]]:
    """Summaries of the caller's patients (audited)."""
    items = summaries(session, principal, now)
    record(session, principal, "patients.list", "clinic", principal.clinic_id or "all")
    return items


def patient_detail(
    session: Session, principal: Principal, patient_id: int, now: dt.datetime
) -> dict[str, Any]:
    """One patient's summary, profile and plan (audited)."""
    profile = patient_in_scope(session, principal, patient_id)
    detail = summaries(session, principal, now, only=patient_id)[0]
    plan = session.get(Plan, patient_id)
    ruleset = session.get(RuleSet, profile.ruleset_id) if profile.ruleset_id else None
    quiet = None
    if profile.quiet_start and profile.quiet_end:
        quiet = {"start": profile.quiet_start, "end": profile.quiet_end}
    detail.update(
        timezone=profile.timezone,
        locale=profile.locale,
        conditions=list(profile.conditions or []),
        quiet_hours=quiet,
        primary_source=profile.primary_source,
        clinician_id=profile.clinician_id,
        ruleset=ruleset.slug if ruleset else None,
        enrolled_at=profile.enrolled_at,
        progression_held_until=plan.progression_held_until if plan else None,
    )
    record(session, principal, "patient.view", "patient", patient_id)
    return detail


def timeline(
    session: Session,
    principal: Principal,
    patient_id: int,
    *,
    first: dt.date | None,
    last: dt.date | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """Per local day: steps, target, pain reports, exercise and tips with why (audited)."""
    profile = patient_in_scope(session, principal, patient_id)
    tz = zoneinfo.ZoneInfo(profile.timezone)
    days = date_range(first, last, now.astimezone(tz).date(), default_days=14)
    start = plans.end_of_day(days[0] - DAY, tz)
    end = plans.end_of_day(days[-1], tz)
    steps = steps_by_day(session, [patient_id], days[0], days[-1]).get(patient_id, {})
    targets = plans.targets_by_day(session, patient_id, days, tz)
    events: dict[dt.date, dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: {"pain": [], "exercise": [], "tips": []}
    )
    for report in session.scalars(
        select(PainReport)
        .where(PainReport.patient_id == patient_id)
        .where(PainReport.recorded_at >= start, PainReport.recorded_at < end)
        .order_by(PainReport.recorded_at, PainReport.id)
    ):
        events[report.recorded_at.astimezone(tz).date()]["pain"].append(
            {
                "id": report.id,
                "score": report.score,
                "recorded_at": report.recorded_at,
                "location": report.location,
                "red_flags": list(report.red_flags or []),
                "note": report.note,
            }
        )
    for exercise in session.scalars(
        select(ExerciseSession)
        .where(ExerciseSession.patient_id == patient_id)
        .where(ExerciseSession.performed_at >= start, ExerciseSession.performed_at < end)
        .order_by(ExerciseSession.performed_at, ExerciseSession.id)
    ):
        events[exercise.performed_at.astimezone(tz).date()]["exercise"].append(
            {
                "id": exercise.id,
                "kind": exercise.kind,
                "name": exercise.name,
                "sets": exercise.sets,
                "reps": exercise.reps,
                "duration_s": exercise.duration_s,
                "performed_at": exercise.performed_at,
            }
        )
    for tip in session.scalars(
        select(Tip)
        .where(Tip.patient_id == patient_id, Tip.created_at >= start, Tip.created_at < end)
        .order_by(Tip.created_at, Tip.id)
    ):
        events[tip.created_at.astimezone(tz).date()]["tips"].append(tip_view(tip))
    result = []
    for day in days:
        sources = dict(steps.get(day, {}))
        value = effective_steps(sources, profile.primary_source)
        target = targets[day]
        met = None if value is None or target is None else value >= target
        day_events = events.get(day, {"pain": [], "exercise": [], "tips": []})
        result.append(
            {"date": day, "steps": value, "target": target, "met": met, "sources": sources}
            | day_events
        )
    record(
        session, principal, "patient.timeline", "patient", patient_id,
        {"from": days[0].isoformat(), "to": days[-1].isoformat()},
    )  # fmt: skip
    return {"patient_id": patient_id, "days": result}


def change_plan(
    session: Session,
    principal: Principal,
    patient_id: int,
    body: dict[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:
    """Change a patient's target, progression hold or rule set (PlanChange + audit)."""
    profile = patient_in_scope(session, principal, patient_id)
    details: dict[str, Any] = {}
    if "ruleset" in body:
        ruleset = _ruleset(session, profile.clinic_id, body["ruleset"])
        profile.ruleset_id = ruleset.id
        details["ruleset"] = ruleset.slug
    plan = plans.change_plan(
        session, patient_id, body, actor_id=principal.user_id, reason="clinician", now=now
    )
    if "daily_target" in body:
        details["daily_target"] = body["daily_target"]
    if "baseline_steps" in body:
        details["baseline_steps"] = body["baseline_steps"]
    if "hold_progression_until" in body:
        held = body["hold_progression_until"]
        details["hold_progression_until"] = held.isoformat() if held else None
    record(session, principal, "plan.update", "patient", patient_id, details)
    session.flush()
    return plans.plan_view(session, plan.patient_id, zoneinfo.ZoneInfo(profile.timezone))
