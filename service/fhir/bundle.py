"""One patient's programme as a FHIR R4 Bundle of type `collection`, written as it streams."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from service.accounts.auth import Principal
from service.audit.service import record
from service.errors import Conflict, field_error
from service.fhir.ids import BUNDLE
from service.fhir.mapping import MAPPERS, Scope
from service.fhir.mapping.base import instant, zone
from service.patients.access import patient_in_scope
from service.plans.service import end_of_day


def patient_scope(
    session: Session,
    principal: Principal,
    patient_id: int,
    *,
    first: dt.date | None,
    last: dt.date | None,
    now: dt.datetime,
) -> Scope:
    """Check the caller may read the patient, fix the window of local days, audit the read."""
    profile = patient_in_scope(session, principal, patient_id)
    if profile.clinic_id is None:
        # Ids and identifiers are namespaced by clinic; a patient outside one has no record here.
        raise Conflict("this patient is not in a clinic")
    tz = zone(profile.timezone)
    # Without `from`, everything up to `to` (data synced from before enrolment included).
    last = last or now.astimezone(tz).date()
    if first is not None and first > last:
        raise field_error("from", "must not be after 'to'")
    start = None
    if first is not None:
        start = dt.datetime.combine(first, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    record(
        session, principal, "fhir.bundle.read", "patient", profile.user_id,
        {"from": first.isoformat() if first else None, "to": last.isoformat()},
    )  # fmt: skip
    return Scope(
        clinic_id=profile.clinic_id,
        now=now,
        patient_id=profile.user_id,
        first_day=first,
        last_day=last,
        start=start,
        end=end_of_day(last, tz),
    )


def bundle_chunks(session: Session, scope: Scope) -> Iterator[str]:
    """The Bundle's JSON in pieces: header, one entry per resource, closing brackets."""
    header: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant(scope.now)},
        "type": "collection",
        "timestamp": instant(scope.now),
    }
    yield json.dumps(header)[:-1] + ', "entry": ['
    separator = ""
    for mapper in MAPPERS:
        for resource in mapper.resources(session, scope, BUNDLE):
            entry = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
            yield separator + json.dumps(entry, separators=(",", ":"))
            separator = ","
    yield "]}"
