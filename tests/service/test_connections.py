"""Linking wearables over real HTTP: OAuth state and PKCE, tokens at rest, listing, unlinking."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from integrations.wearables import PROVIDERS
from service.activity.models import DailyActivity, WalkingSession
from service.connections.models import OAuthState, WearableConnection
from service.extensions import db
from tests.support.connections import (  # noqa: F401 - the fixture is used by name
    OAUTH_PROVIDERS,
    Wearables,
    query_of,
    wearables,
)
from tests.support.factories import Seed


def _state_of(env: Wearables, provider: str) -> tuple[str, str]:
    """Start a link and return (state, authorize_url)."""
    answer = requests.post(
        f"{env.url}/v1/me/connections/{provider}", headers=env.headers("patient_a"), timeout=10
    )
    assert answer.status_code == 200
    url = answer.json()["authorize_url"]
    return query_of(url)["state"][0], url


@pytest.mark.parametrize("provider", OAUTH_PROVIDERS)
def test_it_links_each_provider_end_to_end(wearables: Wearables, provider: str) -> None:  # noqa: F811
    answer = wearables.link(provider)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"provider": provider, "status": "active"}
    conn = wearables.connection(provider)
    assert conn.status == "active"
    fake = wearables.fakes[provider]
    plaintext = wearables.access_token(provider)
    assert plaintext is not None
    assert plaintext in fake.access_tokens
    # At rest the tokens are ciphertext, not the strings the provider issued.
    assert conn.access_token_enc is not None
    assert plaintext.encode() not in conn.access_token_enc
    if PROVIDERS[provider].refreshes:
        assert conn.refresh_token_enc is not None
        assert b"refresh-" not in conn.refresh_token_enc
    else:  # Polar answers no refresh token: a dead access token means linking again
        assert conn.refresh_token_enc is None
    if provider == "garmin":
        assert conn.next_sync_at is None  # Garmin is only fetched after a notification
    else:
        assert conn.next_sync_at is not None
        assert conn.next_sync_at <= dt.datetime.now(dt.UTC)
    assert db.session.scalar(select(func.count()).select_from(OAuthState)) == 0


def test_it_sends_the_pkce_challenge_and_verifier(wearables: Wearables) -> None:  # noqa: F811
    state, url = _state_of(wearables, "google_health")
    row = db.session.get(OAuthState, state)
    assert row is not None
    # The verifier is stored encrypted, never as the challenge's plain preimage.
    assert row.code_verifier_enc is not None
    assert len(row.code_verifier_enc) > 100
    browser = requests.Session()
    consent_url = browser.get(url, allow_redirects=False, timeout=10).headers["Location"]
    params = query_of(consent_url)
    assert params["code_challenge_method"] == ["S256"]
    assert params["redirect_uri"] == [f"{wearables.url}/v1/integrations/google_health/callback"]

    consent = browser.get(consent_url, allow_redirects=False, timeout=10)
    landed = browser.get(consent.headers["Location"], timeout=10)
    assert landed.status_code == 200
    token_calls = [r for r in wearables.fakes["google_health"].requests if r.path == "/token"]
    assert token_calls[0].form()["code_verifier"]


def test_it_registers_polar_users_after_the_exchange(wearables: Wearables) -> None:  # noqa: F811
    assert wearables.link("polar").status_code == 200
    registrations = [
        r for r in wearables.fakes["polar"].requests if r.method == "POST" and r.path == "/v3/users"
    ]
    assert len(registrations) == 1
    assert wearables.connection("polar").provider_user_id


def test_it_shows_a_connected_page_to_browsers(wearables: Wearables) -> None:  # noqa: F811
    _state, url = _state_of(wearables, "oura")
    browser, callback = wearables.consent("oura", url)
    page = browser.get(callback, headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "oura is connected" in page.text


def test_it_links_the_sandbox_without_an_outside_server(wearables: Wearables) -> None:  # noqa: F811
    answer = requests.post(
        f"{wearables.url}/v1/me/connections/sandbox", headers=wearables.headers("patient_a")
    )
    browser, callback = wearables.consent("sandbox", answer.json()["authorize_url"])
    assert callback.startswith(f"{wearables.url}/v1/integrations/sandbox/callback")
    landed = browser.get(callback, headers={"Accept": "application/json"}, timeout=10)
    assert landed.json() == {"provider": "sandbox", "status": "active"}
    assert wearables.access_token("sandbox") == "steady_improver"


def test_it_lists_connections_without_tokens(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("oura")
    wearables.link("strava")
    listed = requests.get(
        f"{wearables.url}/v1/me/connections", headers=wearables.headers("patient_a"), timeout=10
    )
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [item["provider"] for item in items] == ["oura", "strava"]
    assert items[0]["status"] == "active"
    assert {"scopes", "last_sync_at", "next_sync_at"} <= set(items[0])
    assert "token" not in listed.text
    assert "access-" not in listed.text
    other = requests.get(
        f"{wearables.url}/v1/me/connections", headers=wearables.headers("patient_b"), timeout=10
    )
    assert other.json()["items"] == []


def test_it_refuses_unknown_and_unconfigured_providers(client: Any, seed: Seed) -> None:
    unknown = client.post("/v1/me/connections/fitbit", headers=seed.headers("patient_a"))
    assert unknown.status_code == 404
    assert unknown.mimetype == "application/problem+json"
    unconfigured = client.post("/v1/me/connections/oura", headers=seed.headers("patient_a"))
    assert unconfigured.status_code == 409
    assert "OURA_CLIENT_ID" in unconfigured.get_json()["detail"]


def test_it_accepts_each_state_once(wearables: Wearables) -> None:  # noqa: F811
    _state, url = _state_of(wearables, "strava")
    browser, location = wearables.consent("strava", url)
    first = browser.get(location, headers={"Accept": "application/json"}, timeout=10)
    replay = browser.get(location, headers={"Accept": "application/json"}, timeout=10)
    assert first.status_code == 200
    assert replay.status_code == 400
    assert "state" in replay.json()["detail"]


def test_it_refuses_a_state_issued_for_another_provider(wearables: Wearables) -> None:  # noqa: F811
    state, _url = _state_of(wearables, "oura")
    answer = requests.get(
        f"{wearables.url}/v1/integrations/strava/callback",
        params={"code": "x", "state": state},
        timeout=10,
    )
    assert answer.status_code == 400
    assert "another provider" in answer.json()["detail"]


def test_it_refuses_an_expired_state(wearables: Wearables) -> None:  # noqa: F811
    state, url = _state_of(wearables, "oura")
    browser, location = wearables.consent("oura", url)
    with db.transaction() as session:
        row = session.get(OAuthState, state)
        assert row is not None
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    answer = browser.get(location, timeout=10)
    assert answer.status_code == 400
    assert "expired" in answer.json()["detail"]
    assert db.session.scalar(select(func.count()).select_from(WearableConnection)) == 0


def test_it_handles_a_denied_consent(wearables: Wearables) -> None:  # noqa: F811
    state, url = _state_of(wearables, "oura")
    browser = requests.Session()
    assert browser.get(url, allow_redirects=False, timeout=10).status_code == 302
    answer = browser.get(
        f"{wearables.url}/v1/integrations/oura/callback",
        params={"error": "access_denied", "state": state},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert "access_denied" in answer.json()["detail"]
    assert db.session.scalar(select(func.count()).select_from(WearableConnection)) == 0
    assert db.session.get(OAuthState, state) is None  # spent


def test_it_refuses_a_callback_without_state(wearables: Wearables) -> None:  # noqa: F811
    answer = requests.get(
        f"{wearables.url}/v1/integrations/oura/callback", params={"code": "c"}, timeout=10
    )
    assert answer.status_code == 400


def _add_data(env: Wearables, source: str) -> None:
    with db.transaction() as session:
        session.add(
            DailyActivity(
                patient_id=env.seed.patient_a, date=dt.date(2026, 5, 1), source=source, steps=5000
            )
        )
        start = dt.datetime(2026, 5, 1, 9, tzinfo=dt.UTC)
        session.add(
            WalkingSession(
                patient_id=env.seed.patient_a,
                source=source,
                external_id=f"{source}-walk",
                start=start,
                end=start + dt.timedelta(minutes=30),
            )
        )


def _count(model: Any, source: str) -> int:
    db.session.remove()
    return int(
        db.session.scalar(select(func.count()).select_from(model).where(model.source == source))
        or 0
    )


def test_it_unlinks_and_revokes_keeping_the_data(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("google_health")
    _add_data(wearables, "google_health")
    answer = requests.delete(
        f"{wearables.url}/v1/me/connections/google_health",
        headers=wearables.headers("patient_a"),
        timeout=10,
    )
    assert answer.status_code == 204
    conn = wearables.connection("google_health")
    assert conn.status == "revoked"
    assert conn.access_token_enc is None
    assert conn.refresh_token_enc is None
    assert conn.next_sync_at is None
    assert wearables.fakes["google_health"].revoked  # told the provider
    assert _count(DailyActivity, "google_health") == 1
    assert _count(WalkingSession, "google_health") == 1


def test_it_unlinks_and_deletes_that_providers_data(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("oura")
    _add_data(wearables, "oura")
    _add_data(wearables, "manual")
    answer = requests.delete(
        f"{wearables.url}/v1/me/connections/oura",
        params={"delete_data": "true"},
        headers=wearables.headers("patient_a"),
        timeout=10,
    )
    assert answer.status_code == 204
    assert wearables.connection("oura").status == "revoked"
    assert _count(DailyActivity, "oura") == 0
    assert _count(WalkingSession, "oura") == 0
    assert _count(DailyActivity, "manual") == 1


def test_it_unlinks_even_when_the_provider_is_down(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("google_health")
    wearables.fakes["google_health"].stop()
    answer = requests.delete(
        f"{wearables.url}/v1/me/connections/google_health",
        headers=wearables.headers("patient_a"),
        timeout=30,
    )
    assert answer.status_code == 204
    assert wearables.connection("google_health").status == "revoked"


def test_it_answers_404_when_unlinking_what_is_not_linked(client: Any, seed: Seed) -> None:
    answer = client.delete("/v1/me/connections/oura", headers=seed.headers("patient_a"))
    assert answer.status_code == 404


def test_it_relinks_after_needing_reauth(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("strava")
    with db.transaction() as session:
        conn = session.get(WearableConnection, wearables.connection("strava").id)
        assert conn is not None
        conn.status = "needs_reauth"
        conn.cursor = "2026-05-01"
    assert wearables.link("strava").status_code == 200
    conn = wearables.connection("strava")
    assert conn.status == "active"
    assert conn.cursor == "2026-05-01"  # the history already read is not read again
