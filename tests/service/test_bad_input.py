"""Bad input of every kind gets a 4xx problem+json naming the field, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.factories import Seed

PROBLEM = "application/problem+json"


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.json
    assert body["status"] == status
    assert body["title"]
    return body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/auth/register"),
        ("post", "/v1/auth/token"),
        ("patch", "/v1/me"),
        ("put", "/v1/me/activity/daily"),
        ("post", "/v1/me/pain"),
        ("post", "/v1/clinician/invites"),
    ],
)
def test_it_rejects_malformed_json(client: Any, seed: Seed, method: str, path: str) -> None:
    who = "clinician" if "clinician" in path else "patient_a"
    response = getattr(client, method)(
        path, data='{"score": 3,', content_type="application/json", headers=seed.headers(who)
    )
    body = _problem(response, 400)
    # An error about the whole body names no field (and never marshmallow's `_schema`).
    assert body["errors"][0] == {"field": "", "message": "Invalid JSON body.", "in": "json"}
    assert body["detail"] == "Invalid JSON body."


def test_it_rejects_wrong_types_naming_the_field(client: Any, seed: Seed) -> None:
    headers = seed.headers("patient_a")
    response = client.put("/v1/me/activity/daily", json={"days": "lots"}, headers=headers)
    assert _problem(response, 422)["errors"][0]["field"] == "days"
    response = client.put(
        "/v1/me/activity/daily",
        json={"days": [{"date": 20261101, "steps": "many", "source": "manual"}]},
        headers=headers,
    )
    fields = {e["field"] for e in _problem(response, 422)["errors"]}
    assert fields == {"days.0.date", "days.0.steps"}
    response = client.post("/v1/me/pain", json=[1, 2, 3], headers=headers)
    body = _problem(response, 422)
    assert body["errors"][0]["field"] == ""
    assert "_schema" not in body["detail"]


def test_it_rejects_unknown_fields(client: Any, seed: Seed) -> None:
    response = client.post(
        "/v1/me/pain", json={"score": 3, "mood": "grumpy"}, headers=seed.headers("patient_a")
    )
    errors = _problem(response, 422)["errors"]
    assert errors == [{"field": "mood", "message": "Unknown field.", "in": "json"}]


def test_it_rejects_bad_dates(client: Any, seed: Seed) -> None:
    response = client.put(
        "/v1/me/activity/daily",
        json={"days": [{"date": "2026-13-01", "steps": 1, "source": "manual"}]},
        headers=seed.headers("patient_a"),
    )
    assert _problem(response, 422)["errors"][0]["field"] == "days.0.date"
    response = client.get("/v1/me/activity?to=31/12/2026", headers=seed.headers("patient_a"))
    assert _problem(response, 422)["errors"][0]["field"] == "to"


def test_it_rejects_oversize_bodies(client: Any, seed: Seed) -> None:
    big = '{"score": 3, "note": "' + "x" * (1024 * 1024) + '"}'
    response = client.post(
        "/v1/me/pain", data=big, content_type="application/json", headers=seed.headers("patient_a")
    )
    _problem(response, 413)


@pytest.mark.parametrize(
    ("content_type", "data"),
    [("text/plain", '{"score": 3}'), ("application/x-www-form-urlencoded", "score=3")],
)
def test_it_rejects_non_json_bodies(client: Any, seed: Seed, content_type: str, data: str) -> None:
    response = client.post(
        "/v1/me/pain", data=data, content_type=content_type, headers=seed.headers("patient_a")
    )
    assert "application/json" in _problem(response, 415)["detail"]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not-a-jwt",
        "Basic YTpi",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
    ],
)
def test_it_rejects_bad_tokens(client: Any, seed: Seed, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/v1/me", headers=headers)
    _problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_it_rejects_a_token_signed_with_another_key(client: Any, seed: Seed) -> None:
    import jwt  # noqa: PLC0415 - only this test forges tokens

    forged = jwt.encode(
        {"sub": str(seed.patient_a), "role": "patient", "ver": 0, "iat": 1, "exp": 4102444800},
        "another-secret-key-" + "y" * 32,
        algorithm="HS256",
    )
    response = client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
    _problem(response, 401)


def test_it_refuses_patient_routes_to_staff_and_staff_routes_to_patients(
    client: Any, seed: Seed
) -> None:
    _problem(client.get("/v1/me", headers=seed.headers("clinician")), 403)
    _problem(client.get("/v1/clinician/patients", headers=seed.headers("patient_a")), 403)
