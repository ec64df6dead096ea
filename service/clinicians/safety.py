"""Safety episodes and clearances as the console shows them (SPEC §11.1; `service.safety`).

Open episodes rank a patient first on Today, head the alert queue, and the patient page shows
them with the resolve form and the patient's clearances. Texts are for clinicians: red flags
and conditions read as their labels, tiers by name.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from rules.codes import CLEARANCE, CONDITION_LABELS, RED_FLAG_LABELS, join_labels
from service.accounts.auth import Principal
from service.accounts.models import User
from service.patients.models import PatientProfile
from service.safety import service
from service.safety.models import SafetyEpisode


def open_episode_counts(session: Session, scope: Select[Any]) -> dict[int, int]:
    """Open safety episodes per patient among the ids `scope` selects."""
    rows = session.execute(
        select(SafetyEpisode.patient_id, func.count())
        .where(SafetyEpisode.patient_id.in_(scope), SafetyEpisode.closed_at.is_(None))
        .group_by(SafetyEpisode.patient_id)
    )
    return {int(pid): int(count) for pid, count in rows.all()}


def _view(episode: SafetyEpisode, email: str | None = None) -> dict[str, Any]:
    return {
        "id": episode.id,
        "patient_id": episode.patient_id,
        "email": email,
        "tier": episode.tier,
        "flags": join_labels(f for f in episode.flags if f in RED_FLAG_LABELS),
        "opened_at": episode.opened_at,
        "escalated_at": episode.escalated_at,
        "reports": episode.reports,
        "closed_at": episode.closed_at,
        "resolution": episode.resolution,
        "reviews": [
            {
                "decision": review.decision,
                "daily_target": review.daily_target,
                "note": review.note,
                "decided_at": review.decided_at,
            }
            for review in episode.reviews
        ],
    }


def open_episodes(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The caller's open safety episodes (admins: everyone's), most severe first."""
    episodes = service.list_episodes(
        session, principal, open_only=True, unassigned=False, limit=200
    )
    emails = dict(
        session.execute(
            select(User.id, User.email).where(User.id.in_({e.patient_id for e in episodes}))
        ).all()
    )
    return [_view(episode, emails.get(episode.patient_id)) for episode in episodes]


def patient_safety(session: Session, principal: Principal, patient_id: int) -> dict[str, Any]:
    """A patient's episodes (newest first), clearances, and their conditions still to clear."""
    episodes = service.patient_episodes(session, principal, patient_id)
    clearances = service.list_clearances(session, principal, patient_id)
    profile = session.get(PatientProfile, patient_id)
    cleared = {c.condition for c in clearances}
    waiting = [
        c for c in (profile.conditions if profile else []) if c in CLEARANCE and c not in cleared
    ]
    return {
        "episodes": [_view(episode) for episode in episodes],
        "clearances": [
            {
                "condition": CONDITION_LABELS.get(c.condition, c.condition),
                "note": c.note,
                "cleared_at": c.cleared_at,
            }
            for c in clearances
        ],
        "to_clear": [(code, CONDITION_LABELS[code]) for code in waiting],
        # "hold" conditions also keep planks and bridges out until cleared
        "holds": any(CLEARANCE[code] == "hold" for code in waiting),
    }
