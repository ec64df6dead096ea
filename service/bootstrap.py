"""First-run setup: default rule set for every clinic, demo data (evaluation-pipeline issue).

`run(settings, demo=...)` (called by `flask setup`, i.e. `make run`) installs and publishes the
bundled rule set `low-back-walking` for every clinic and, when asked (in development, or with
`flask setup --demo`; never in production) and only once, seeds the demo clinic
of SPEC §2: clinician `clinician@example.org` / `demo-clinician` and one patient per sandbox
persona (password `demo-patient`), each linked to the `sandbox` wearable with the persona name
as its token and enrolled four weeks before the seed's clock. Those four weeks are replayed
through the real use cases (`service.demo`: syncs, decisions, pain reports), so the console's
Today list opens on a clinic with a past: the red-flag patient's open safety episode first, a
warning alert, pain, and patients on track. The first sync after setup is due at once.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.wearables.sandbox import PERSONAS, SandboxProvider
from service.accounts.models import Clinic, User
from service.accounts.service import create_user, get_or_create_clinic
from service.config import Settings
from service.connections.models import WearableConnection
from service.crypto import cipher_for
from service.db import utcnow
from service.demo import DemoPatient, replay
from service.evaluation.hooks import enrol_patient
from service.extensions import db
from service.patients.models import PatientProfile
from service.rulesets.service import ensure_default

log = logging.getLogger(__name__)
DEMO_CLINIC = "Backstride Demo Clinic"
DEMO_CLINICIAN = ("clinician@example.org", "demo-clinician")
DEMO_PATIENT_PASSWORD = "demo-patient"  # noqa: S105 - a documented demo account
PROGRAM_DAYS = 28
# A spread of zones, so the demo shows decision times in each patient's own day.
DEMO_ZONES = {
    "steady_improver": "Europe/London",
    "pain_flare_week3": "America/New_York",
    "plateau": "Europe/Berlin",
    "low_adherence": "America/Los_Angeles",
    "red_flag": "Europe/London",
    "spinal_stenosis": "Australia/Sydney",
}


def ensure_clinic_defaults(session: Session, clinic: Clinic) -> None:
    """Install and publish the default rule set for a clinic (idempotent)."""
    ensure_default(session, clinic, utcnow())


def run(settings: Settings, *, demo: bool, now: dt.datetime | None = None) -> None:
    """Install defaults for every clinic; with `demo`, seed the demo clinic once (its history
    ends at `now`, the current time unless a test pins it)."""
    with db.transaction() as session:
        if demo and not demo_seeded(session):
            seed_demo(session, settings, now or utcnow())
        for clinic in session.scalars(select(Clinic)):
            ensure_clinic_defaults(session, clinic)


def seeds_demo(settings: Settings, asked: bool | None) -> bool:
    """Whether setup seeds the demo: as asked, else in development only."""
    return settings.env == "development" if asked is None else asked


def demo_seeded(session: Session) -> bool:
    """Whether the demo clinician exists."""
    return session.scalar(select(User.id).where(User.email == DEMO_CLINICIAN[0])) is not None


def seed_demo(session: Session, settings: Settings, now: dt.datetime) -> list[int]:
    """Create the demo clinic, its clinician and one sandbox-linked patient per persona, with
    their four weeks up to `now` replayed (`service.demo`); return the patients' ids."""
    clinic = get_or_create_clinic(session, DEMO_CLINIC)
    ensure_clinic_defaults(session, clinic)
    email, password = DEMO_CLINICIAN
    clinician = create_user(
        session, settings, email=email, password=password, role="clinician", clinic=clinic
    )
    cipher = cipher_for(settings)
    patients = []
    for persona in PERSONAS:
        zone = DEMO_ZONES.get(persona, "Europe/London")
        user = create_user(
            session,
            settings,
            email=f"{persona.replace('_', '-')}@demo.example",
            password=DEMO_PATIENT_PASSWORD,
            role="patient",
            clinic=clinic,
        )
        start = now - dt.timedelta(days=PROGRAM_DAYS)
        profile = PatientProfile(
            user_id=user.id,
            clinic_id=clinic.id,
            clinician_id=clinician.id,
            timezone=zone,
            conditions=["spinal_stenosis"] if persona == "spinal_stenosis" else [],
            primary_source="sandbox",
            enrolled_at=start,
        )
        session.add(profile)
        session.flush()
        enrol_patient(session, profile, start)
        token = SandboxProvider.token_for(persona)
        connection = WearableConnection(
            patient_id=user.id,
            provider="sandbox",
            status="active",
            access_token_enc=cipher.encrypt(token.access_token),
            refresh_token_enc=cipher.encrypt(token.refresh_token),
            scopes=list(token.scopes),
            provider_user_id=token.provider_user_id,
            next_sync_at=now,
        )
        session.add(connection)
        session.flush()
        replay(session, DemoPatient(user.id, clinic.id, persona, zone, start, connection), now)
        patients.append(user.id)
    session.flush()
    log.info("seeded demo clinic %r: clinician %s, %d patients", DEMO_CLINIC, email, len(patients))
    return patients
