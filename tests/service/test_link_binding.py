"""OAuth linking is bound to the browser that opened the app's link (connections/binding.py).

A consent link that reaches the callback from any other browser (no cookie, or another link's
cookie) is refused before the code is exchanged, and nothing is attached to anyone.
"""

from __future__ import annotations

import datetime as dt
from http.cookies import SimpleCookie
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from service.connections.binding import COOKIE, OPEN_WITHIN
from service.connections.models import OAuthState, WearableConnection
from service.extensions import db, get_settings
from tests.support.connections import (  # noqa: F401 - the fixture is used by name
    Wearables,
    query_of,
    wearables,
)
from tests.support.factories import Seed


def _start(env: Wearables, provider: str, who: str = "patient_a") -> str:
    answer = requests.post(
        f"{env.url}/v1/me/connections/{provider}", headers=env.headers(who), timeout=10
    )
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["authorize_url"]
    return url


def _token_calls(env: Wearables, provider: str) -> int:
    return sum(1 for r in env.fakes[provider].requests if r.path == "/token")


def _connections() -> int:
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(WearableConnection)) or 0


def test_it_hands_the_app_its_own_start_link(wearables: Wearables) -> None:  # noqa: F811
    url = _start(wearables, "oura")

    assert url.startswith(f"{wearables.url}/v1/integrations/oura/authorize?state=")
    assert db.session.get(OAuthState, query_of(url)["state"][0]) is not None


def test_it_refuses_a_callback_from_a_browser_without_the_cookie(
    wearables: Wearables,  # noqa: F811
) -> None:
    _browser, callback = wearables.consent("oura", _start(wearables, "oura"))
    forwarded_to = requests.Session()  # someone else's browser: no binding cookie

    answer = forwarded_to.get(callback, headers={"Accept": "application/json"}, timeout=10)

    assert answer.status_code == 403
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert "different browser" in answer.json()["detail"]
    assert _connections() == 0
    assert _token_calls(wearables, "oura") == 0  # the code was never exchanged
    # The state is spent: the consent cannot be replayed from the right browser either.
    assert db.session.scalar(select(func.count()).select_from(OAuthState)) == 0


def test_it_refuses_a_forwarded_consent_link_in_a_browser_with_its_own_link(
    wearables: Wearables,  # noqa: F811
) -> None:
    """Patient A forwards their consent page to patient B, who has a link of their own open."""
    attacker_consent = requests.Session().get(
        _start(wearables, "oura", "patient_a"), allow_redirects=False, timeout=10
    )
    victim = requests.Session()
    victim.get(_start(wearables, "oura", "patient_b"), allow_redirects=False, timeout=10)
    assert victim.cookies.get(COOKIE)  # the victim's browser holds a cookie, for B's link

    consent = victim.get(attacker_consent.headers["Location"], allow_redirects=False, timeout=10)
    answer = victim.get(consent.headers["Location"], timeout=10)

    assert answer.status_code == 403
    assert _connections() == 0
    assert _token_calls(wearables, "oura") == 0


def test_it_links_in_the_browser_that_opened_the_link(wearables: Wearables) -> None:  # noqa: F811
    browser, callback = wearables.consent("oura", _start(wearables, "oura"))

    answer = browser.get(callback, headers={"Accept": "application/json"}, timeout=10)

    assert answer.status_code == 200
    assert answer.json() == {"provider": "oura", "status": "active"}
    assert _connections() == 1
    assert not browser.cookies.get(COOKIE)  # cleared once used


def test_it_opens_a_start_link_only_once(wearables: Wearables) -> None:  # noqa: F811
    url = _start(wearables, "oura")
    first = requests.get(url, allow_redirects=False, timeout=10)

    again = requests.get(url, allow_redirects=False, timeout=10)

    assert first.status_code == 302
    assert again.status_code == 400
    assert "already opened" in again.json()["detail"]
    assert "set-cookie" not in {k.lower() for k in again.headers}


def test_it_refuses_a_start_link_opened_too_late(wearables: Wearables) -> None:  # noqa: F811
    url = _start(wearables, "oura")
    with db.transaction() as session:
        row = session.get(OAuthState, query_of(url)["state"][0])
        assert row is not None
        row.created_at -= OPEN_WITHIN + dt.timedelta(seconds=1)

    answer = requests.get(url, allow_redirects=False, timeout=10)

    assert answer.status_code == 400
    assert "expired" in answer.json()["detail"]


def test_it_refuses_a_start_link_for_another_provider(wearables: Wearables) -> None:  # noqa: F811
    url = _start(wearables, "oura").replace("/oura/", "/strava/")

    answer = requests.get(url, allow_redirects=False, timeout=10)

    assert answer.status_code == 400


def test_it_sets_a_cookie_only_the_callback_sees(wearables: Wearables) -> None:  # noqa: F811
    opened = requests.get(_start(wearables, "oura"), allow_redirects=False, timeout=10)

    cookie = SimpleCookie(opened.headers["Set-Cookie"])[COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/v1/integrations/oura/callback"
    assert not cookie["secure"]  # plain http on loopback
    assert int(cookie["max-age"]) <= 600
    assert opened.headers["Cache-Control"] == "no-store"
    assert opened.headers["Location"].startswith(wearables.fakes["oura"].base_url)


@pytest.mark.parametrize(
    ("base", "path"),
    [("https://api.backstride.example", "/"), ("https://example.org/backstride", "/backstride/")],
)
def test_it_marks_the_cookie_secure_under_https(
    app: Flask, seed: Seed, monkeypatch: pytest.MonkeyPatch, base: str, path: str
) -> None:
    settings = get_settings().replace(public_base_url=base)
    monkeypatch.setitem(app.extensions, "backstride.settings", settings)
    client: Any = app.test_client()
    url = client.post("/v1/me/connections/sandbox", headers=seed.headers("patient_a")).json[
        "authorize_url"
    ]
    assert url.startswith(f"{base}/v1/integrations/sandbox/authorize?")

    # Behind a proxy that strips the prefix, the app itself serves /v1/...
    opened = client.get(url.removeprefix(base))

    cookie = SimpleCookie(opened.headers["Set-Cookie"])[COOKIE]
    assert cookie["secure"]
    assert cookie["path"] == f"{path}v1/integrations/sandbox/callback"
