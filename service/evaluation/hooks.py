"""Entry points other packages call when new data arrives (owned by the evaluation pipeline).

Every hook works in the caller's session and transaction, the caller's new data already
written: the caller commits once. The evaluation runs in a savepoint: a patient whose rule set
fails gets a failed evaluation and no tips (`service.evaluation.failures`), and should the
evaluation fail in any other way, it is rolled back alone and logged. Either way the report or
upload that triggered it is stored: data first, evaluation second.

- `after_pain_report` / `after_exercise_report`: evaluate at once (triggers `pain_report`,
  `exercise_report`) and return the tips written (ids set), for the response.
- `after_activity`: mark the patients a sync, a webhook or an upload touched for an `activity`
  evaluation, which the scheduler's `evaluate_pending` job runs within a minute, once for many
  uploads (`service.evaluation.pending`): an upload costs a write, not an evaluation. Rules
  that should only speak at decision times say `on: [schedule]`.
- `enrol_patient`: the plan at the rule set's `settings.target.initial`, and the first
  scheduled decision time.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from service.errors import is_connection_loss
from service.evaluation import pending, service
from service.evaluation.schedule import next_decision
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.rulesets.compiled import Assignment, resolve
from service.tips.models import WrittenTip

log = logging.getLogger(__name__)


def after_pain_report(session: Session, patient_id: int, now: dt.datetime) -> list[WrittenTip]:
    """Evaluate at once after a pain report; return the tips it created (same transaction)."""
    outcome = _evaluate_apart(session, [patient_id], "pain_report", now).get(patient_id)
    return outcome.tips if outcome else []


def after_exercise_report(session: Session, patient_id: int, now: dt.datetime) -> list[WrittenTip]:
    """Evaluate after an exercise report; return the tips it created (same transaction)."""
    outcome = _evaluate_apart(session, [patient_id], "exercise_report", now).get(patient_id)
    return outcome.tips if outcome else []


def after_activity(session: Session, patient_ids: list[int], now: dt.datetime) -> None:
    """Mark the patients whose activity data just arrived for an `activity` evaluation."""
    pending.mark(session, patient_ids, now)


def _evaluate_apart(
    session: Session, patient_ids: list[int], trigger: str, now: dt.datetime
) -> dict[int, service.Outcome]:
    """Evaluate in a savepoint, so nothing that goes wrong there undoes the caller's data."""
    try:
        with session.begin_nested():
            return service.evaluate(session, patient_ids, trigger, now)
    except Exception as exc:
        if is_connection_loss(exc):
            # The savepoint cannot save the data either: the whole transaction is gone, and
            # going on would only fail at commit with a PendingRollbackError (a 500).
            raise
        log.exception(
            "%s evaluation of patients %s failed; their data is kept", trigger, patient_ids
        )
        return {}


def enrol_patient(session: Session, profile: PatientProfile, now: dt.datetime) -> Plan:
    """Give a new patient their plan: the initial target of the rule set they follow."""
    session.flush()
    compiled = resolve(
        session, [Assignment(profile.user_id, profile.clinic_id, profile.ruleset_id)]
    )
    ruleset = compiled[profile.user_id].ruleset
    target = int(ruleset.settings.target_initial)
    plan = Plan(patient_id=profile.user_id, daily_target=target, changed_at=now)
    session.add(plan)
    session.add(
        PlanChange(patient_id=profile.user_id, effective_at=now, target=target, reason="initial")
    )
    profile.next_decision_at = next_decision(profile.timezone, ruleset.settings.decision_times, now)
    return plan


def reschedule(session: Session, profile: PatientProfile, now: dt.datetime) -> None:
    """Recompute the next decision time (call after the patient's time zone changes)."""
    compiled = resolve(
        session, [Assignment(profile.user_id, profile.clinic_id, profile.ruleset_id)]
    )
    times = compiled[profile.user_id].ruleset.settings.decision_times
    profile.next_decision_at = next_decision(profile.timezone, times, now)
