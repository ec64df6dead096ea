"""Authorization rows for the FHIR routes: a clinic's own staff; admins every clinic."""

from __future__ import annotations

import zlib
from typing import Any

from service.db import utcnow
from service.extensions import db
from service.fhir.models import FhirExport, FhirExportPart
from tests.support.factories import Seed

EXPORT_ID = "00000000-0000-4000-8000-00000000f41e"


def make_refs(seed: Seed) -> dict[str, Any]:
    """A finished export of North's clinic by its clinician: `export_id`, `resource_type`."""
    now = utcnow()
    with db.transaction() as session:
        session.add(
            FhirExport(
                id=EXPORT_ID,
                clinic_id=seed.clinic_id,
                requested_by=seed.clinician,
                status="completed",
                types=["Patient"],
                request_url="http://localhost/v1/clinician/fhir/$export",
                requested_at=now,
                started_at=now,
                finished_at=now,
            )
        )
        session.flush()
        line = b'{"resourceType":"Patient","id":"x"}\n'
        session.add(
            FhirExportPart(
                export_id=EXPORT_ID,
                resource_type="Patient",
                seq=0,
                count=1,
                data=zlib.compress(line),
            )
        )
    return {"export_id": EXPORT_ID, "resource_type": "Patient"}


def staff(status: int, *, other_clinic: int, admin: int | None = None) -> dict[str, int]:
    """Staff get `status`; South's clinician `other_clinic` on North's records."""
    return {
        "anonymous": 401,
        "patient_b": 403,
        "other_clinician": other_clinic,
        "clinician": status,
        "admin": status if admin is None else admin,
        "patient_a": 403,
    }


ROWS = [
    ("GET", "/v1/clinician/patients/{patient_id}/fhir", staff(200, other_clinic=403)),
    # Without Prefer: respond-async the export streams at once; South exports South. The admin
    # belongs to no clinic and must name one (422).
    ("GET", "/v1/clinician/fhir/$export", staff(200, other_clinic=200, admin=422)),
    # Another clinic's export is not found (its id says nothing to them).
    ("GET", "/v1/clinician/fhir/exports/{export_id}", staff(200, other_clinic=404)),
    (
        "GET",
        "/v1/clinician/fhir/exports/{export_id}/files/{resource_type}.ndjson",
        staff(200, other_clinic=404),
    ),
    # The clinician cancels it; after that it is gone for the admin too.
    ("DELETE", "/v1/clinician/fhir/exports/{export_id}", staff(202, other_clinic=404, admin=404)),
]
