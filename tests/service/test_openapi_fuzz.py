"""Property-based tests of the whole API from its own OpenAPI document (schemathesis).

Every operation gets a bounded number of generated requests (schema-valid and schema-invalid),
authenticated as patient A: no response may be a 5xx, and every response must match what
/openapi.json documents for it (status code, content type, headers and body schema; errors are
problem+json), and no protected route may answer without a token. The operations are walked in
one test: schemathesis' lazy pytest loader does not work with this pytest version, and the schema
can only be loaded once the database-backed app exists.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import Seed

EXAMPLES = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]


def test_it_answers_every_generated_request_as_documented(app: Flask, seed: Seed) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = seed.headers("patient_a")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    failures: dict[str, str] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                fuzz()
            except Unsatisfiable:
                # Nothing in this operation can be made schema-invalid (e.g. a free-form path).
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # report every operation at once
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:1500]
    report = "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
    assert not failures, report
