"""The actions of a decision, written in bulk for a batch: tips (and their pushes through the
outbox), plan changes, clinician alerts, the rule state, decision records, safety episodes and
questionnaires asked. The caller (`service.evaluation.service.evaluate`) commits.

Tips go in through Core (`service.evaluation.writes`); the outbox (`service.delivery.outbox`)
then decides who gets a push (devices, channels, quiet hours), from the evaluations' ids.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from rules import Decision, EvaluationState
from rules.kinds import Severity
from service import bulk
from service.alerts.models import ClinicianAlert
from service.delivery import outbox
from service.evaluation import writes
from service.evaluation.facts import PatientContext
from service.evaluation.failures import Failure
from service.outcomes import record as decision_records
from service.plans.models import Plan, PlanChange
from service.questionnaires import service as questionnaires
from service.rulesets.compiled import CompiledVersion
from service.safety import episodes
from service.tips.models import Tip, WrittenTip

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one patient's evaluation produced (`duplicate`: the decision point was done).

    `tips` holds the tips written (ids set) when the caller asked for them
    (`evaluate(..., tip_rows=True)`); `tip_count` is how many tips were created either way.
    """

    patient_id: int
    evaluation_id: int | None = None
    decision: Decision | None = None
    state: EvaluationState | None = None
    facts: dict[str, object] | None = None
    tips: list[WrittenTip] = field(default_factory=list)
    tip_count: int = 0
    alerts: int = 0
    duplicate: bool = False
    failure: Failure | None = None


TIP_COLUMNS = (
    "patient_id",
    "evaluation_id",
    "rule_id",
    "tip_key",
    "category",
    "title",
    "text",
    "variant",
    "urgent",
    "asks",
    "why",
    "created_at",
)


def apply(
    session: Session,
    done: list[Outcome],
    contexts: Mapping[int, PatientContext],
    compiled: Mapping[int, CompiledVersion],
    now: dt.datetime,
    *,
    tip_rows: bool,
) -> None:
    rows: list[tuple[Any, ...]] = []
    owners: list[Outcome] = []
    for outcome in done:
        decision = outcome.decision
        assert decision is not None
        outcome.tip_count = len(decision.tips)
        for t in decision.tips:
            rows.append(
                (
                    outcome.patient_id,
                    outcome.evaluation_id,
                    t.rule_id,
                    t.tip_id,
                    t.category,
                    t.title,
                    t.text,
                    t.variant,
                    t.urgent,
                    t.asks,
                    t.why,
                    now,
                )
            )
            owners.append(outcome)
    if rows:
        _write_tips(
            session, rows=rows, owners=owners, compiled=compiled, now=now, tip_rows=tip_rows
        )
    _apply_plans(session, done, now)
    _apply_alerts(session, done, contexts, now)
    _record_firings(session, done, now)
    decision_records.write_records(
        session,
        [
            (o.patient_id, o.evaluation_id, o.decision)
            for o in done
            if o.decision and o.evaluation_id
        ],
        compiled,
        now,
    )
    episodes.record_changes(
        session, [(o.patient_id, o.evaluation_id, o.decision) for o in done if o.decision], now
    )
    questionnaires.record_asks(
        session,
        [
            (o.patient_id, o.evaluation_id, o.decision)
            for o in done
            if o.decision and o.decision.asks
        ],
        now,
    )


