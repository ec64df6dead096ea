"""Record factories and the named users most tests need."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Flask

from service.accounts.models import Clinic, User
from service.accounts.security import TokenClaims, issue_token
from service.accounts.service import create_user, get_or_create_clinic
from service.extensions import db, get_settings
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange

PASSWORD = "correct horse battery"


@dataclass
class Seed:
    """Ids and tokens of the named users."""

    clinic_id: int
    other_clinic_id: int
    clinician: int
    other_clinician: int
    admin: int
    patient_a: int
    patient_b: int
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        """Authorization headers for a named user ('anonymous' gets none)."""
        if who == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def token_for(user: User) -> str:
    """A valid access token for a user."""
    claims = TokenClaims(
        user_id=user.id, role=user.role, clinic_id=user.clinic_id, version=user.token_version
    )
    return issue_token(claims, get_settings())


def make_patient(
    clinic: Clinic | None,
    *,
    email: str,
    enrolled_at: dt.datetime,
    clinician: User | None = None,
    timezone: str = "Europe/London",
    target: int = 4000,
) -> User:
    """Add a patient with a profile and an initial plan, enrolled at the test's clock (caller
    commits). `enrolled_at` is required: a default read from the real clock would let a test
    that pins its time enrol patients on another day."""
    session = db.session()
    user = create_user(
        session, get_settings(), email=email, password=PASSWORD, role="patient", clinic=clinic
    )
    enrolled = enrolled_at
    session.add(
        PatientProfile(
            user_id=user.id,
            clinic_id=clinic.id if clinic else None,
            clinician_id=clinician.id if clinician else None,
            timezone=timezone,
            enrolled_at=enrolled,
        )
    )
    session.add(Plan(patient_id=user.id, daily_target=target, changed_at=enrolled))
    session.add(
        PlanChange(patient_id=user.id, effective_at=enrolled, target=target, reason="initial")
    )
    session.flush()
    return user


def seed_named_users(app: Flask, now: dt.datetime) -> Seed:
    """Create owner/member/outsider style users in two clinics, the patients enrolled at `now`."""
    with app.app_context(), db.transaction() as session:
        settings = get_settings()
        clinic = get_or_create_clinic(session, "North Clinic")
        other = get_or_create_clinic(session, "South Clinic")
        clinician = create_user(
            session,
            settings,
            email="doc@north.example",
            password=PASSWORD,
            role="clinician",
            clinic=clinic,
        )
        other_clinician = create_user(
            session,
            settings,
            email="doc@south.example",
            password=PASSWORD,
            role="clinician",
            clinic=other,
        )
        admin = create_user(
            session,
            settings,
            email="admin@example.org",
            password=PASSWORD,
            role="admin",
            clinic=None,
        )
        patient_a = make_patient(
            clinic, email="a@patients.example", clinician=clinician, enrolled_at=now
        )
        patient_b = make_patient(
            clinic,
            email="b@patients.example",
            clinician=clinician,
            timezone="America/New_York",
            enrolled_at=now,
        )
        users = {
            "clinician": clinician,
            "other_clinician": other_clinician,
            "admin": admin,
            "patient_a": patient_a,
            "patient_b": patient_b,
        }
        tokens = {name: token_for(user) for name, user in users.items()}
        return Seed(
            clinic_id=clinic.id,
            other_clinic_id=other.id,
            clinician=clinician.id,
            other_clinician=other_clinician.id,
            admin=admin.id,
            patient_a=patient_a.id,
            patient_b=patient_b.id,
            tokens=tokens,
        )
