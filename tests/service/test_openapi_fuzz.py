"""Property-based tests of the whole API from its own OpenAPI document (schemathesis).

Every operation gets a bounded number of generated requests (schema-valid, schema-invalid, and
hostile: a schema-valid request with one value spoilt the way attackers and buggy clients do),
authenticated as patient A: no response may be a 5xx, and every response must match what
/openapi.json documents for it (status code, content type, headers and body schema; errors are
problem+json), and no protected route may answer without a token. The operations are walked in
one test: schemathesis' lazy pytest loader does not work with this pytest version, and the schema
can only be loaded once the database-backed app exists.
"""

from __future__ import annotations

import json
import re
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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

from tests.support.factories import Seed
from tests.support.hostile_cases import install_default_ruleset

EXAMPLES = 6
HOSTILE = "hostile"
# Values that once answered 500: past 64 bits, outside 2000-01-01..tomorrow, NUL and unpaired
# surrogates, numbers too long to parse, JSON nested deeper than the service reads.
HUGE = [2**63, 2**64, -(2**63) - 1, 10**30, 10**200]
TEXT = ["a\x00b", "\ud800", "x\udfffy"]
DAYS = ["0001-01-01", "1999-12-31", "9999-12-31"]
TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1999-12-31T23:00:00+00:00"]
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEPTHS = [33, 2_000, 100_000]  # past the service's limit, past Python's recursion limit
PATH_SEGMENTS = ["abc", "-1", "0", "a\x00b", str(2**64), str(10**30)]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]


def _hostile_value(value: Any, *, text: bool = True) -> st.SearchStrategy[Any]:
    """Something hostile in place of `value`, in its own kind where that matters."""
    if isinstance(value, str) and TIME.match(value):
        return st.sampled_from(TIMES)
    if isinstance(value, str) and DAY.match(value):
        return st.sampled_from(DAYS)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return st.sampled_from(HUGE)
    return st.sampled_from([*TEXT, *HUGE] if text else ["a\x00b", *HUGE])


@st.composite
def _spoilt(draw: st.DrawFn, value: Any) -> Any:
    """`value` with one leaf (or, for JSON, the whole shape) made hostile."""
    if isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        if draw(st.integers(0, 9)) == 0:
            return {**value, f"{key}\x00": value[key]}  # a hostile key
        return {**value, key: draw(_spoilt(value[key]))}
    if isinstance(value, list) and value:
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], draw(_spoilt(value[index])), *value[index + 1 :]]
    return draw(_hostile_value(value))


@st.composite
def _hostile_case(draw: st.DrawFn, case: Any) -> Any:
    """Spoil one part of a generated case: its JSON body, a query value or a path id."""
    parts = [name for name in ("body", "query", "path_parameters") if _spoilable(case, name)]
    if not parts:
        return case
    part = draw(st.sampled_from(parts))
    if part == "body" and not isinstance(case.body, str):
        # Sent as bytes: schemathesis would encode a lone surrogate itself, and fail.
        if draw(st.integers(0, 3)) == 0:
            depth = draw(st.sampled_from(DEPTHS))
            case.body = b"[" * depth + json.dumps(case.body).encode() + b"]" * depth
        else:
            case.body = json.dumps(draw(_spoilt(case.body))).encode()
    elif part == "body":  # YAML text: encoded as UTF-8 on the wire, so no surrogates
        case.body = draw(st.sampled_from(["a\x00b", "title: !!int abc", "x: 2026-13-45"]))
    elif part == "query":
        name = draw(st.sampled_from(sorted(case.query)))
        case.query = {**case.query, name: draw(_hostile_value(case.query[name], text=False))}
    else:
        name = draw(st.sampled_from(sorted(case.path_parameters)))
        case.path_parameters = {**case.path_parameters, name: draw(st.sampled_from(PATH_SEGMENTS))}
    return case


def _caller(path: str) -> str:
    return "clinician" if path.startswith(("/v1/clinician", "/v1/rulesets")) else "patient_a"


def _spoilable(case: Any, part: str) -> bool:
    value = getattr(case, part)
    return bool(value) and isinstance(value, dict | list | str)


def _fuzz(strategy: st.SearchStrategy[Any], headers: dict[str, str]) -> None:
    """Send a bounded number of the strategy's cases and run every check on each answer."""

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()


def test_it_answers_every_generated_request_as_documented(app: Flask, seed: Seed) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    hostile = schemathesis.openapi.from_wsgi("/openapi.json", app)

    @hostile.hook
    def flatmap_case(_context: Any, case: Any) -> st.SearchStrategy[Any]:
        return _hostile_case(case)

    install_default_ruleset(seed)
    operations = [result.ok() for result in schema.get_all_operations()]
    hostile_operations = {op.label: op for op in (r.ok() for r in hostile.get_all_operations())}
    assert len(operations) > 20
    failures: dict[str, str] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE, HOSTILE):
            # Schema-valid and -invalid requests come from patient A; hostile ones from whoever
            # the route serves, so that they get past authorization to the input checks.
            headers = seed.headers("patient_a" if mode != HOSTILE else _caller(operation.path))
            if mode == HOSTILE:
                strategy = hostile_operations[operation.label].as_strategy(
                    generation_mode=GenerationMode.POSITIVE
                )
            else:
                strategy = operation.as_strategy(generation_mode=mode)

            try:
                _fuzz(strategy, headers)
            except Unsatisfiable:
                # Nothing in this operation can be made schema-invalid (e.g. a free-form path).
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # report every operation at once
                label = mode if isinstance(mode, str) else mode.value
                failures[f"{operation.label} ({label})"] = str(exc)[:1500]
    report = "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
    assert not failures, report
