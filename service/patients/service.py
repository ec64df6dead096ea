"""Patient use cases: registration, the profile they edit, the devices they register."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from integrations.netguard import Resolver, UnresolvableEndpoint, UnsafeEndpoint, public_endpoint
from service import ports
from service.accounts.models import User
from service.accounts.service import (
    IssuedToken,
    check_timezone,
    claim_invite,
    create_user,
    token_for_user,
)
from service.config import Settings
from service.errors import Conflict, NotFound, field_error
from service.patients.models import Device, PatientProfile
from service.sqlutil import insert_for


def register_patient(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password: str,
    timezone: str,
    invite_code: str | None,
    now: dt.datetime,
) -> IssuedToken:
    """Create a patient, their profile and plan; an invite links clinic, clinician, rule set."""
    check_timezone(timezone)
    user = create_user(
        session, settings, email=email, password=password, role="patient", clinic=None
    )
    profile = PatientProfile(user_id=user.id, timezone=timezone, enrolled_at=now)
    if invite_code:
        invite = claim_invite(session, invite_code.strip(), user.id, now)
        user.clinic_id = invite.clinic_id
        profile.clinic_id = invite.clinic_id
        profile.clinician_id = invite.clinician_id
        profile.ruleset_id = invite.ruleset_id
    session.add(profile)
    session.flush()
    ports.evaluation().enrol_patient(session, profile, now)
    return token_for_user(user, settings, now)


def get_profile(session: Session, patient_id: int) -> PatientProfile:
    """The patient's profile, or 404."""
    profile = session.get(PatientProfile, patient_id)
    if profile is None:
        raise NotFound("no patient profile")
    return profile


# Built once: uploads run these, and building the ORM statements costs more than running them.
_PROFILE_ZONE = select(PatientProfile.timezone).where(PatientProfile.user_id == bindparam("id"))
_NOTE_UPLOAD = (
    update(PatientProfile)
    .where(PatientProfile.user_id == bindparam("id"))
    .values(last_upload_at=bindparam("now"))
    .returning(PatientProfile.user_id)
)


def profile_timezone(session: Session, patient_id: int) -> str:
    """The patient's time zone (one column, no ORM load), or 404."""
    zone = session.connection().scalar(_PROFILE_ZONE, {"id": patient_id})
    if zone is None:
        raise NotFound("no patient profile")
    return str(zone)


def note_upload(session: Session, patient_id: int, now: dt.datetime) -> None:
    """Record that the patient's phone uploaded now (the worklist's "last sync"), or 404.

    Best run last in the upload's transaction: it locks the patient's profile row until the
    commit, and two uploads of one patient would otherwise wait on each other for longer.
    """
    if session.connection().scalar(_NOTE_UPLOAD, {"id": patient_id, "now": now}) is None:
        raise NotFound("no patient profile")


def local_today(profile: PatientProfile, now: dt.datetime) -> dt.date:
    """Today's date in the patient's zone."""
    return now.astimezone(zoneinfo.ZoneInfo(profile.timezone)).date()


def profile_view(session: Session, profile: PatientProfile) -> dict[str, Any]:
    """The profile as the API shows it."""
    user = session.get(User, profile.user_id)
    quiet = None
    if profile.quiet_start and profile.quiet_end:
        quiet = {"start": profile.quiet_start, "end": profile.quiet_end}
    return {
        "id": profile.user_id,
        "email": user.email if user else None,
        "timezone": profile.timezone,
        "locale": profile.locale,
        "conditions": list(profile.conditions or []),
        "quiet_hours": quiet,
        "max_tips_per_day": profile.max_tips_per_day,
        "shoes_changed_on": profile.shoes_changed_on,
        "primary_source": profile.primary_source,
        "clinic_id": profile.clinic_id,
        "clinician_id": profile.clinician_id,
        "enrolled_at": profile.enrolled_at,
    }


def join_clinic(
    session: Session, patient_id: int, invite_code: str, now: dt.datetime
) -> PatientProfile:
    """Join the clinic of an invite (409 for a patient who already has one).

    The invite's clinician and rule set come with it. The patient's safety episodes, open or
    not, are from now on their new clinic's to see and close.
    """
    profile = get_profile(session, patient_id)
    if profile.clinic_id is not None:
        raise Conflict("you already belong to a clinic")
    invite = claim_invite(session, invite_code.strip(), patient_id, now)
    user = session.get(User, patient_id)
    assert user is not None
    user.clinic_id = profile.clinic_id = invite.clinic_id
    profile.clinician_id = invite.clinician_id
    profile.ruleset_id = invite.ruleset_id
    session.flush()
    # The clinic's rule set may decide at other times.
    ports.evaluation().reschedule(session, profile, now)
    return profile


def update_profile(
    session: Session, patient_id: int, changes: dict[str, Any], now: dt.datetime
) -> PatientProfile:
    """Apply a partial update to the patient's profile."""
    profile = get_profile(session, patient_id)
    if "timezone" in changes and changes["timezone"] != profile.timezone:
        profile.timezone = check_timezone(changes["timezone"])
        # Decision times are patient-local: the next one moves with the zone.
        ports.evaluation().reschedule(session, profile, now)
    if "locale" in changes:
        profile.locale = changes["locale"]
    if "conditions" in changes:
        profile.conditions = sorted(set(changes["conditions"]))
    if "quiet_hours" in changes:
        quiet = changes["quiet_hours"]
        profile.quiet_start = quiet["start"] if quiet else None
        profile.quiet_end = quiet["end"] if quiet else None
    if "max_tips_per_day" in changes:
        profile.max_tips_per_day = changes["max_tips_per_day"]
    if "shoes_changed_on" in changes:
        changed_on = changes["shoes_changed_on"]
        if changed_on is not None and changed_on > local_today(profile, now):
            raise field_error("shoes_changed_on", "must not be in the future")
        profile.shoes_changed_on = changed_on
    if "primary_source" in changes:
        profile.primary_source = changes["primary_source"]
    session.flush()
    return profile


def check_web_endpoint(token: str, resolver: Resolver) -> None:
    """Refuse (422 on `token`) a Web Push endpoint whose host does not resolve to public addresses.

    The sender checks again at every send and connects to the address it checked, so a name
    re-pointed inward later is refused then too.
    """
    endpoint = json.loads(token)["endpoint"]  # the schema has checked its shape
    try:
        public_endpoint(endpoint, resolver)
    except UnresolvableEndpoint as exc:
        raise field_error("token", f"the subscription endpoint does not resolve ({exc})") from exc
    except UnsafeEndpoint as exc:
        message = f"the subscription endpoint must be a public host: {exc}"
        raise field_error("token", message) from exc


def register_device(
    session: Session, patient_id: int, platform: str, token: str, now: dt.datetime
) -> int:
    """Register a push token; the same token again is a no-op that moves it to this patient."""
    # An upsert, not select-then-insert: two registrations of one token can race.
    stmt = insert_for(session, Device).values(
        patient_id=patient_id, platform=platform, token=token, created_at=now, last_seen_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Device.platform, Device.token],
        set_={"patient_id": stmt.excluded.patient_id, "last_seen_at": stmt.excluded.last_seen_at},
    ).returning(Device.id)
    device_id: int = session.execute(stmt).scalar_one()
    return device_id


def delete_device(session: Session, patient_id: int, device_id: int) -> None:
    """Forget one of the patient's devices (404 when it is not theirs)."""
    result = session.execute(
        delete(Device)
        .where(Device.id == device_id, Device.patient_id == patient_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound("no such device")
