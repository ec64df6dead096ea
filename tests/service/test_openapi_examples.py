"""Every request example in /openapi.json works on its own route, sent over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import requests

from tests.conftest import LiveServer
from tests.support.factories import Seed
from tests.support.hostile_cases import install_default_ruleset

CALLERS = {"/v1/me": "patient_a", "/v1/clinician": "clinician", "/v1/rulesets": "clinician"}
PATH_VALUES = {"slug": "low-back-walking", "provider": "sandbox"}


def _examples(operation: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(content type, example) for every example of an operation's request body."""
    for content_type, media in operation.get("requestBody", {}).get("content", {}).items():
        if "example" in media:
            yield content_type, media["example"]
        for example in media.get("examples", {}).values():
            yield content_type, example["value"]


def _caller(path: str) -> str:
    return next((who for prefix, who in CALLERS.items() if path.startswith(prefix)), "anonymous")


def _url(base: str, path: str, seed: Seed) -> str:
    values = {**PATH_VALUES, "patient_id": str(seed.patient_a)}
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", value)
    assert "{" not in path, f"no value for a parameter of {path}"
    return base + path


def test_it_accepts_every_documented_request_example(live_server: LiveServer, seed: Seed) -> None:
    install_default_ruleset(seed)
    document = requests.get(f"{live_server.url}/openapi.json", timeout=10).json()
    sent = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for content_type, example in _examples(operation):
                body = example if isinstance(example, str) else json.dumps(example)
                answer = requests.request(
                    method.upper(),
                    _url(live_server.url, path, seed),
                    data=body.encode(),
                    headers={**seed.headers(_caller(path)), "Content-Type": content_type},
                    timeout=30,
                )
                documented = {int(code) for code in operation["responses"] if code.isdigit()}
                success = {code for code in documented if code < 400}
                assert answer.status_code in success, (
                    f"{method.upper()} {path}: {answer.status_code} {answer.text[:500]}"
                )
                sent.append((method, path))
    # The two rule-set routes document the YAML example; more examples only add rows.
    assert {("post", "/v1/rulesets/validate"), ("post", "/v1/rulesets")} <= set(sent)
