"""Console sign-in, sessions, CSRF and the security headers of every page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import func, select, update

from service.accounts.models import User
from service.console.models import ConsoleSession
from service.db import utcnow
from service.extensions import db
from tests.support.console import csrf_token, post_form, signed_in
from tests.support.factories import PASSWORD, Seed


def _sign_in(client: Any, email: str, password: str = PASSWORD, **extra: str) -> Any:
    return post_form(client, "/console/login", {"email": email, "password": password, **extra})


def test_it_signs_in_clinicians_with_their_api_credentials(app: Flask, seed: Seed) -> None:
    browser = app.test_client()
    response = _sign_in(browser, "DOC@north.example ")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("console=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development serves plain HTTP
    today = browser.get("/console/")
    assert today.status_code == 200
    assert "doc@north.example" in today.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 1


def test_it_refuses_wrong_passwords_and_patients(app: Flask, seed: Seed) -> None:
    browser = app.test_client()
    wrong = _sign_in(browser, "doc@north.example", "not the password")
    assert wrong.status_code == 401
    assert "Wrong email or password." in wrong.get_data(as_text=True)
    unknown = _sign_in(browser, "nobody@north.example")
    assert unknown.status_code == 401
    patient = _sign_in(browser, "a@patients.example")
    assert patient.status_code == 403
    assert "Patients use the Backstride app" in patient.get_data(as_text=True)
    assert browser.get("/console/").status_code == 303
    assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


def test_it_returns_to_the_page_asked_for_but_never_off_site(app: Flask, seed: Seed) -> None:
    browser = app.test_client()
    asked = browser.get(f"/console/patients/{seed.patient_a}")
    assert asked.status_code == 303
    assert asked.headers["Location"].startswith("/console/login?next=")
    assert asked.headers["Location"] == f"/console/login?next=/console/patients/{seed.patient_a}"
    back = _sign_in(browser, "doc@north.example", next=f"/console/patients/{seed.patient_a}")
    assert back.headers["Location"] == f"/console/patients/{seed.patient_a}"
    for target in ("https://evil.example/console/", "//evil.example/console/", "/v1/me"):
        elsewhere = _sign_in(app.test_client(), "doc@north.example", next=target)
        assert elsewhere.headers["Location"] == "/console/", target


def test_it_marks_the_cookie_secure_in_production(
    make_app: Callable[..., Flask], seed: Seed
) -> None:
    production = make_app(env="production")
    with production.app_context():
        response = _sign_in(production.test_client(), "doc@north.example")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-console=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_it_refuses_forms_without_the_sessions_csrf_token(app: Flask, seed: Seed) -> None:
    browser = signed_in(app, seed.clinician)
    other = signed_in(app, seed.other_clinician)
    forms = [
        "/console/logout",
        f"/console/patients/{seed.patient_a}/plan",
        f"/console/patients/{seed.patient_a}/messages",
        "/console/invites",
        "/console/editor",
    ]
    foreign = csrf_token(other)
    for url in forms:
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": foreign}):
            response = browser.post(url, data={**data, "text": "hello", "daily_target": "5000"})
            assert response.status_code == 400, (url, data)
            assert "Form expired" in response.get_data(as_text=True)
    login = app.test_client().post(
        "/console/login", data={"email": "doc@north.example", "password": PASSWORD}
    )
    assert login.status_code == 400
    assert browser.get("/console/").status_code == 200  # still signed in: nothing happened


def test_it_signs_out_on_the_server(app: Flask, seed: Seed) -> None:
    browser = app.test_client()
    _sign_in(browser, "doc@north.example")
    stolen = browser.get_cookie("console")
    assert stolen is not None
    out = post_form(browser, "/console/logout")
    assert out.status_code == 303
    assert browser.get("/console/").status_code == 303
    replay = app.test_client()
    replay.set_cookie("console", stolen.value)
    assert replay.get("/console/").status_code == 303
    assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


def test_it_ends_sessions_that_idle_or_whose_tokens_were_revoked(app: Flask, seed: Seed) -> None:
    idle = signed_in(app, seed.clinician)
    revoked = signed_in(app, seed.other_clinician)
    with db.transaction() as session:
        session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.user_id == seed.clinician)
            .values(last_seen_at=utcnow() - dt.timedelta(hours=1, seconds=1))
        )
        session.execute(
            update(User)
            .where(User.id == seed.other_clinician)
            .values(token_version=User.token_version + 1)
        )
    assert idle.get("/console/").status_code == 303
    assert revoked.get("/console/").status_code == 303
    assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


def test_it_throttles_sign_in_with_the_apis_budget(
    make_app: Callable[..., Flask], seed: Seed
) -> None:
    strict = make_app(login_rate_limit="3 per minute")
    with strict.app_context():
        client = strict.test_client()
        for _ in range(2):
            api = client.post("/v1/auth/token", json={"email": "x@y.example", "password": "p"})
            assert api.status_code == 401
        assert _sign_in(client, "doc@north.example", "wrong").status_code == 401
        refused = _sign_in(client, "doc@north.example")
        assert refused.status_code == 429
        assert "Too many sign-in attempts" in refused.get_data(as_text=True)
        assert refused.headers["Retry-After"]


def test_it_locks_an_account_as_the_api_does(app: Flask, seed: Seed) -> None:
    browser = app.test_client()
    for _ in range(5):
        assert _sign_in(browser, "doc@north.example", "not the password").status_code == 401
    locked = _sign_in(browser, "doc@north.example")  # even the right password, for now
    assert locked.status_code == 429
    assert "Too many failed sign-ins for this account" in locked.get_data(as_text=True)
    assert int(locked.headers["Retry-After"]) > 0
    # The lock is the account's, whichever door is knocked on: the API refuses it too.
    api = app.test_client().post(
        "/v1/auth/token", json={"email": "doc@north.example", "password": PASSWORD}
    )
    assert api.status_code == 429
    assert db.session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


def test_it_sends_a_strict_content_security_policy(app: Flask, seed: Seed) -> None:
    browser = signed_in(app, seed.clinician)
    page = browser.get("/console/")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "same-origin"
    html = page.get_data(as_text=True)
    assert "<script>" not in html
    assert " style=" not in html
    login = app.test_client().get("/console/login")
    assert login.headers["Content-Security-Policy"] == policy
    docs = app.test_client().get("/docs")
    assert "script-src 'self';" in docs.headers["Content-Security-Policy"]
    api = app.test_client().get("/healthz")
    assert api.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert api.headers["X-Content-Type-Options"] == "nosniff"


def test_it_serves_docs_from_the_packaged_swagger_ui(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/docs").get_data(as_text=True)
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        assert f'"/docs/assets/{asset}"' in page
        with client.get(f"/docs/assets/{asset}") as served:
            assert served.status_code == 200
            assert len(served.get_data()) > 10_000
    assert "http" not in page.replace("http-equiv", "")
    assert client.get("/docs/assets/../../config.py").status_code == 404
    assert client.get("/docs/assets/index.html").status_code == 404


def test_api_calls_get_each_hardening_header_once_and_no_session_cookie(
    app: Flask, seed: Seed
) -> None:
    client = app.test_client()
    answer = client.get("/v1/me/tips", headers=seed.headers("patient_a"))
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers  # no console cookie, so no session to save
    for name in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert len(answer.headers.getlist(name)) == 1, name
    assert answer.headers.getlist("Content-Security-Policy") == [
        "default-src 'none'; frame-ancestors 'none'"
    ]
    # A cookie that does not verify opens an empty session, as Flask's own interface does.
    client.set_cookie("console", "forged.value.signature")
    assert client.get("/console/").headers["Location"].startswith("/console/login")
