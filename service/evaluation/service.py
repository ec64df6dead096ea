"""The evaluation use case: trigger -> facts -> the patient's rule set -> decision -> actions.

`evaluate(session, patient_ids, trigger, now)` works on a batch in the caller's transaction:
facts for the whole batch in a handful of queries, each rule set compiled once, then every
action written in bulk (`service.evaluation.actions`, through `service.evaluation.writes`: COPY
on PostgreSQL): the Evaluation
record (facts, the compact decision of `service.evaluation.record`, actions applied), tips
(whose pushes the outbox decides, with the rule set's quiet hours as the fallback for patients
without their own), plan target changes with a PlanChange whose reason is the rule id, progression
holds, clinician alerts and the patient's rule state (one RuleFiring row: when each rule last
fired, each tip's last variant) that carries cooldowns and tip rotation into the next
evaluation. Rules run without traces; the record re-derives them on demand.

A patient whose rule set fails (it does not compile, their facts cannot be derived, or it
raises while it runs) gets a `failed` Evaluation with the error and nothing applied, and the
rule set's owners one alert (`service.evaluation.failures`); the rest of the batch goes on.
Failures are caught per patient around pure Python work, so a batch where nothing fails pays
nothing for it.

A scheduled decision point is evaluated at most once: `decision_keys` maps patients to keys
like `schedule:2026-11-27T08:30` and Evaluation(patient_id, decision_key) is unique, so a
re-run finds the key taken and writes nothing (no duplicate tips).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules import Decision, EvaluationState
from service import bulk
from service.evaluation import actions
from service.evaluation.actions import Outcome
from service.evaluation.facts import PatientContext, compute, load_contexts
from service.evaluation.failures import (
    EVALUATION_COLUMNS,
    FAILED_COLUMNS,
    Failed,
    failed_row,
    failure,
    notify_owners,
    rule_failure,
)
from service.evaluation.models import Evaluation
from service.evaluation.record import decision_record
from service.outcomes import record as decision_records
from service.rulesets.compiled import Assignment, CompiledVersion, resolve
from service.sqlutil import among, chunks

log = logging.getLogger(__name__)

__all__ = ["Outcome", "assignments", "evaluate", "evaluate_one"]


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
    tip_rows: bool = True,
) -> dict[int, Outcome]:
    """Evaluate these patients now and apply every decision (the caller commits).

    `tip_rows=False` skips building Tip ORM objects for the outcomes (a population batch only
    counts them); the tips are written either way.
    """
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
    broken: dict[int, Exception] = {}
    computed = compute(session, (contexts[pid] for pid in todo), now, failed=broken)
    decision_records.prepare_states(
        session, {pid: state for pid, (_, state) in computed.items()}, compiled, now
    )
    ok, failed = _decide(todo, outcomes, compiled, computed, broken, trigger=trigger, now=now)
    written = _write_evaluations(
        session, outcomes, ok, failed, compiled, keys=keys, trigger=trigger, now=now
    )
    done = [outcomes[pid] for pid in ok if pid in written]
    actions.apply(session, done, contexts, compiled, now, tip_rows=tip_rows)
    if failed:
        notify_owners(
            session,
            [_failed(outcomes[pid], compiled[pid]) for pid in failed if pid in written],
            now,
        )
    return outcomes


def _decide(
    todo: list[int],
    outcomes: dict[int, Outcome],
    compiled: Mapping[int, CompiledVersion],
    computed: Mapping[int, tuple[dict[str, object], EvaluationState]],
    broken: Mapping[int, Exception],
    *,
    trigger: str,
    now: dt.datetime,
) -> tuple[list[int], list[int]]:
    """Run each patient's rule set; return who got a decision and whose evaluation failed."""
    ok: list[int] = []
    failed: list[int] = []
    for pid in todo:
        outcome = outcomes[pid]
        version = compiled[pid]
        derived = computed.get(pid)
        if derived is None:
            outcome.failure = failure("facts", broken[pid])
            failed.append(pid)
            continue
        facts, state = outcome.facts, outcome.state = derived  # kept if it fails, too
        if version.failure is None:
            try:
                # No traces here: the record keeps what re-derives them (evaluation.record).
                outcome.decision = version.ruleset.evaluate(facts, trigger, state, now, trace=False)
                ok.append(pid)
                continue
            except Exception as exc:  # the rule set fails for this patient only
                outcome.failure = rule_failure(exc)
        else:
            outcome.failure = failure("load", version.failure)
        failed.append(pid)
    return ok, failed


