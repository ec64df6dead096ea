"""Plan use cases: the current target, its history, targets by day, clinician changes."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import NotFound
from service.plans.models import Plan, PlanChange


def end_of_day(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC instant a local day ends (the next local midnight)."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return midnight.astimezone(dt.UTC)


def targets_by_day(
    session: Session, patient_id: int, days: Iterable[dt.date], tz: zoneinfo.ZoneInfo
) -> dict[dt.date, int | None]:
    """For each local day, the target in force at its end (None before the first plan)."""
    ordered = sorted(days)
    if not ordered:
        return {}
    changes = session.execute(
        select(PlanChange.effective_at, PlanChange.target)
        .where(
            PlanChange.patient_id == patient_id,
            PlanChange.effective_at < end_of_day(ordered[-1], tz),
        )
        .order_by(PlanChange.effective_at, PlanChange.id)
    ).all()
    result: dict[dt.date, int | None] = {}
    index, current = 0, None
    for day in ordered:
        limit = end_of_day(day, tz)
        while index < len(changes) and changes[index].effective_at < limit:
            current = changes[index].target
            index += 1
        result[day] = current
    return result


def get_plan(session: Session, patient_id: int) -> Plan:
    """The patient's plan, or 404."""
    plan = session.get(Plan, patient_id)
    if plan is None:
        raise NotFound("no plan yet")
    return plan


def plan_view(session: Session, patient_id: int, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    """The current target and its history (newest first), dated in the patient's zone."""
    plan = get_plan(session, patient_id)
    changes = session.scalars(
        select(PlanChange)
        .where(PlanChange.patient_id == patient_id)
        .order_by(PlanChange.effective_at.desc(), PlanChange.id.desc())
    )
    return {
        "daily_target": plan.daily_target,
        "progression_held_until": plan.progression_held_until,
        "baseline_steps": plan.baseline_steps,
        "changed_at": plan.changed_at,
        "history": [
            {
                "date": change.effective_at.astimezone(tz).date(),
                "effective_at": change.effective_at,
                "target": change.target,
                "reason": change.reason,
            }
            for change in changes
        ],
    }


def change_plan(
    session: Session,
    patient_id: int,
    changes: dict[str, Any],
    *,
    actor_id: int | None,
    reason: str,
    now: dt.datetime,
) -> Plan:
    """Set the target and/or the progression hold, recording the target change."""
    # The evaluation pipeline may change this plan at the same moment: lock the row.
    plan = session.scalar(select(Plan).where(Plan.patient_id == patient_id).with_for_update())
    if plan is None:
        raise NotFound("no plan yet")
    if "daily_target" in changes and changes["daily_target"] != plan.daily_target:
        plan.daily_target = changes["daily_target"]
        plan.changed_at = now
        session.add(
            PlanChange(
                patient_id=patient_id,
                effective_at=now,
                target=plan.daily_target,
                reason=reason,
                changed_by=actor_id,
            )
        )
    if "hold_progression_until" in changes:
        plan.progression_held_until = changes["hold_progression_until"]
    if "baseline_steps" in changes:
        plan.baseline_steps = changes["baseline_steps"]
    session.flush()
    return plan
