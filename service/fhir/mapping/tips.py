"""Tips as Communications from the programme to the patient: sent, category, text, reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.fhir.ids import Refs, resource_id
from service.fhir.mapping.base import Mapper, Scope, instant, long_date, patient_ref, stream, zone
from service.fhir.terminology import (
    COMMUNICATION_CATEGORY,
    TIP_CATEGORIES,
    TIP_CATEGORY_SYSTEM,
    concept,
    label,
)
from service.patients.models import PatientProfile
from service.tips.models import Tip

# The HL7 communication-category each tip category belongs to (instruction unless listed).
KINDS = {
    "safety": ("alert", "Alert"),
    "checkin": ("reminder", "Reminder"),
    "clinician": ("notification", "Notification"),
}
INSTRUCTION = ("instruction", "Instruction")


def _feedback(row: Any) -> str | None:
    """What the patient did with the tip, in words."""
    tz = zone(row.timezone)
    parts = []
    if row.read_at is not None:
        parts.append(f"Read on {long_date(row.read_at.astimezone(tz).date())}.")
    if row.helpful is not None:
        parts.append("The patient found it helpful." if row.helpful else "Not found helpful.")
    if row.done:
        parts.append("The patient marked it done.")
    return " ".join(parts) or None


class CommunicationMapper(Mapper):
    """A tip as it reached the patient's inbox (and phone), with why it was sent."""

    resource_type = "Communication"

    def resources(self, session: Session, scope: Scope, refs: Refs) -> Iterator[dict[str, Any]]:
        """Yield the scope's tips."""
        query = scope.patients(
            select(
                Tip.id,
                Tip.patient_id,
                Tip.rule_id,
                Tip.category,
                Tip.title,
                Tip.text,
                Tip.why,
                Tip.urgent,
                Tip.created_at,
                Tip.read_at,
                Tip.helpful,
                Tip.done,
                Tip.feedback_at,
                PatientProfile.timezone,
            ),
            Tip.patient_id,
        )
        query = scope.instants(query, Tip.created_at).order_by(
            Tip.patient_id, Tip.created_at, Tip.id
        )
        for row in stream(session, query):
            yield self.communication(scope, refs, row)

    @staticmethod
    def communication(scope: Scope, refs: Refs, row: Any) -> dict[str, Any]:
        """The Communication of one tip."""
        patient = patient_ref(refs, scope.clinic_id, row.patient_id)
        kind, kind_display = KINDS.get(row.category, INSTRUCTION)
        updated = max(t for t in (row.created_at, row.read_at, row.feedback_at) if t is not None)
        communication: dict[str, Any] = {
            "resourceType": "Communication",
            "id": resource_id(scope.clinic_id, "tip", row.id),
            "meta": {"lastUpdated": instant(updated)},
            "status": "completed",
            "category": [
                concept(COMMUNICATION_CATEGORY, kind, kind_display),
                concept(TIP_CATEGORY_SYSTEM, row.category, label(TIP_CATEGORIES, row.category)),
            ],
            "priority": "urgent" if row.urgent else "routine",
            "subject": patient,
            "topic": {"text": row.title},
            "sent": instant(row.created_at, zone(row.timezone)),
            "recipient": [patient],
            "sender": {"display": "Backstride programme"},
            "payload": [{"contentString": row.text}],
            "note": [{"text": f"Sent by the programme rule '{row.rule_id}'."}],
        }
        if row.why and row.why.strip():
            communication["reasonCode"] = [{"text": row.why.strip()}]
        feedback = _feedback(row)
        if feedback:
            communication["note"].append({"text": feedback})
        return communication
