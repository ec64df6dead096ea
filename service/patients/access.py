"""Which patients a caller may see: a clinic's own clinicians, and admins any clinic."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.accounts.auth import Principal
from service.errors import Forbidden, NotFound
from service.patients.models import PatientProfile


def patient_in_scope(session: Session, principal: Principal, patient_id: int) -> PatientProfile:
    """The patient's profile if the caller's clinic owns it (admins see every clinic)."""
    profile = session.get(PatientProfile, patient_id)
    if profile is None:
        raise NotFound("no such patient")
    if principal.role == "admin":
        return profile
    if principal.role != "clinician" or profile.clinic_id != principal.clinic_id:
        # 404 rather than 403 would hide existence, but clinicians need to tell the two apart
        # when a patient moved clinic; the body reveals nothing about the patient either way.
        raise Forbidden("this patient is not in your clinic")
    return profile
