"""Hostile input over real HTTP: every class answers a 4xx problem+json naming the field.

The cases (tests/support/hostile_cases.py) go to the app on a live port, on SQLite and, under
`-m db` with the PostgreSQL backend, on PostgreSQL.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import requests
from marshmallow import Schema

import service
from service.inputs import ApiSchema, json_problem
from tests.conftest import LiveServer
from tests.support.factories import Seed
from tests.support.hostile_cases import CASES, KINDS, check, install_default_ruleset, send


@pytest.mark.parametrize("kind", KINDS)
def test_it_answers_hostile_input_with_a_problem_naming_the_field(
    live_server: LiveServer, seed: Seed, kind: str
) -> None:
    install_default_ruleset(seed)
    wrong = {}
    for case in (c for c in CASES if c.kind == kind):
        problem = check(send(live_server.url, seed, case), case)
        if problem:
            wrong[case.id] = problem
    report = "\n".join(f"{label}: {problem}" for label, problem in wrong.items())
    assert not wrong, f"{len(wrong)} wrong answers:\n{report}"


def test_it_answers_an_id_that_is_not_a_number_like_a_missing_one(
    live_server: LiveServer, seed: Seed
) -> None:
    def get(path: str, who: str = "clinician") -> requests.Response:
        return requests.get(live_server.url + path, headers=seed.headers(who), timeout=10)

    missing = get("/v1/clinician/patients/987654")
    for segment in ("abc", "-1", "1.5", "99999999999999999999999"):
        answer = get(f"/v1/clinician/patients/{segment}")
        assert (answer.status_code, answer.json()) == (missing.status_code, missing.json())
        assert answer.headers["Content-Type"] == "application/problem+json"
        # Authentication still comes first, as for any id.
        assert get(f"/v1/clinician/patients/{segment}", "anonymous").status_code == 401
    assert missing.status_code == 404


def test_it_gives_every_service_schema_the_input_checks() -> None:
    for info in pkgutil.walk_packages(service.__path__, "service."):
        if info.name.endswith(".schemas") or info.name == "service.apidoc":
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if inspect.isclass(value) and issubclass(value, Schema):
                    assert issubclass(value, ApiSchema), f"{info.name}.{name} is not an ApiSchema"


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b"[" * 32 + b"]" * 32, False),
        (b"[" * 33 + b"]" * 33, True),
        (b'{"a":' * 33 + b"1" + b"}" * 33, True),
        (b"[" + b"[]," * 1000 + b"[" * 33 + b"]" * 34, True),  # deep after a long flat prefix
        (b'{"note": "' + b"[" * 40 + b'"}', False),  # brackets inside a string
        (b'{"a": "x\\"' + b"[" * 40 + b'", "b": 1}', False),  # ... after an escaped quote
        (b'{"a": "x\\\\", "b": ' + b"[" * 40 + b"]" * 40 + b"}", True),  # an escaped backslash
        (b"[" + b"1" * 100 + b"]", False),
        (b"[" + b"1" * 101 + b"]", True),
        (b'["' + b"1" * 500 + b'"]', False),  # digits inside a string
    ],
)
def test_it_refuses_json_too_deep_or_with_numbers_too_long(body: bytes, refused: bool) -> None:
    assert (json_problem(body) is not None) is refused
