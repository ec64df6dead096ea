"""Read side of evaluations: a patient's history for their clinician, with full traces.

Evaluations are stored without per-condition traces (see `service.evaluation.record`); this
view re-derives them from the stored facts, state and rule-set version.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.auth import Principal
from service.evaluation.models import Evaluation
from service.evaluation.record import rederive
from service.patients.access import patient_in_scope
from service.rulesets.compiled import compiled_versions

log = logging.getLogger(__name__)


def list_evaluations(
    session: Session, principal: Principal, patient_id: int, limit: int, before: int | None
) -> dict[str, Any]:
    """A page of the patient's evaluations, newest first (keyset on id)."""
    patient_in_scope(session, principal, patient_id)
    query = select(Evaluation).where(Evaluation.patient_id == patient_id)
    if before is not None:
        query = query.where(Evaluation.id < before)
    rows = list(session.scalars(query.order_by(Evaluation.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    rulesets = compiled_versions(session, {e.ruleset_version_id for e in page})
    items = [_item(e, rulesets.get(e.ruleset_version_id)) for e in page]
    return {"items": items, "next_before": rows[limit - 1].id if len(rows) > limit else None}


def _item(evaluation: Evaluation, ruleset: Any) -> dict[str, Any]:
    record = evaluation.decision
    failed = evaluation.status == "failed"
    decision = None
    if ruleset is not None and not failed:
        try:
            decision = rederive(
                ruleset, evaluation.facts, record, evaluation.trigger, evaluation.evaluated_at
            )
        except Exception:  # the stored record still answers; one odd row must not fail the page
            log.exception("evaluation %s: re-deriving its trace failed", evaluation.id)
    if failed:
        account = _failed(evaluation.error)
    else:
        account = decision.explain() if decision else explain(record)
    return {
        "id": evaluation.id,
        "trigger": evaluation.trigger,
        "decision_key": evaluation.decision_key,
        "ruleset_version_id": evaluation.ruleset_version_id,
        "evaluated_at": evaluation.evaluated_at,
        "facts": evaluation.facts,
        "fired": record.get("fired", []),
        "suppressed": record.get("suppressed", {}),
        "traces": [t.as_dict() for t in decision.traces.values()] if decision else [],
        "actions": evaluation.actions,
        "status": evaluation.status,
        "error": evaluation.error,
        "explain": account,
    }


def _failed(error: dict[str, Any] | None) -> str:
    """Readable account of a failed evaluation."""
    error = error or {}
    where = f"rule {error['rule_id']}" if error.get("rule_id") else error.get("stage", "?")
    return (
        f"evaluation failed ({where}): {error.get('error')}: {error.get('message')}\n"
        "nothing was applied for this patient"
    )


def explain(record: dict[str, Any]) -> str:
    """Readable account of a stored record alone: each rule, fired or why not."""
    lines = [f"- {rule_id}: FIRED" for rule_id in record.get("fired", [])]
    lines += [
        f"- {rule_id}: not fired ({reason})"
        for rule_id, reason in record.get("suppressed", {}).items()
    ]
    if record.get("target") is not None:
        lines.append(f"target: {record['target']} (asked by {record.get('target_rule')})")
    lines += [f"    {note}" for note in record.get("target_notes", [])]
    if record.get("hold_days"):
        lines.append(f"progression held for {record['hold_days']} days")
    lines.append("(condition values unavailable: the rule set version no longer reproduces it)")
    return "\n".join(lines)