def _write_tips(
    session: Session,
    *,
    rows: list[tuple[Any, ...]],
    owners: list[Outcome],
    compiled: Mapping[int, CompiledVersion],
    now: dt.datetime,
    tip_rows: bool,
) -> None:
    """Write the tips, give the outcomes theirs (if asked), and hand the outbox the evaluations.

    Ids are fetched only when the caller wants the tips back (a report's response); the outbox
    finds the tips of the evaluations it can push by their evaluation id, so who has a device
    is asked once, there.
    """
    if not tip_rows:
        bulk.insert_rows(session, Tip, TIP_COLUMNS, rows, with_ids=False)
    else:
        ids = bulk.insert_rows(session, Tip, TIP_COLUMNS, rows)
        for row, tip_id, outcome in zip(rows, ids, owners, strict=True):
            outcome.tips.append(WrittenTip(tip_id, *row))
    evaluated = {o.patient_id: o.evaluation_id for o in owners if o.evaluation_id is not None}
    quiet = {pid: compiled[pid].ruleset.settings.quiet_hours for pid in evaluated}
    outbox.enqueue_evaluations(session, evaluated, now, quiet_hours=quiet)


def _apply_plans(session: Session, done: list[Outcome], now: dt.datetime) -> None:
    changes: list[tuple[int, int | None, int | None]] = []
    history: list[tuple[Any, ...]] = []
    for outcome in done:
        decision = outcome.decision
        assert decision is not None
        if decision.target is None and not decision.hold_days:
            continue
        changes.append((outcome.patient_id, decision.target, decision.hold_days or None))
        if decision.target is not None:
            reason = decision.target_rule or "rule"
            history.append((outcome.patient_id, now, decision.target, reason))
    if not changes:
        return
    # A patient without a plan gets one when a rule sets a target (a hold alone needs a plan).
    planned = writes.update_plans(session, changes, now)
    creates = [
        {"patient_id": pid, "daily_target": target, "changed_at": now}
        | ({"progression_held_until": now + dt.timedelta(days=hold)} if hold else {})
        for pid, target, hold in changes
        if pid not in planned and target is not None
    ]
    if creates:
        session.execute(insert(Plan), creates)
    if history:
        bulk.insert_rows(session, PlanChange, PLAN_CHANGE_COLUMNS, history, with_ids=False)


PLAN_CHANGE_COLUMNS = ("patient_id", "effective_at", "target", "reason")


def _apply_alerts(
    session: Session, done: list[Outcome], contexts: Mapping[int, PatientContext], now: dt.datetime
) -> None:
    raising = [o for o in done if o.decision and o.decision.alerts]
    if not raising:
        return
    # One open alert per (patient, rule): a clinician who has not acknowledged the first one
    # does not need the same alert again on every evaluation.
    open_rows = session.execute(
        select(ClinicianAlert.patient_id, ClinicianAlert.rule_id).where(
            ClinicianAlert.patient_id.in_([o.patient_id for o in raising]),
            ClinicianAlert.acked_at.is_(None),
        )
    )
    already = {(pid, rule) for pid, rule in open_rows}
    rows = []
    for outcome in raising:
        assert outcome.decision is not None
        for alert in outcome.decision.alerts:
            if (outcome.patient_id, alert.rule_id) in already:
                continue
            already.add((outcome.patient_id, alert.rule_id))
            rows.append(
                {
                    "clinic_id": contexts[outcome.patient_id].clinic_id,
                    "patient_id": outcome.patient_id,
                    "evaluation_id": outcome.evaluation_id,
                    "rule_id": alert.rule_id,
                    "severity": alert.severity,
                    "message": alert.message,
                    "created_at": now,
                }
            )
            outcome.alerts += 1
            if alert.severity == Severity.URGENT:
                log.warning(
                    "urgent alert for patient %s from rule %s", outcome.patient_id, alert.rule_id
                )
    if rows:
        session.execute(insert(ClinicianAlert), rows)


def _record_firings(session: Session, done: list[Outcome], now: dt.datetime) -> None:
    at = now.astimezone(dt.UTC).isoformat()
    states: dict[int, tuple[dict[str, str], dict[str, int]]] = {}
    for outcome in done:
        decision = outcome.decision
        assert decision is not None
        if decision.fired or decision.tips:
            states[outcome.patient_id] = (
                dict.fromkeys(decision.fired, at),
                {tip.tip_id: tip.variant for tip in decision.tips},
            )
    writes.merge_rule_state(session, states)
