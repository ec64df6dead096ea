"""Authorization rows for the outcomes report: staff only; a clinician sees their own clinic
(South's clinician gets South's report, which is empty here: `test_outcomes` checks the
contents)."""

from __future__ import annotations

ROWS = [
    (
        "GET",
        "/v1/clinician/outcomes",
        {
            "anonymous": 401,
            "patient_b": 403,
            "other_clinician": 200,
            "clinician": 200,
            "admin": 200,
            "patient_a": 403,
        },
    ),
]
ROWS.append(
    (
        "GET",
        "/v1/clinician/outcomes/programme",
        {
            "anonymous": 401,
            "patient_b": 403,
            "other_clinician": 200,
            "clinician": 200,
            "admin": 200,
            "patient_a": 403,
        },
    )
)
