"""Authorization rows for the clinician console (cookie sessions) and /docs.

`AUTH = "console"`: the matrix signs each caller in to the console (patients too, with a
session opened behind the sign-in's back, to prove every page still refuses them) and sends
form bodies with the session's CSRF token. Anonymous callers are sent to the sign-in page
(303). Forms answer 303 (back to a page) whether they succeeded or said why not; a patient of
another clinic, or a record that is not the caller's, is an error page (403/404).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import rules
from service.accounts.models import Invite
from service.db import utcnow
from service.extensions import db
from tests.support.factories import PASSWORD, Seed

AUTH = "console"


def make_refs(seed: Seed) -> dict[str, Any]:
    """An invite of patient A's clinic: `code`."""
    with db.transaction() as session:
        now = utcnow()
        session.add(
            Invite(
                code="AUTHZINVITE",
                clinic_id=seed.clinic_id,
                clinician_id=seed.clinician,
                created_at=now,
                expires_at=now + dt.timedelta(days=3),
            )
        )
    return {"code": "AUTHZINVITE"}


def pages(status: int, *, other_clinic: int | None = None) -> dict[str, int]:
    """A staff page: anonymous callers go to sign in, patients are refused."""
    return {
        "anonymous": 303,
        "patient_b": 403,
        "other_clinician": other_clinic or status,
        "clinician": status,
        "admin": status,
        "patient_a": 403,
    }


def clinician_pages(status: int, *, other_clinic: int = 404) -> dict[str, int]:
    """Rule-set pages: clinicians of the owning clinic (admins have no clinic's rule sets)."""
    return {**pages(status, other_clinic=other_clinic), "admin": 403}


def everyone(status: int) -> dict[str, int]:
    """The same status for every caller."""
    return dict.fromkeys(pages(0), status)


def _assign(refs: dict[str, Any]) -> dict[str, Any]:
    return {"patient": str(refs["patient_id"])}


ROWS = [
    ("GET", "/docs", everyone(200)),
    ("GET", "/docs/assets/{filename}", everyone(404)),
    ("GET", "/console/static/{filename}", everyone(404)),
    ("GET", "/console/login", everyone(200)),
    # Whoever holds the session, the form signs in whoever's credentials it carries.
    ("POST", "/console/login", everyone(303), {"email": "doc@north.example", "password": PASSWORD}),
    ("POST", "/console/logout", everyone(303)),
    ("GET", "/console/", pages(200)),
    ("GET", "/console/alerts", pages(200)),
    ("GET", "/console/outcomes", pages(200)),
    ("POST", "/console/alerts/{alert_id}/ack", pages(303, other_clinic=404)),
    ("GET", "/console/invites", pages(200)),
    ("POST", "/console/invites", pages(303), {"expires_in_days": "3"}),
    ("GET", "/console/invites/{code}", pages(200, other_clinic=404)),
    ("GET", "/console/patients/{patient_id}", pages(200, other_clinic=403)),
    (
        "POST",
        "/console/patients/{patient_id}/plan",
        pages(303, other_clinic=403),
        {"daily_target": "5000"},
    ),
    (
        "POST",
        "/console/patients/{patient_id}/messages",
        pages(303, other_clinic=403),
        {"text": "See you on Tuesday."},
    ),
    # An episode of patient A (`episode_id`, from authz_safety); a refused decision (the admin's
    # after the clinician's) is a 303 back to the page with the reason, like every form.
    (
        "POST",
        "/console/episodes/{episode_id}/resolve",
        pages(303, other_clinic=404),
        {"decision": "keep_paused", "note": "Reviewed by phone."},
    ),
    (
        "POST",
        "/console/patients/{patient_id}/clearances",
        pages(303, other_clinic=403),
        {"condition": "pregnancy", "note": "Cleared at the 20-week visit."},
    ),
    ("GET", "/console/rulesets", clinician_pages(200, other_clinic=200)),
    ("GET", "/console/rulesets/{slug}", clinician_pages(200)),
    ("GET", "/console/rulesets/{slug}/versions/{number}", clinician_pages(200)),
    ("GET", "/console/editor", clinician_pages(200, other_clinic=200)),
    (
        "POST",
        "/console/editor",
        clinician_pages(200, other_clinic=200),
        {"yaml": rules.default_ruleset_text(), "action": "check"},
    ),
    ("GET", "/console/rulesets/{slug}/diff", clinician_pages(200)),
    ("GET", "/console/rulesets/{slug}/simulate", clinician_pages(200)),
    ("POST", "/console/rulesets/{slug}/versions/{number}/publish", clinician_pages(303)),
    # South's clinician is told (on the page) that no such patient is theirs: see
    # test_console.py for what changed and what did not.
    ("POST", "/console/rulesets/{slug}/assign", clinician_pages(303, other_clinic=303), _assign),
]
