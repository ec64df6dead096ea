"""Safety use cases for staff: review and close episodes, record and withdraw clearances.

Clinicians see their own clinic's patients; admins see every patient, and are who looks after
patients without a clinic (`unassigned=true` lists those). Every decision is audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from service.accounts.auth import Principal
from service.alerts.models import ClinicianAlert
from service.audit.service import record
from service.errors import Conflict, NotFound
from service.patients.access import patient_in_scope
from service.patients.models import PatientProfile
from service.plans import service as plans
from service.safety.models import Clearance, EpisodeReview, SafetyEpisode


def list_episodes(
    session: Session,
    principal: Principal,
    *,
    open_only: bool | None,
    unassigned: bool,
    limit: int,
) -> list[SafetyEpisode]:
    """Episodes of the caller's patients: open first, emergency first, newest first."""
    query = select(SafetyEpisode).join(
        PatientProfile, PatientProfile.user_id == SafetyEpisode.patient_id
    )
    if principal.role != "admin":
        query = query.where(PatientProfile.clinic_id == principal.clinic_id)
    if unassigned:
        query = query.where(PatientProfile.clinic_id.is_(None))
    if open_only is True:
        query = query.where(SafetyEpisode.closed_at.is_(None))
    elif open_only is False:
        query = query.where(SafetyEpisode.closed_at.is_not(None))
    still_open = case((SafetyEpisode.closed_at.is_(None), 0), else_=1)
    tier = case({"emergency": 0}, value=SafetyEpisode.tier, else_=1)
    query = query.order_by(
        still_open, tier, SafetyEpisode.opened_at.desc(), SafetyEpisode.id.desc()
    )
    return list(session.scalars(query.limit(limit)))


def patient_episodes(
    session: Session, principal: Principal, patient_id: int
) -> list[SafetyEpisode]:
    """One patient's episodes, newest first."""
    patient_in_scope(session, principal, patient_id)
    query = (
        select(SafetyEpisode)
        .where(SafetyEpisode.patient_id == patient_id)
        .order_by(SafetyEpisode.opened_at.desc(), SafetyEpisode.id.desc())
    )
    return list(session.scalars(query))


def _episode(session: Session, principal: Principal, episode_id: int) -> SafetyEpisode:
    """The episode if the caller looks after its patient; 404 otherwise (like alerts)."""
    episode = session.get(SafetyEpisode, episode_id)
    if episode is None:
        raise NotFound("no such episode")
    if principal.role == "admin":
        return episode
    profile = session.get(PatientProfile, episode.patient_id)
    if profile is None or profile.clinic_id is None or profile.clinic_id != principal.clinic_id:
        raise NotFound("no such episode")
    return episode


def resolve(
    session: Session,
    principal: Principal,
    episode_id: int,
    body: dict[str, Any],
    now: dt.datetime,
) -> SafetyEpisode:
    """Record a decision on an open episode: resume, resume_lower (new target) or keep_paused.

    `resume` and `resume_lower` close it and acknowledge the patient's open urgent alerts;
    `keep_paused` keeps it open (the programme stays paused) with the note on record.
    """
    episode = _episode(session, principal, episode_id)
    decision, target = body["decision"], body.get("daily_target")
    if episode.closed_at is not None:
        raise Conflict("this episode is already closed")
    if decision != "keep_paused":
        # Two clinicians may close it at once: the conditional UPDATE lets exactly one win.
        closed = session.execute(
            update(SafetyEpisode)
            .where(SafetyEpisode.id == episode.id, SafetyEpisode.closed_at.is_(None))
            .values(closed_at=now, closed_by=principal.user_id, resolution=decision)
            .execution_options(synchronize_session=False)
        )
        if closed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this episode is already closed")
        session.execute(
            update(ClinicianAlert)
            .where(
                ClinicianAlert.patient_id == episode.patient_id,
                ClinicianAlert.acked_at.is_(None),
                ClinicianAlert.severity == "urgent",
            )
            .values(acked_at=now, acked_by=principal.user_id)
            .execution_options(synchronize_session=False)
        )
    session.add(
        EpisodeReview(
            episode_id=episode.id,
            decision=decision,
            daily_target=target,
            note=body["note"],
            decided_at=now,
            decided_by=principal.user_id,
        )
    )
    if decision == "resume_lower":
        plans.change_plan(
            session,
            episode.patient_id,
            {"daily_target": target},
            actor_id=principal.user_id,
            reason="resume_lower",
            now=now,
        )
    details = {"patient_id": episode.patient_id, "decision": decision, "note": body["note"]}
    if target is not None:
        details["daily_target"] = target
    record(session, principal, "safety_episode.resolve", "safety_episode", episode.id, details)
    session.flush()
    session.refresh(episode)
    return episode


def list_clearances(session: Session, principal: Principal, patient_id: int) -> list[Clearance]:
    """The conditions a patient is cleared for."""
    patient_in_scope(session, principal, patient_id)
    query = select(Clearance).where(Clearance.patient_id == patient_id).order_by(Clearance.id)
    return list(session.scalars(query))


def record_clearance(
    session: Session,
    principal: Principal,
    patient_id: int,
    body: dict[str, Any],
    now: dt.datetime,
) -> Clearance:
    """Clear a patient for a condition (409 if already cleared); the rules read it at once."""
    patient_in_scope(session, principal, patient_id)
    condition = body["condition"]
    taken = select(Clearance.id).where(
        Clearance.patient_id == patient_id, Clearance.condition == condition
    )
    if session.scalar(taken) is not None:
        raise Conflict(f"the patient is already cleared for {condition}")
    clearance = Clearance(
        patient_id=patient_id,
        condition=condition,
        note=body["note"],
        cleared_at=now,
        cleared_by=principal.user_id,
    )
    session.add(clearance)
    session.flush()
    details = {"patient_id": patient_id, "condition": condition, "note": body["note"]}
    record(session, principal, "clearance.record", "clearance", clearance.id, details)
    return clearance


def withdraw_clearance(
    session: Session, principal: Principal, patient_id: int, condition: str
) -> None:
    """Withdraw a clearance (404 if there is none): the condition holds the programme again."""
    patient_in_scope(session, principal, patient_id)
    clearance = session.scalar(
        select(Clearance).where(
            Clearance.patient_id == patient_id, Clearance.condition == condition
        )
    )
    if clearance is None:
        raise NotFound("no such clearance")
    details = {"patient_id": patient_id, "condition": condition}
    record(session, principal, "clearance.withdraw", "clearance", clearance.id, details)
    session.delete(clearance)
