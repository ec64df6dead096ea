"""Fixtures: each provider adapter pointed at its fake server on loopback, linked for real."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from integrations.wearables import PROVIDERS, TokenSet, WearableProvider, pkce_pair
from tests.fakes.garmin import FakeGarmin
from tests.fakes.google_health import FakeGoogleHealth
from tests.fakes.oura import FakeOura
from tests.fakes.polar import FakePolar
from tests.fakes.server import CLIENT_ID, CLIENT_SECRET, FakeProviderServer
from tests.fakes.strava import FakeStrava
from tests.fakes.withings import FakeWithings

WEBHOOK_SECRET = "whsec-test-0123456789"
REDIRECT_URI = "https://backstride.test/v1/integrations/callback"
TODAY = date(2026, 5, 10)

FAKES: dict[str, type[FakeProviderServer]] = {
    "google_health": FakeGoogleHealth,
    "oura": FakeOura,
    "withings": FakeWithings,
    "polar": FakePolar,
    "strava": FakeStrava,
    "garmin": FakeGarmin,
}
POLLED = sorted(name for name in FAKES if PROVIDERS[name].polls)
REFRESHING = [name for name in POLLED if PROVIDERS[name].refreshes]


@dataclass
class Linked:
    """A provider adapter, its fake, and a token obtained through the real consent flow."""

    fake: FakeProviderServer
    provider: WearableProvider
    token: TokenSet


def make_provider(name: str, fake: FakeProviderServer, *, timeout: float = 2.0) -> WearableProvider:
    """Build the named adapter against a running fake."""
    return PROVIDERS[name](
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        base_url=fake.base_url,
        webhook_secret=WEBHOOK_SECRET,
        timeout=timeout,
    )


def link(provider: WearableProvider) -> TokenSet:
    """Follow the consent redirect like a browser and exchange the code."""
    verifier, challenge = pkce_pair()
    url = provider.authorize_url(state="st-1", redirect_uri=REDIRECT_URI, code_challenge=challenge)
    answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    back = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert back["state"] == ["st-1"]
    token = provider.exchange_code(
        code=back["code"][0], redirect_uri=REDIRECT_URI, code_verifier=verifier
    )
    return provider.register_user(token)


@pytest.fixture(params=POLLED)
def linked(request: pytest.FixtureRequest) -> Iterator[Linked]:
    """Yield each polled provider linked against its running fake."""
    with FAKES[request.param]() as fake:
        if isinstance(fake, FakePolar):
            fake.today = TODAY
        provider = make_provider(request.param, fake)
        yield Linked(fake, provider, link(provider))


@pytest.fixture(params=REFRESHING)
def refreshing(request: pytest.FixtureRequest) -> Iterator[Linked]:
    """Yield each polled provider whose token endpoint takes a refresh grant, linked."""
    with FAKES[request.param]() as fake:
        provider = make_provider(request.param, fake)
        yield Linked(fake, provider, link(provider))
