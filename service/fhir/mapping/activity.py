"""Daily steps as Observations (LOINC 41950-7), and the sources they came from as Devices.

One Observation per local day with data. Sources are never summed: the value is the day's
effective steps (the patient's primary source when it has the day, otherwise the largest), and
`device` points at the source it came from; the other sources' values are named in a note.
A day's total is measured over the whole local day, so `effectivePeriod` is that day, from local
midnight to the next with the zone's offsets (a DST day is 23 or 25 hours long).
Steps entered by hand have no device; the patient is their performer.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.activity.models import DailyActivity
from service.fhir.ids import Refs, resource_id, shared_id
from service.fhir.mapping.base import (
    AnyRow,
    Mapper,
    Scope,
    day_period,
    instant,
    patient_ref,
    stream,
    thousands,
    zone,
)
from service.fhir.terminology import (
    SOURCES,
    STEP_SOURCE_SYSTEM,
    STEPS_LOINC,
    STEPS_PER_DAY,
    concept,
    label,
    loinc,
    observation_category,
)
from service.patients.models import PatientProfile

MANUAL = "manual"
ACTIVITY = observation_category("activity", "Activity")
STEPS_CODE = loinc(STEPS_LOINC)


def device_id(clinic_id: int, patient_id: int, source: str) -> str:
    """The stable id of the Device standing for one patient's source."""
    return shared_id(clinic_id, "device", patient_id, source)


def chosen(rows: Sequence[AnyRow], primary: str | None) -> AnyRow:
    """The row whose value is the day's effective steps (primary source, else the largest)."""
    for row in rows:
        if row.source == primary:
            return row
    # Ties go to the first source by name, so the device named is the same on every export.
    return min(rows, key=lambda row: (-row.steps, row.source))


class DeviceMapper(Mapper):
    """A wearable or phone platform a patient's steps came from (one per patient and source)."""

    resource_type = "Device"

    def resources(self, session: Session, scope: Scope, refs: Refs) -> Iterator[dict[str, Any]]:
        """Yield a Device per (patient, source) with steps in the scope."""
        query = scope.patients(
            select(DailyActivity.patient_id, DailyActivity.source).distinct(),
            DailyActivity.patient_id,
        ).where(DailyActivity.source != MANUAL)
        query = scope.days(query, DailyActivity.date)
        query = query.order_by(DailyActivity.patient_id, DailyActivity.source)
        for patient_id, source in stream(session, query):
            name = label(SOURCES, source)
            yield {
                "resourceType": "Device",
                "id": device_id(scope.clinic_id, patient_id, source),
                "status": "active",
                "deviceName": [{"name": name, "type": "user-friendly-name"}],
                "type": concept(STEP_SOURCE_SYSTEM, source, name),
                "patient": patient_ref(refs, scope.clinic_id, patient_id),
            }


class StepsMapper(Mapper):
    """One Observation per patient and local day with data: the day's effective steps."""

    resource_type = "Observation"

    def resources(self, session: Session, scope: Scope, refs: Refs) -> Iterator[dict[str, Any]]:
        """Yield the scope's daily step totals, grouped per day as the rows stream in."""
        query = scope.patients(
            select(
                DailyActivity.patient_id,
                DailyActivity.date,
                DailyActivity.source,
                DailyActivity.steps,
                DailyActivity.updated_at,
                PatientProfile.primary_source,
                PatientProfile.timezone,
            ),
            DailyActivity.patient_id,
        )
        query = scope.days(query, DailyActivity.date).order_by(
            DailyActivity.patient_id, DailyActivity.date, DailyActivity.source
        )
        rows = stream(session, query)
        for (patient_id, day), group in itertools.groupby(rows, lambda r: (r.patient_id, r.date)):
            yield self.observation(scope, refs, patient_id, day, list(group))

    @staticmethod
    def observation(
        scope: Scope, refs: Refs, patient_id: int, day: dt.date, rows: list[AnyRow]
    ) -> dict[str, Any]:
        """The Observation of one patient's day from its per-source rows."""
        first = rows[0]
        tz = zone(first.timezone)
        row = chosen(rows, first.primary_source)
        updated = max(r.updated_at for r in rows)
        subject = patient_ref(refs, scope.clinic_id, patient_id)
        today = scope.now.astimezone(tz).date()
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": resource_id(scope.clinic_id, "steps", patient_id, day.isoformat()),
            "meta": {"lastUpdated": instant(updated)},
            # Today's total still grows; earlier days are complete.
            "status": "preliminary" if day >= today else "final",
            "category": [ACTIVITY],
            "code": STEPS_CODE,
            "subject": subject,
            "effectivePeriod": day_period(day, tz),
            "issued": instant(row.updated_at),
            "performer": [subject],
            "valueQuantity": {"value": row.steps, **STEPS_PER_DAY},
        }
        if row.source != MANUAL:
            observation["device"] = refs.to(
                "Device",
                device_id(scope.clinic_id, patient_id, row.source),
                label(SOURCES, row.source),
            )
        others = [r for r in rows if r is not row]
        if others:
            listed = "; ".join(
                f"{label(SOURCES, r.source)}: {thousands(r.steps)} steps" for r in others
            )
            observation["note"] = [
                {"text": f"Counted from {label(SOURCES, row.source)}. Other sources: {listed}."}
            ]
        return observation
