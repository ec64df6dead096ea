"""Entry points other packages call when new data arrives (owned by the evaluation pipeline).

PLACEHOLDER until the evaluation pipeline lands: the bodies below are replaced by real
evaluation. Signatures are the contract.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.tips.models import Tip


def after_pain_report(session: Session, patient_id: int, now: dt.datetime) -> list[Tip]:
    """Evaluate at once after a pain report; return the tips it created (same transaction)."""
    return []


def after_exercise_report(session: Session, patient_id: int, now: dt.datetime) -> list[Tip]:
    """Evaluate after an exercise report; return the tips it created (same transaction)."""
    return []


def after_activity(session: Session, patient_ids: list[int], now: dt.datetime) -> None:
    """Note that new activity arrived (evaluation may be deferred to a job)."""


def enrol_patient(session: Session, profile: PatientProfile, now: dt.datetime) -> Plan:
    """Give a new patient their plan: the initial target of the rule set they follow."""
    plan = Plan(patient_id=profile.user_id, daily_target=4000, changed_at=now)
    session.add(plan)
    session.add(
        PlanChange(patient_id=profile.user_id, effective_at=now, target=4000, reason="initial")
    )
    return plan
