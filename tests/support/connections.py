"""Shared fixtures for the connection, sync and webhook tests: the app on a real port, wired to
fake provider servers on loopback, and helpers to link a patient end to end over HTTP.

(Named test_* so it sits with the modules it serves; it holds fixtures and helpers, no tests.)
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from service.config import ProviderSettings, Settings
from service.connections.models import WearableConnection
from service.crypto import cipher_for
from service.extensions import db
from tests.conftest import LiveServer
from tests.fakes.garmin import FakeGarmin
from tests.fakes.google_health import FakeGoogleHealth
from tests.fakes.oura import FakeOura
from tests.fakes.polar import FakePolar
from tests.fakes.server import CLIENT_ID, CLIENT_SECRET, FakeProviderServer
from tests.fakes.strava import FakeStrava
from tests.fakes.withings import FakeWithings
from tests.support.factories import Seed

WEBHOOK_SECRET = "whsec-service-test-0123456789"
FAKES: dict[str, type[FakeProviderServer]] = {
    "google_health": FakeGoogleHealth,
    "oura": FakeOura,
    "withings": FakeWithings,
    "polar": FakePolar,
    "strava": FakeStrava,
    "garmin": FakeGarmin,
}
OAUTH_PROVIDERS = sorted(FAKES)


@dataclass
class Wearables:
    """The app on a live port, its fakes and the seeded users."""

    app: Flask
    url: str
    fakes: dict[str, Any]  # provider -> its FakeProviderServer subclass
    seed: Seed

    @property
    def settings(self) -> Settings:
        """The running app's settings."""
        settings: Settings = self.app.extensions["backstride.settings"]
        return settings

    def headers(self, who: str) -> dict[str, str]:
        """Bearer headers of a seeded user."""
        return self.seed.headers(who)

    def link(self, provider: str, who: str = "patient_a") -> requests.Response:
        """Link as the app and a browser would: POST, open the link, consent, reach the callback."""
        answer = requests.post(
            f"{self.url}/v1/me/connections/{provider}", headers=self.headers(who), timeout=10
        )
        assert answer.status_code == 200, answer.text
        browser, callback = self.consent(provider, answer.json()["authorize_url"])
        return browser.get(callback, headers={"Accept": "application/json"}, timeout=10)

    def consent(self, provider: str, authorize_url: str) -> tuple[requests.Session, str]:
        """Open the app's link in a fresh browser and consent; return it and the callback URL.

        The link (our server) sets the binding cookie and redirects to the provider's consent
        page, which (the fakes consent at once) redirects to our callback, not yet followed.
        """
        browser = requests.Session()
        opened = browser.get(authorize_url, allow_redirects=False, timeout=10)
        assert opened.status_code == 302, opened.text
        location = opened.headers["Location"]
        callback = f"{self.url}/v1/integrations/{provider}/callback"
        if not location.startswith(callback):  # the sandbox points straight at our callback
            consent = browser.get(location, allow_redirects=False, timeout=10)
            assert consent.status_code == 302, consent.text
            location = consent.headers["Location"]
        assert location.startswith(callback)
        return browser, location

    def connection(self, provider: str, who: str = "patient_a") -> WearableConnection:
        """Read a connection row afresh."""
        db.session.remove()
        conn = db.session.scalar(
            select(WearableConnection).where(
                WearableConnection.patient_id == getattr(self.seed, who),
                WearableConnection.provider == provider,
            )
        )
        assert conn is not None
        return conn

    def access_token(self, provider: str, who: str = "patient_a") -> str | None:
        """Decrypt a connection's access token."""
        return cipher_for(self.settings).decrypt(self.connection(provider, who).access_token_enc)


def provider_settings(fakes: dict[str, FakeProviderServer]) -> dict[str, ProviderSettings]:
    """Point every provider at its fake."""
    providers = {
        name: ProviderSettings(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            base_url=fake.base_url,
            webhook_secret=WEBHOOK_SECRET,
        )
        for name, fake in fakes.items()
    }
    providers["sandbox"] = ProviderSettings(client_id="sandbox", client_secret="sandbox")
    return providers


@pytest.fixture
def wearables(seed: Seed, make_app: Any) -> Iterator[Wearables]:
    """The app served on loopback with every provider configured against a running fake."""
    fakes = {name: cls().start() for name, cls in FAKES.items()}
    try:
        app = make_app(providers=provider_settings(fakes))
        server = LiveServer(app)
        # The redirect URI must name the port we only know once the server is bound.
        settings: Settings = app.extensions["backstride.settings"]
        app.extensions["backstride.settings"] = settings.replace(public_base_url=server.url)
        with server, app.app_context():
            yield Wearables(app, server.url, fakes, seed)
            db.session.remove()
    finally:
        # Each server's shutdown waits out a poll interval: stop them side by side.
        stoppers = [threading.Thread(target=fake.stop) for fake in fakes.values()]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()


def due_now(env: Wearables, provider: str, who: str = "patient_a") -> None:
    """Make a connection due at once (as after linking or a webhook)."""
    with db.transaction() as session:
        conn = session.get(WearableConnection, env.connection(provider, who).id)
        assert conn is not None
        conn.next_sync_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)


def query_of(url: str) -> dict[str, list[str]]:
    """Parse a URL's query string."""
    return parse_qs(urlsplit(url).query)
