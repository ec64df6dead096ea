"""Read side of evaluations: a patient's history for their clinician."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth import Principal, patient_in_scope
from service.evaluation.models import Evaluation


def list_evaluations(
    session: Session, principal: Principal, patient_id: int, limit: int, before: int | None
) -> dict[str, Any]:
    """A page of the patient's evaluations, newest first (keyset on id)."""
    patient_in_scope(principal, patient_id)
    query = select(Evaluation).where(Evaluation.patient_id == patient_id)
    if before is not None:
        query = query.where(Evaluation.id < before)
    rows = list(session.scalars(query.order_by(Evaluation.id.desc()).limit(limit + 1)))
    items = [
        {
            "id": e.id,
            "trigger": e.trigger,
            "decision_key": e.decision_key,
            "ruleset_version_id": e.ruleset_version_id,
            "evaluated_at": e.evaluated_at,
            "facts": e.facts,
            "fired": e.decision.get("fired", []),
            "suppressed": e.decision.get("suppressed", {}),
            "traces": e.decision.get("traces", []),
            "actions": e.actions,
            "explain": e.decision.get("explain", ""),
        }
        for e in rows[:limit]
    ]
    return {"items": items, "next_before": rows[limit - 1].id if len(rows) > limit else None}
