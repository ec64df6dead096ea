"""Safety episodes as `Flag` resources (SPEC §11.1, issue 15).

Flag, not Condition: an episode is not a diagnosis but a warning to everyone caring for the
patient ("red-flag symptoms reported; the walking programme is paused until a clinician has
reviewed them"), open until a clinician decides, which is what FHIR's Flag is for (a
prospective warning with a period, `active` or `inactive`). The symptoms themselves are already
in the record as pain Observations with red-flag components; the Flag carries the tier that
decided the pause, the flags in words, and when it began and ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.fhir.ids import Refs, resource_id
from service.fhir.mapping.base import Mapper, Scope, instant, patient_ref, stream, zone
from service.fhir.terminology import RED_FLAGS, coding, concept, label
from service.patients.models import PatientProfile
from service.safety.models import SafetyEpisode

FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
SAFETY_TIER_SYSTEM = "urn:backstride:codesystem:red-flag-tier"
CLINICAL = concept(FLAG_CATEGORY, "clinical", "Clinical")
# Clinician-facing names of the tiers that open an episode.
TIERS = {
    "emergency": "Emergency red-flag tier: needs emergency assessment now",
    "urgent": "Urgent red-flag tier: needs a doctor's assessment today",
}
DECISIONS = {
    "resume": "the programme resumed at the same target",
    "resume_lower": "the programme resumed at a lower target",
}


def _text(row: Any) -> str:
    flags = [label(RED_FLAGS, flag).lower() for flag in row.flags or ()]
    text = f"Red-flag safety episode ({row.tier} tier)"
    if flags:
        text += ": " + "; ".join(flags)
    if row.closed_at is None:
        return text + ". The walking programme is paused until a clinician reviews it."
    decided = DECISIONS.get(row.resolution or "", "the episode was closed")
    return text + f". Reviewed by a clinician: {decided}."


class FlagMapper(Mapper):
    """A safety episode: an active Flag while open, inactive with its end once closed."""

    resource_type = "Flag"

    def resources(self, session: Session, scope: Scope, refs: Refs) -> Iterator[dict[str, Any]]:
        """Yield the scope's safety episodes."""
        query = scope.patients(
            select(
                SafetyEpisode.id,
                SafetyEpisode.patient_id,
                SafetyEpisode.tier,
                SafetyEpisode.flags,
                SafetyEpisode.opened_at,
                SafetyEpisode.escalated_at,
                SafetyEpisode.closed_at,
                SafetyEpisode.resolution,
                PatientProfile.timezone,
            ),
            SafetyEpisode.patient_id,
        )
        query = scope.instants(query, SafetyEpisode.opened_at).order_by(
            SafetyEpisode.patient_id, SafetyEpisode.opened_at, SafetyEpisode.id
        )
        for row in stream(session, query):
            tz = zone(row.timezone)
            updated = max(t for t in (row.opened_at, row.escalated_at, row.closed_at) if t)
            period = {"start": instant(row.opened_at, tz)}
            if row.closed_at is not None:
                period["end"] = instant(row.closed_at, tz)
            yield {
                "resourceType": "Flag",
                "id": resource_id(scope.clinic_id, "safety-episode", row.id),
                "meta": {"lastUpdated": instant(updated)},
                "status": "active" if row.closed_at is None else "inactive",
                "category": [CLINICAL],
                "code": {
                    "coding": [coding(SAFETY_TIER_SYSTEM, row.tier, TIERS.get(row.tier, row.tier))],
                    "text": _text(row),
                },
                "subject": patient_ref(refs, scope.clinic_id, row.patient_id),
                "period": period,
                "author": {"display": "Backstride programme"},
            }
