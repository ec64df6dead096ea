"""The daily step target as Goals: one Goal per target the patient has had.

A target change is a new objective (walk N steps a day, from a date), not an edit of the old one:
each PlanChange becomes its own Goal, `active` while in force and `completed` ("no longer being
sought") once replaced, with the replacement named in `statusReason`. A receiving record keeps
the whole history with stable ids, which one Goal with version history could not carry in a
collection Bundle or NDJSON (neither holds earlier versions of a resource).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.fhir.ids import Refs, resource_id
from service.fhir.mapping.base import (
    AnyRow,
    Mapper,
    Scope,
    long_date,
    patient_ref,
    stream,
    thousands,
    zone,
)
from service.fhir.terminology import GOAL_CATEGORY, STEPS_LOINC, STEPS_PER_DAY, concept, loinc
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange

PHYSIOTHERAPY = concept(GOAL_CATEGORY, "physiotherapy", "Physiotherapy")
STEPS_CODE = loinc(STEPS_LOINC)


def _origin(reason: str) -> tuple[str, str]:
    """Who set a target, and a sentence saying so."""
    if reason == "initial":
        return "Backstride programme", "Starting target when the programme began."
    if reason == "clinician":
        return "Care team", "Set by a clinician."
    return "Backstride programme", f"Set by the programme rule '{reason}'."


class GoalMapper(Mapper):
    """Each step target in force during the scope, newest `active`, earlier ones `completed`."""

    resource_type = "Goal"

    def resources(self, session: Session, scope: Scope, refs: Refs) -> Iterator[dict[str, Any]]:
        """Yield a Goal per plan change whose period overlaps the scope."""
        order = (PlanChange.effective_at, PlanChange.id)
        history = scope.patients(
            select(
                PlanChange.id,
                PlanChange.patient_id,
                PlanChange.effective_at,
                PlanChange.target,
                PlanChange.reason,
                func.lead(PlanChange.effective_at, type_=PlanChange.effective_at.type)
                .over(partition_by=PlanChange.patient_id, order_by=order)
                .label("next_at"),
                func.lead(PlanChange.target, type_=PlanChange.target.type)
                .over(partition_by=PlanChange.patient_id, order_by=order)
                .label("next_target"),
                PatientProfile.timezone,
            ),
            PlanChange.patient_id,
        ).subquery()
        query = select(history, Plan.progression_held_until).outerjoin(
            Plan, Plan.patient_id == history.c.patient_id
        )
        if scope.end is not None:
            query = query.where(history.c.effective_at < scope.end)
        if scope.start is not None:
            query = query.where((history.c.next_at.is_(None)) | (history.c.next_at > scope.start))
        query = query.order_by(history.c.patient_id, history.c.effective_at, history.c.id)
        for row in stream(session, query):
            yield self.goal(scope, refs, row)

    @staticmethod
    def goal(scope: Scope, refs: Refs, row: AnyRow) -> dict[str, Any]:
        """The Goal of one plan change."""
        tz = zone(row.timezone)
        who, why = _origin(row.reason)
        goal: dict[str, Any] = {
            "resourceType": "Goal",
            "id": resource_id(scope.clinic_id, "goal", row.id),
            "lifecycleStatus": "active" if row.next_at is None else "completed",
            "category": [PHYSIOTHERAPY],
            "description": {"text": f"Walk at least {thousands(row.target)} steps a day"},
            "subject": patient_ref(refs, scope.clinic_id, row.patient_id),
            "startDate": row.effective_at.astimezone(tz).date().isoformat(),
            "target": [
                {
                    "measure": STEPS_CODE,
                    "detailQuantity": {"value": row.target, "comparator": ">=", **STEPS_PER_DAY},
                }
            ],
            "expressedBy": {"display": who},
            "note": [{"text": why}],
        }
        if row.next_at is not None:
            goal["statusDate"] = row.next_at.astimezone(tz).date().isoformat()
            goal["statusReason"] = (
                f"Replaced by a target of {thousands(row.next_target)} steps a day."
            )
        else:
            held: dt.datetime | None = row.progression_held_until
            if held is not None and held > scope.now:
                day = long_date(held.astimezone(tz).date())
                goal["note"].append({"text": f"Increases are on hold until {day}."})
        return goal
