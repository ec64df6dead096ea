"""The evaluation use case: trigger -> facts -> the patient's rule set -> decision -> actions.

`evaluate(session, patient_ids, trigger, now)` works on a batch in the caller's transaction:
facts for the whole batch in a handful of queries, each rule set compiled once, then every
action written in bulk: the Evaluation record (facts, decision with traces, actions applied),
tips (handed to the push outbox right after they are flushed), plan target changes with a
PlanChange whose reason is the rule id, progression holds, clinician alerts and the RuleFiring
rows that carry cooldowns and tip rotation into the next evaluation.

A scheduled decision point is evaluated at most once: `decision_keys` maps patients to keys
like `schedule:2026-11-27T08:30` and Evaluation(patient_id, decision_key) is unique, so a
re-run finds the key taken and writes nothing (no duplicate tips).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from rules import Decision
from service.alerts.models import ClinicianAlert
from service.delivery import outbox
from service.evaluation.derive import facts_json
from service.evaluation.facts import PatientContext, compute, load_contexts
from service.evaluation.models import Evaluation, RuleFiring
from service.plans.models import Plan, PlanChange
from service.rulesets.compiled import Assignment, CompiledVersion, resolve
from service.sqlutil import insert_for
from service.tips.models import Tip

log = logging.getLogger(__name__)
FIRING_CHUNK = 2000  # rows x 4 parameters stays under both backends' parameter limits


@dataclass
class Outcome:
    """What one patient's evaluation produced (`duplicate`: the decision point was done)."""

    patient_id: int
    evaluation_id: int | None = None
    decision: Decision | None = None
    tips: list[Tip] = field(default_factory=list)
    alerts: int = 0
    duplicate: bool = False


def assignments(contexts: Iterable[PatientContext]) -> list[Assignment]:
    """What rule-set resolution needs from each profile."""
    return [Assignment(c.patient_id, c.clinic_id, c.ruleset_id) for c in contexts]


def evaluate(
    session: Session,
    patient_ids: Iterable[int],
    trigger: str,
    now: dt.datetime,
    decision_keys: Mapping[int, str] | None = None,
    *,
    contexts: Mapping[int, PatientContext] | None = None,
    compiled: Mapping[int, CompiledVersion] | None = None,
) -> dict[int, Outcome]:
    """Evaluate these patients now and apply every decision (the caller commits)."""
    ids = sorted(set(patient_ids))
    contexts = contexts if contexts is not None else load_contexts(session, ids)
    ids = [pid for pid in ids if pid in contexts]  # patients without a profile have no plan
    keys = dict(decision_keys or {})
    outcomes = {pid: Outcome(pid) for pid in ids}
    for pid in _taken(session, keys, ids):
        outcomes[pid].duplicate = True
    todo = [pid for pid in ids if not outcomes[pid].duplicate]
    if not todo:
        return outcomes
    compiled = (
        compiled
        if compiled is not None
        else resolve(session, assignments(contexts[pid] for pid in todo))
    )
    computed = compute(session, (contexts[pid] for pid in todo), now)
    for pid in todo:
        facts, state = computed[pid]
        outcomes[pid].decision = compiled[pid].ruleset.evaluate(facts, trigger, state, now)
    written = _insert_evaluations(
        session, todo, outcomes, compiled, keys=keys, trigger=trigger, now=now
    )
    for pid in todo:
        if pid not in written:
            outcomes[pid].duplicate = True
            outcomes[pid].decision = None
    _apply(session, [outcomes[pid] for pid in todo if pid in written], contexts, now)
    return outcomes


def _taken(session: Session, keys: Mapping[int, str], ids: list[int]) -> set[int]:
    wanted = [(pid, keys[pid]) for pid in ids if pid in keys]
    taken: set[int] = set()
    for start in range(0, len(wanted), 400):
        part = wanted[start : start + 400]
        rows = session.execute(
            select(Evaluation.patient_id, Evaluation.decision_key).where(
                Evaluation.patient_id.in_([pid for pid, _ in part]),
                Evaluation.decision_key.in_({key for _, key in part}),
            )
        )
        taken.update(pid for pid, key in rows if keys.get(pid) == key)
    return taken


def _evaluation_row(
    outcome: Outcome, version: CompiledVersion, key: str | None, trigger: str, now: dt.datetime
) -> dict[str, Any]:
    decision = outcome.decision
    assert decision is not None
    recorded = decision.to_dict()
    recorded.pop("facts", None)  # stored once, in Evaluation.facts
    return {
        "patient_id": outcome.patient_id,
        "trigger": trigger,
        "decision_key": key,
        "ruleset_version_id": version.version_id,
        "evaluated_at": now,
        "facts": facts_json(decision.facts),
        "decision": recorded,
        "actions": _actions(decision),
    }


def _actions(decision: Decision) -> dict[str, Any]:
    return {
        "tips": [
            {"tip_id": t.tip_id, "rule_id": t.rule_id, "variant": t.variant} for t in decision.tips
        ],
        "target": {"to": decision.target, "rule": decision.target_rule}
        if decision.target is not None
        else None,
        "hold_days": decision.hold_days,
        "alerts": [{"rule_id": a.rule_id, "severity": a.severity} for a in decision.alerts],
    }


