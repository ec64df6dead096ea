"""Authorization rows for rule sets, clinician alerts and evaluation history."""

from __future__ import annotations

from typing import Any

import rules
from service.db import utcnow
from service.extensions import db
from service.rulesets.service import add_version, publish
from tests.support.factories import Seed

SLUG = "low-back-walking"


def make_refs(seed: Seed) -> dict[str, Any]:
    """A published rule set in patient A's clinic: `slug` and `number`."""
    with db.transaction() as session:
        ruleset, version = add_version(
            session, seed.clinic_id, rules.default_ruleset_text(), seed.clinician, utcnow()
        )
        publish(session, ruleset, version.version, utcnow())
        return {"slug": ruleset.slug, "number": version.version}


def clinicians(status: int, *, other_clinic: int = 404) -> dict[str, int]:
    """Rule-set routes: clinicians of the owning clinic only (admins have no clinic)."""
    return {
        "anonymous": 401,
        "patient_b": 403,
        "other_clinician": other_clinic,
        "clinician": status,
        "admin": 403,
        "patient_a": 403,
    }


def staff(status: int, *, other_clinic: int) -> dict[str, int]:
    """Clinician views: staff; South's clinician gets `other_clinic` on North's records."""
    return {
        "anonymous": 401,
        "patient_b": 403,
        "other_clinician": other_clinic,
        "clinician": status,
        "admin": status,
        "patient_a": 403,
    }


def _simulate_body(refs: dict[str, Any]) -> dict[str, Any]:
    return {"patient_id": refs["patient_id"], "from": "2026-11-01", "to": "2026-11-03"}


ROWS = [
    # The body of these is YAML: the JSON (no body) the matrix sends is refused with 415 once
    # the caller is known to be a clinician.
    ("POST", "/v1/rulesets/validate", clinicians(415, other_clinic=415)),
    ("POST", "/v1/rulesets", clinicians(415, other_clinic=415)),
    ("GET", "/v1/rulesets", clinicians(200, other_clinic=200)),
    ("GET", "/v1/rulesets/{slug}/versions", clinicians(200)),
    ("GET", "/v1/rulesets/{slug}/versions/{number}", clinicians(200)),
    ("POST", "/v1/rulesets/{slug}/versions/{number}/publish", clinicians(200)),
    ("POST", "/v1/rulesets/{slug}/simulate", clinicians(200), _simulate_body),
    ("GET", "/v1/clinician/alerts", staff(200, other_clinic=200)),
    ("POST", "/v1/clinician/alerts/{alert_id}/ack", staff(200, other_clinic=404)),
    ("GET", "/v1/clinician/patients/{patient_id}/evaluations", staff(200, other_clinic=403)),
]
