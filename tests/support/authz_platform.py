"""Authorization rows for the auth, patient, clinician-read and operations routes."""

from __future__ import annotations

from tests.support.factories import PASSWORD

ANYONE = dict.fromkeys(
    ("anonymous", "patient_b", "other_clinician", "clinician", "admin", "patient_a"), 200
)


def everyone(status: int) -> dict[str, int]:
    """The same status for every caller (public routes)."""
    return dict.fromkeys(ANYONE, status)


def patients_only(status: int, *, other_patient: int | None = None) -> dict[str, int]:
    """A /v1/me route: patients get `status` (B gets `other_patient` on A's records)."""
    return {
        "anonymous": 401,
        "patient_b": other_patient or status,
        "other_clinician": 403,
        "clinician": 403,
        "admin": 403,
        "patient_a": status,
    }


def staff_only(status: int, *, other_clinic: int | None = None) -> dict[str, int]:
    """A /v1/clinician route: staff get `status` (South's clinician `other_clinic` on A)."""
    return {
        "anonymous": 401,
        "patient_b": 403,
        "other_clinician": other_clinic or status,
        "clinician": status,
        "admin": status,
        "patient_a": 403,
    }


ROWS = [
    # Operations: public.
    ("GET", "/healthz", everyone(200)),
    ("GET", "/readyz", everyone(200)),
    ("GET", "/metrics", everyone(200)),
    ("GET", "/openapi.json", everyone(200)),
    ("GET", "/static/{filename}", everyone(404)),
    # Auth: public (an empty sign-up body reaches validation, whoever calls).
    ("POST", "/v1/auth/register", everyone(422), {}),
    (
        "POST",
        "/v1/auth/token",
        everyone(200),
        {"email": "a@patients.example", "password": PASSWORD},
    ),
    ("POST", "/v1/auth/revoke", {**everyone(204), "anonymous": 401}),
    # The patient's own records.
    ("GET", "/v1/me", patients_only(200)),
    ("PATCH", "/v1/me", patients_only(200), {"locale": "en-GB"}),
    ("POST", "/v1/me/devices", patients_only(201), {"platform": "android", "token": "authz"}),
    ("DELETE", "/v1/me/devices/{device_id}", patients_only(204, other_patient=404)),
    ("PUT", "/v1/me/activity/daily", patients_only(200), {"days": []}),
    ("POST", "/v1/me/activity/sessions", patients_only(200), {"sessions": []}),
    ("GET", "/v1/me/activity", patients_only(200)),
    ("POST", "/v1/me/pain", patients_only(201), {"score": 2}),
    ("POST", "/v1/me/exercise", patients_only(201), {"kind": "stretch", "name": "hamstrings"}),
    ("GET", "/v1/me/plan", patients_only(200)),
    ("GET", "/v1/me/tips", patients_only(200)),
    ("POST", "/v1/me/tips/{tip_id}/read", patients_only(200, other_patient=404)),
    ("POST", "/v1/me/tips/{tip_id}/opened", patients_only(200, other_patient=404)),
    (
        "POST",
        "/v1/me/tips/{tip_id}/feedback",
        patients_only(200, other_patient=404),
        {"helpful": True},
    ),
    # Clinician read API: staff, and only their clinic's patients (admins: every clinic).
    # The admin has no clinic, so an invite without `clinic_id` is a 422 for them.
    ("POST", "/v1/clinician/invites", {**staff_only(201), "admin": 422}, {}),
    ("GET", "/v1/clinician/patients", staff_only(200)),
    ("GET", "/v1/clinician/patients/{patient_id}", staff_only(200, other_clinic=403)),
    ("GET", "/v1/clinician/patients/{patient_id}/timeline", staff_only(200, other_clinic=403)),
    (
        "PATCH",
        "/v1/clinician/patients/{patient_id}/plan",
        staff_only(200, other_clinic=403),
        {"daily_target": 5000},
    ),
    (
        "POST",
        "/v1/clinician/patients/{patient_id}/messages",
        {**staff_only(201, other_clinic=403)},
        {"text": "See you on Tuesday."},
    ),
]