def _write_evaluations(
    session: Session,
    outcomes: dict[int, Outcome],
    ok: list[int],
    failed: list[int],
    compiled: Mapping[int, CompiledVersion],
    *,
    keys: Mapping[int, str],
    trigger: str,
    now: dt.datetime,
) -> set[int]:
    """Insert the Evaluation rows; a decision point another worker took meanwhile is skipped."""
    rows = [
        _evaluation_row(outcomes[pid], compiled[pid], keys.get(pid), trigger, now) for pid in ok
    ]
    evaluation_ids = bulk.insert_unless_taken(session, Evaluation, EVALUATION_COLUMNS, rows)
    if failed:
        rows = [
            _failed_row(outcomes[pid], compiled[pid], keys.get(pid), trigger, now) for pid in failed
        ]
        evaluation_ids += bulk.insert_unless_taken(session, Evaluation, FAILED_COLUMNS, rows)
    written = set()
    for pid, evaluation_id in zip(ok + failed, evaluation_ids, strict=True):
        if evaluation_id is None:
            outcomes[pid].duplicate = True
            outcomes[pid].decision = outcomes[pid].failure = None
        else:
            outcomes[pid].evaluation_id = evaluation_id
            written.add(pid)
    return written


def _taken(session: Session, keys: Mapping[int, str], ids: list[int]) -> set[int]:
    wanted = [pid for pid in ids if pid in keys]
    taken: set[int] = set()
    for part in chunks(session, wanted):
        rows = session.connection().execute(
            select(Evaluation.patient_id, Evaluation.decision_key).where(
                among(session, Evaluation.patient_id, part),
                Evaluation.decision_key.in_(sorted({keys[pid] for pid in part})),
            )
        )
        taken.update(pid for pid, key in rows.all() if keys.get(pid) == key)
    return taken


def _evaluation_row(
    outcome: Outcome, version: CompiledVersion, key: str | None, trigger: str, now: dt.datetime
) -> tuple[Any, ...]:
    decision, state = outcome.decision, outcome.state
    assert decision is not None
    assert state is not None
    return (
        outcome.patient_id,
        trigger,
        key,
        version.version_id,
        now,
        outcome.facts,
        decision_record(decision, state, version.ruleset),
        _actions(decision),
    )


def _failed_row(
    outcome: Outcome, version: CompiledVersion, key: str | None, trigger: str, now: dt.datetime
) -> tuple[Any, ...]:
    assert outcome.failure is not None
    return failed_row(
        outcome.patient_id,
        outcome.failure,
        version_id=version.version_id,
        key=key,
        trigger=trigger,
        now=now,
        facts=outcome.facts,
    )


def _failed(outcome: Outcome, version: CompiledVersion) -> Failed:
    assert outcome.failure is not None
    assert outcome.evaluation_id is not None
    return Failed(outcome.patient_id, outcome.evaluation_id, version, outcome.failure)


def _actions(decision: Decision) -> dict[str, Any]:
    actions: dict[str, Any] = {
        "tips": [
            {"tip_id": t.tip_id, "rule_id": t.rule_id, "variant": t.variant} for t in decision.tips
        ]
    }
    if decision.target is not None:
        actions["target"] = {"to": decision.target, "rule": decision.target_rule}
    if decision.hold_days:
        actions["hold_days"] = decision.hold_days
    if decision.alerts:
        actions["alerts"] = [
            {"rule_id": a.rule_id, "severity": a.severity} for a in decision.alerts
        ]
    if decision.asks:
        actions["asks"] = [ask.as_dict() for ask in decision.asks]
    return actions


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
