"""Pain reports as Observations (LOINC 72514-3, 0-10), red flags as labelled components."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.fhir.ids import Refs, resource_id
from service.fhir.mapping.base import Mapper, Scope, instant, patient_ref, stream, zone
from service.fhir.terminology import (
    PAIN_LOINC,
    RED_FLAG_SYSTEM,
    RED_FLAGS,
    SCORE,
    concept,
    label,
    loinc,
    observation_category,
)
from service.patients.models import PatientProfile
from service.reports.models import PainReport

SURVEY = observation_category("survey", "Survey")
PAIN_CODE = loinc(PAIN_LOINC)


class PainMapper(Mapper):
    """A reported 0-10 pain score; each red-flag symptom reported with it is a component."""

    resource_type = "Observation"

    def resources(self, session: Session, scope: Scope, refs: Refs) -> Iterator[dict[str, Any]]:
        """Yield the scope's pain reports."""
        query = scope.patients(
            select(
                PainReport.id,
                PainReport.patient_id,
                PainReport.score,
                PainReport.recorded_at,
                PainReport.location,
                PainReport.red_flags,
                PainReport.note,
                PainReport.created_at,
                PatientProfile.timezone,
            ),
            PainReport.patient_id,
        )
        query = scope.instants(query, PainReport.recorded_at).order_by(
            PainReport.patient_id, PainReport.recorded_at, PainReport.id
        )
        for row in stream(session, query):
            subject = patient_ref(refs, scope.clinic_id, row.patient_id)
            observation: dict[str, Any] = {
                "resourceType": "Observation",
                "id": resource_id(scope.clinic_id, "pain", row.id),
                "meta": {"lastUpdated": instant(row.created_at)},
                "status": "final",
                "category": [SURVEY],
                "code": PAIN_CODE,
                "subject": subject,
                "effectiveDateTime": instant(row.recorded_at, zone(row.timezone)),
                "issued": instant(row.created_at),
                "performer": [subject],
                "valueQuantity": {"value": row.score, **SCORE},
            }
            if row.location and row.location.strip():
                observation["bodySite"] = {"text": row.location.strip().replace("_", " ")}
            if row.note and row.note.strip():
                observation["note"] = [{"text": row.note.strip()}]
            if row.red_flags:
                observation["component"] = [
                    {
                        "code": concept(RED_FLAG_SYSTEM, flag, label(RED_FLAGS, flag)),
                        "valueBoolean": True,
                    }
                    for flag in row.red_flags
                ]
            yield observation
