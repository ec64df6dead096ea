"""The clinic as Organization and its patients as pseudonymous Patient resources."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.models import Clinic
from service.fhir.ids import Refs, clinic_system, patient_system, resource_id
from service.fhir.mapping.base import Mapper, Scope, stream
from service.fhir.terminology import LANGUAGE
from service.patients.models import PatientProfile

# A BCP 47 tag as the app stores it (en, en-GB, pt-BR); anything else is left out of the export.
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def organization_id(clinic_id: int) -> str:
    """The stable id of a clinic's Organization."""
    return resource_id(clinic_id, "organization", clinic_id)


class OrganizationMapper(Mapper):
    """The clinic that manages the patients: its name only."""

    resource_type = "Organization"

    def resources(self, session: Session, scope: Scope, refs: Refs) -> Iterator[dict[str, Any]]:
        """Yield the scope's clinic."""
        for clinic_id, name in session.execute(
            select(Clinic.id, Clinic.name).where(Clinic.id == scope.clinic_id)
        ):
            yield {
                "resourceType": "Organization",
                "id": organization_id(clinic_id),
                "identifier": [{"system": clinic_system(), "value": str(clinic_id)}],
                "active": True,
                "name": name,
            }


class PatientMapper(Mapper):
    """A patient without name, email or birth date: an identifier in the clinic's namespace."""

    resource_type = "Patient"

    def resources(self, session: Session, scope: Scope, refs: Refs) -> Iterator[dict[str, Any]]:
        """Yield the scope's patients."""
        query = scope.patients(
            select(PatientProfile.user_id, PatientProfile.locale),
            PatientProfile.user_id,
        ).order_by(PatientProfile.user_id)
        organization = refs.to("Organization", organization_id(scope.clinic_id))
        for patient_id, locale in stream(session, query):
            patient: dict[str, Any] = {
                "resourceType": "Patient",
                "id": resource_id(scope.clinic_id, "patient", patient_id),
                "identifier": [
                    {
                        "use": "usual",
                        "system": patient_system(scope.clinic_id),
                        "value": str(patient_id),
                    }
                ],
                "active": True,
                "managingOrganization": organization,
            }
            if locale and LANGUAGE_TAG.match(locale):
                patient["communication"] = [
                    {"language": {"coding": [{"system": LANGUAGE, "code": locale}], "text": locale}}
                ]
            yield patient
