"""Authorization rows for safety episodes, clearances and joining a clinic."""

from __future__ import annotations

from typing import Any

from service.db import utcnow
from service.extensions import db
from service.safety.models import Clearance, SafetyEpisode
from tests.support.factories import Seed


def make_refs(seed: Seed) -> dict[str, Any]:
    """An open episode and an osteoporosis clearance of patient A: `episode_id`, `condition`."""
    with db.transaction() as session:
        episode = SafetyEpisode(
            patient_id=seed.patient_a, tier="urgent", flags=["fever"], opened_at=utcnow()
        )
        clearance = Clearance(
            patient_id=seed.patient_a, condition="osteoporosis", note="authz", cleared_at=utcnow()
        )
        session.add_all([episode, clearance])
        session.flush()
        return {"episode_id": episode.id, "condition": clearance.condition}


def staff(status: int, *, other_clinic: int, admin: int | None = None) -> dict[str, int]:
    """Staff routes on patient A (North): South's clinician gets `other_clinic`."""
    return {
        "anonymous": 401,
        "patient_b": 403,
        "other_clinician": other_clinic,
        "clinician": status,
        "admin": status if admin is None else admin,
        "patient_a": 403,
    }


ROWS = [
    ("GET", "/v1/clinician/episodes", staff(200, other_clinic=200)),
    # keep_paused leaves the episode open, so the admin after the clinician decides too.
    (
        "POST",
        "/v1/clinician/episodes/{episode_id}/resolve",
        staff(200, other_clinic=404),
        {"decision": "keep_paused", "note": "Reviewed by phone."},
    ),
    ("GET", "/v1/clinician/patients/{patient_id}/episodes", staff(200, other_clinic=403)),
    ("GET", "/v1/clinician/patients/{patient_id}/clearances", staff(200, other_clinic=403)),
    # The clinician clears first; the admin after them finds it already cleared.
    (
        "POST",
        "/v1/clinician/patients/{patient_id}/clearances",
        staff(201, other_clinic=403, admin=409),
        {"condition": "pregnancy", "note": "Cleared at the 20-week visit."},
    ),
    (
        "DELETE",
        "/v1/clinician/patients/{patient_id}/clearances/{condition}",
        staff(204, other_clinic=403, admin=404),
    ),
    # Both patients already belong to North Clinic.
    (
        "POST",
        "/v1/me/clinic",
        {
            "anonymous": 401,
            "patient_b": 409,
            "other_clinician": 403,
            "clinician": 403,
            "admin": 403,
            "patient_a": 409,
        },
        {"invite_code": "ABCD1234"},
    ),
]
