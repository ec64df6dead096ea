"""Property-based tests of the whole API from its own OpenAPI document (schemathesis).

Every operation gets a bounded number of generated requests, authenticated as patient A: no
response may be a 5xx, and every response must match what /openapi.json documents for it
(status, content type and body schema; errors are problem+json). The operations are walked in
one test because schemathesis' lazy pytest loader does not support this pytest version, and the
schema can only be loaded once the database-backed app exists.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings

from tests.factories import Seed

EXAMPLES = 8


def test_it_answers_every_generated_request_as_documented(app: Flask, seed: Seed) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = seed.headers("patient_a")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=headers)

        try:
            fuzz()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report
            failures[operation.label] = str(exc)[:2000]
    assert failures == {}