def _insert_evaluations(
    session: Session,
    todo: list[int],
    outcomes: dict[int, Outcome],
    compiled: Mapping[int, CompiledVersion],
    *,
    keys: Mapping[int, str],
    trigger: str,
    now: dt.datetime,
) -> set[int]:
    """Insert the Evaluation rows; a key another worker took meanwhile skips that patient."""
    rows = [
        _evaluation_row(outcomes[pid], compiled[pid], keys.get(pid), trigger, now) for pid in todo
    ]
    stmt = insert(Evaluation).returning(Evaluation.id, sort_by_parameter_order=True)
    ids: list[int | None]
    try:
        with session.begin_nested():
            ids = list(session.execute(stmt, rows).scalars())
    except IntegrityError:
        ids = []
        for row in rows:  # rare: fall back to one savepoint per row to find the taken key
            try:
                with session.begin_nested():
                    ids.append(session.execute(stmt, [row]).scalar_one())
            except IntegrityError:
                ids.append(None)
    written = set()
    for pid, evaluation_id in zip(todo, ids, strict=True):
        if evaluation_id is not None:
            outcomes[pid].evaluation_id = evaluation_id
            written.add(pid)
    return written


def _apply(
    session: Session, done: list[Outcome], contexts: Mapping[int, PatientContext], now: dt.datetime
) -> None:
    tips: list[Tip] = []
    for outcome in done:
        decision = outcome.decision
        assert decision is not None
        for rendered in decision.tips:
            tip = Tip(
                patient_id=outcome.patient_id,
                evaluation_id=outcome.evaluation_id,
                rule_id=rendered.rule_id,
                tip_key=rendered.tip_id,
                category=rendered.category,
                title=rendered.title,
                text=rendered.text,
                variant=rendered.variant,
                urgent=rendered.urgent,
                asks=rendered.asks,
                why=rendered.why,
                created_at=now,
                read_at=None,
                opened_at=None,
                helpful=None,
                done=None,
                feedback_at=None,
            )
            outcome.tips.append(tip)
            tips.append(tip)
    if tips:
        _insert_tips(session, tips)
        outbox.enqueue(session, tips, now)
    _apply_plans(session, done, now)
    _apply_alerts(session, done, contexts, now)
    _record_firings(session, done, now)


def _insert_tips(session: Session, tips: list[Tip]) -> None:
    """Insert tips in bulk (one multi-row INSERT ... RETURNING per page), then attach them.

    The unit-of-work flush would do the same inserts more slowly; the tips are handed to the
    session afterwards as persistent rows so the outbox and the caller can use them as usual.
    """
    columns = [c.key for c in Tip.__table__.columns if c.key != "id"]
    rows = [{key: getattr(tip, key) for key in columns} for tip in tips]
    stmt = insert(Tip).returning(Tip.id, sort_by_parameter_order=True)
    ids = list(session.execute(stmt, rows).scalars())
    for tip, tip_id in zip(tips, ids, strict=True):
        tip.id = tip_id
        make_transient_to_detached(tip)
        session.add(tip)


def _apply_plans(session: Session, done: list[Outcome], now: dt.datetime) -> None:
    changed = [
        o for o in done if o.decision and (o.decision.target is not None or o.decision.hold_days)
    ]
    if not changed:
        return
    ids = [o.patient_id for o in changed]
    rows = session.execute(
        select(Plan.patient_id, Plan.progression_held_until).where(Plan.patient_id.in_(ids))
    )
    existing = dict(rows.all())
    updates, creates, history = [], [], []
    for outcome in changed:
        decision = outcome.decision
        assert decision is not None
        values: dict[str, Any] = {"patient_id": outcome.patient_id}
        if decision.target is not None:
            values.update(daily_target=decision.target, changed_at=now)
            history.append(
                {
                    "patient_id": outcome.patient_id,
                    "effective_at": now,
                    "target": decision.target,
                    "reason": decision.target_rule or "rule",
                }
            )
        if decision.hold_days:
            until = now + dt.timedelta(days=decision.hold_days)
            held = existing.get(outcome.patient_id)
            values["progression_held_until"] = max(until, held) if held else until
        if outcome.patient_id in existing:
            updates.append(values)
        elif decision.target is not None:
            creates.append(values)
    if updates:
        session.execute(update(Plan), updates)
    if creates:
        session.execute(insert(Plan), creates)
    if history:
        session.execute(insert(PlanChange), history)


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
            if alert.severity == "urgent":
                log.warning(
                    "urgent alert for patient %s from rule %s", outcome.patient_id, alert.rule_id
                )
    if rows:
        session.execute(insert(ClinicianAlert), rows)


def _record_firings(session: Session, done: list[Outcome], now: dt.datetime) -> None:
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for outcome in done:
        decision = outcome.decision
        assert decision is not None
        for rule_id in decision.fired:
            key = (outcome.patient_id, f"rule:{rule_id}")
            rows[key] = {"patient_id": key[0], "key": key[1], "last_at": now, "last_variant": None}
        for tip in decision.tips:
            key = (outcome.patient_id, f"tip:{tip.tip_id}")
            rows[key] = {
                "patient_id": key[0],
                "key": key[1],
                "last_at": now,
                "last_variant": tip.variant,
            }
    if not rows:
        return
    values = list(rows.values())
    # One multi-row statement per chunk: executemany would cost a round trip per row.
    for start in range(0, len(values), FIRING_CHUNK):
        stmt = insert_for(session, RuleFiring).values(values[start : start + FIRING_CHUNK])
        # Upsert: a pain report and the scheduler may evaluate the same patient at once.
        stmt = stmt.on_conflict_do_update(
            index_elements=[RuleFiring.patient_id, RuleFiring.key],
            set_={"last_at": stmt.excluded.last_at, "last_variant": stmt.excluded.last_variant},
        )
        session.execute(stmt)


def evaluate_one(
    session: Session,
    patient_id: int,
    trigger: str,
    now: dt.datetime,
    decision_key: str | None = None,
) -> Outcome:
    """Evaluate one patient (the caller commits)."""
    keys = {patient_id: decision_key} if decision_key else None
    return evaluate(session, [patient_id], trigger, now, keys).get(patient_id, Outcome(patient_id))
