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
            "explain": explain(e.decision),
        }
        for e in rows[:limit]
    ]
    return {"items": items, "next_before": rows[limit - 1].id if len(rows) > limit else None}


def explain(decision: dict[str, Any]) -> str:
    """Readable account of a stored decision: each rule, fired or why not, its conditions."""
    lines = []
    for trace in decision.get("traces", []):
        status = "FIRED" if trace.get("fired") else f"not fired ({trace.get('reason')})"
        lines.append(f"- {trace.get('rule_id')}: {status}")
        for entry in trace.get("conditions", []):
            result = str(entry.get("result")).lower()
            lines.append(f"    {entry.get('expr')}  ->  {entry.get('values')}  ->  {result}")
    for tip in decision.get("tips", []):
        lines.append(f"tip {tip.get('tip_id')} (rule {tip.get('rule_id')}): {tip.get('why')}")
    if decision.get("target") is not None:
        lines.append(f"target: {decision['target']} (asked by {decision.get('target_rule')})")
    lines += [f"    {note}" for note in decision.get("target_notes", [])]
    if decision.get("hold_days"):
        lines.append(f"progression held for {decision['hold_days']} days")
    lines += [
        f"alert ({alert.get('severity')}) from {alert.get('rule_id')}: {alert.get('message')}"
        for alert in decision.get("alerts", [])
    ]
    return "\n".join(lines)
