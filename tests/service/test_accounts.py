"""Sign-up, sign-in, invites, rate limiting and token revocation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from sqlalchemy import select

from service.accounts.models import Invite, User
from service.db import utcnow
from service.extensions import db
from service.patients.models import PatientProfile
from service.plans.models import Plan
from tests.support.factories import PASSWORD, Seed


def _register(client: Any, **changes: Any) -> Any:
    body = {"email": "new@patients.example", "password": PASSWORD, "timezone": "Europe/Berlin"}
    body.update(changes)
    return client.post("/v1/auth/register", json=body)


def test_it_registers_a_patient_with_a_profile_a_plan_and_a_token(client: Any) -> None:
    response = _register(client, email="New@Patients.Example")
    assert response.status_code == 201
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    profile = db.session.get(PatientProfile, body["patient_id"])
    assert profile is not None
    assert profile.timezone == "Europe/Berlin"
    assert profile.clinic_id is None
    assert db.session.get(Plan, body["patient_id"]) is not None
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json["email"] == "new@patients.example"


def test_it_rejects_an_unknown_time_zone(client: Any) -> None:
    response = _register(client, timezone="Mars/Olympus_Mons")
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "timezone"


def test_it_refuses_a_second_account_with_the_same_email(client: Any, seed: Seed) -> None:
    response = _register(client, email="A@patients.example")
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"


def test_it_links_clinic_clinician_and_ruleset_through_an_invite(client: Any, seed: Seed) -> None:
    invite = client.post("/v1/clinician/invites", json={}, headers=seed.headers("clinician"))
    assert invite.status_code == 201
    code = invite.json["code"]
    response = _register(client, invite_code=code)
    assert response.status_code == 201
    profile = db.session.get(PatientProfile, response.json["patient_id"])
    assert profile is not None
    assert profile.clinic_id == seed.clinic_id
    assert profile.clinician_id == seed.clinician
    used = db.session.get(Invite, code, populate_existing=True)
    assert used is not None
    assert used.used_by == response.json["patient_id"]
    again = _register(client, email="second@patients.example", invite_code=code)
    assert again.status_code == 422
    assert again.json["errors"][0]["field"] == "invite_code"


def test_it_refuses_an_expired_invite(client: Any, seed: Seed) -> None:
    with db.transaction() as session:
        session.add(
            Invite(
                code="EXPIRED123",
                clinic_id=seed.clinic_id,
                clinician_id=seed.clinician,
                expires_at=utcnow() - dt.timedelta(minutes=1),
            )
        )
    response = _register(client, invite_code="EXPIRED123")
    assert response.status_code == 422
    # The failed sign-up left no account behind.
    assert db.session.scalar(select(User).where(User.email == "new@patients.example")) is None


def test_it_issues_a_token_with_the_role(client: Any, seed: Seed) -> None:
    response = client.post(
        "/v1/auth/token", json={"email": "doc@north.example", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json["role"] == "clinician"
    assert response.json["token_type"] == "Bearer"
    patients = client.get(
        "/v1/clinician/patients",
        headers={"Authorization": f"Bearer {response.json['access_token']}"},
    )
    assert patients.status_code == 200


def test_it_fails_the_same_way_for_unknown_emails_and_wrong_passwords(
    client: Any, seed: Seed
) -> None:
    wrong = client.post("/v1/auth/token", json={"email": "a@patients.example", "password": "nope"})
    unknown = client.post("/v1/auth/token", json={"email": "x@nowhere.example", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json["detail"] == unknown.json["detail"]


def test_it_rate_limits_sign_in(make_app: Any, seed: Seed) -> None:
    app: Flask = make_app(login_rate_limit="2 per minute")
    client = app.test_client()
    body = {"email": "a@patients.example", "password": "wrong password"}
    statuses = [client.post("/v1/auth/token", json=body).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    limited = client.post("/v1/auth/token", json=body)
    assert limited.mimetype == "application/problem+json"
    assert int(limited.headers["Retry-After"]) > 0


def test_it_rate_limits_registration(make_app: Any) -> None:
    app: Flask = make_app(login_rate_limit="1 per minute")
    client = app.test_client()
    assert _register(client).status_code == 201
    assert _register(client, email="other@patients.example").status_code == 429


def test_it_revokes_every_token_of_the_caller(client: Any, seed: Seed) -> None:
    first = seed.headers("patient_a")
    second = client.post(
        "/v1/auth/token", json={"email": "a@patients.example", "password": PASSWORD}
    )
    other = {"Authorization": f"Bearer {second.json['access_token']}"}
    assert client.post("/v1/auth/revoke", headers=first).status_code == 204
    for headers in (first, other):
        response = client.get("/v1/me", headers=headers)
        assert response.status_code == 401
    # Patient B's tokens are untouched; a fresh sign-in works again.
    assert client.get("/v1/me", headers=seed.headers("patient_b")).status_code == 200
    fresh = client.post(
        "/v1/auth/token", json={"email": "a@patients.example", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {fresh.json['access_token']}"}
    assert client.get("/v1/me", headers=headers).status_code == 200
