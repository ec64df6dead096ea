"""Authorization rows for questionnaires: the patient's own, clinics' instruments and scores."""

from __future__ import annotations

from typing import Any

from service.db import utcnow
from service.extensions import db
from service.questionnaires.models import Questionnaire
from tests.support.factories import Seed

SLEEP = """\
instrument: sleep-check
title: Sleep and your back
scoring: {method: sum, decimals: 0}
items:
  - id: nights
    text: How many nights did back pain wake you?
    scale: {low: 0, high: 7, low_label: none, high_label: every night}
"""


def make_refs(seed: Seed) -> dict[str, Any]:
    """A PEG waiting for patient A's answers: `questionnaire_id`."""
    with db.transaction() as session:
        asked = Questionnaire(patient_id=seed.patient_a, instrument="peg", created_at=utcnow())
        session.add(asked)
        session.flush()
        return {"questionnaire_id": asked.id}


ANSWERS = {"answers": {"pain": 4, "enjoyment": 3, "activity": 5}}
PATIENTS_ONLY = {
    "anonymous": 401,
    "patient_b": 200,
    "other_clinician": 403,
    "clinician": 403,
    "admin": 403,
    "patient_a": 200,
}

ROWS = [
    ("GET", "/v1/me/questionnaires", PATIENTS_ONLY),
    (
        "POST",
        "/v1/me/questionnaires/{questionnaire_id}/responses",
        # Patient B cannot tell A's questionnaire from one that does not exist.
        {**PATIENTS_ONLY, "patient_b": 404, "patient_a": 201},
        ANSWERS,
    ),
    (
        "GET",
        "/v1/clinician/instruments",
        {**PATIENTS_ONLY, "patient_b": 403, "patient_a": 403}
        | {"other_clinician": 200, "clinician": 200, "admin": 200},
    ),
    (
        "POST",
        "/v1/clinician/instruments",
        # Each clinic has its own ids: South adding sleep-check leaves North free to.
        {
            "anonymous": 401,
            "patient_b": 403,
            "other_clinician": 201,
            "clinician": 201,
            "admin": 403,
            "patient_a": 403,
        },
        {"yaml": SLEEP},
    ),
    (
        "GET",
        "/v1/clinician/patients/{patient_id}/questionnaires",
        {
            "anonymous": 401,
            "patient_b": 403,
            "other_clinician": 403,
            "clinician": 200,
            "admin": 200,
            "patient_a": 403,
        },
    ),
]
