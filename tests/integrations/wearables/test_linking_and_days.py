"""Consent links, PKCE, registration, Garmin ping/pull, and local-day boundaries."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from integrations.wearables import PROVIDERS, ReauthRequired, TokenSet, pkce_pair
from integrations.wearables.base import fetch_window, local_day_bounds
from tests.fakes.garmin import FakeGarmin
from tests.fakes.google_health import FakeGoogleHealth
from tests.fakes.oura import FakeOura
from tests.fakes.polar import FakePolar
from tests.fakes.strava import FakeStrava
from tests.integrations.wearables.conftest import (
    REDIRECT_URI,
    TODAY,
    WEBHOOK_SECRET,
    link,
    make_provider,
)


def test_it_makes_a_valid_s256_pkce_pair() -> None:
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert pkce_pair()[0] != verifier


@pytest.mark.parametrize("name", ["google_health", "garmin"])
def test_it_sends_the_pkce_challenge_and_offline_access(name: str) -> None:
    provider = PROVIDERS[name](client_id="cid", client_secret="s")
    url = provider.authorize_url(state="xyz", redirect_uri=REDIRECT_URI, code_challenge="chal")
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge"] == ["chal"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] == ["xyz"]
    if name == "google_health":
        assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
        assert query["access_type"] == ["offline"]


def test_it_fails_the_exchange_when_the_verifier_does_not_match() -> None:
    with FakeGarmin() as fake:
        provider = make_provider("garmin", fake)
        _, challenge = pkce_pair()
        url = provider.authorize_url(state="s", redirect_uri=REDIRECT_URI, code_challenge=challenge)
        location = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        with pytest.raises(ReauthRequired):
            provider.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier="wrong")


def test_it_links_garmin_and_pulls_only_what_a_ping_names() -> None:
    with FakeGarmin() as fake:
        provider = make_provider("garmin", fake)
        token = link(provider)
        assert token.provider_user_id == "4aacafe82427c251df9c9592d0c06768"
        before = len(fake.requests)
        idle = provider.fetch(token, cursor=None, tz=ZoneInfo("UTC"), today=TODAY)
        assert (idle.days, len(fake.requests)) == ([], before)  # never polls blindly
        ping = fake.ping("dailies", TODAY - timedelta(days=2), TODAY)
        [event] = provider.handle_webhook(
            method="POST",
            headers={},
            body=json.dumps(ping).encode(),
            query={"secret": WEBHOOK_SECRET},
        )
        fake.corrupt_day(TODAY - timedelta(days=1))
        cursor = provider.cursor_with_pending(idle.cursor, event.pull)
        result = provider.fetch(token, cursor=cursor, tz=ZoneInfo("UTC"), today=TODAY)
        assert [d.date for d in result.days] == [TODAY - timedelta(days=2), TODAY]
        assert len(result.rejected) == 1
        assert json.loads(result.cursor or "")["pending"] == []


def test_it_never_sends_a_garmin_token_to_a_foreign_host() -> None:
    with FakeGarmin() as fake:
        provider = make_provider("garmin", fake)
        token = link(provider)
        cursor = provider.cursor_with_pending(
            None, ["https://evil.example/wellness-api/rest/dailies"]
        )
        before = len(fake.requests)
        result = provider.fetch(token, cursor=cursor, tz=ZoneInfo("UTC"), today=TODAY)
        assert result.days == []
        assert len(result.rejected) == 1
        assert len(fake.requests) == before


def test_it_registers_a_polar_user_once_and_accepts_409() -> None:
    with FakePolar(today=TODAY) as fake:
        provider = make_provider("polar", fake)
        token = link(provider)  # registers
        assert token.provider_user_id == "475"
        assert provider.register_user(token) == token  # second time: 409, fine
        assert len(fake.data_calls("/v3/users")) >= 2
        provider.revoke(token)
        assert fake.registered == set()


def test_it_keeps_the_google_refresh_token_and_revokes_it() -> None:
    with FakeGoogleHealth() as fake:
        provider = make_provider("google_health", fake)
        token = link(provider)
        assert token.provider_user_id == "AbC123xyz"
        fresh = provider.refresh(token)
        assert fresh.refresh_token == token.refresh_token
        provider.revoke(fresh)
        assert fake.revoked == [token.refresh_token]


def test_it_windows_from_the_cursor_with_lookback() -> None:
    today = date(2026, 5, 10)
    assert fetch_window(None, today, 3, 30) == (date(2026, 4, 11), today)
    assert fetch_window("2026-05-09", today, 3, 30) == (date(2026, 5, 7), today)
    assert fetch_window("2026-05-10", today, 3, 30) == (date(2026, 5, 8), today)
    # a connection far behind catches up max_days at a time
    assert fetch_window("2026-01-01", today, 3, 30) == (date(2025, 12, 30), date(2026, 1, 28))


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("America/Los_Angeles", date(2026, 3, 8), 23),  # spring forward
        ("America/Los_Angeles", date(2026, 11, 1), 25),  # fall back
        ("Pacific/Auckland", date(2026, 4, 5), 25),  # NZ DST ends
        ("Pacific/Auckland", date(2026, 9, 27), 23),  # NZ DST starts
        ("Asia/Kolkata", date(2026, 3, 8), 24),  # +05:30, no DST
    ],
)
def test_it_measures_local_days_across_dst(zone: str, day: date, hours: int) -> None:
    start, end = local_day_bounds(day, ZoneInfo(zone))
    assert end - start == timedelta(hours=hours)
    assert start.astimezone(ZoneInfo(zone)).hour == 0


@pytest.mark.parametrize(
    ("zone", "walk_utc_day"),
    [
        ("America/Los_Angeles", TODAY),  # 12:00Z on the 10th is 05:00 on the 10th
        ("Pacific/Auckland", TODAY - timedelta(days=1)),  # 12:00Z on the 9th is 00:00 on the 10th
        ("Asia/Kolkata", TODAY),  # 17:30 local
    ],
)
def test_it_assigns_strava_walks_to_the_patients_local_day(zone: str, walk_utc_day: date) -> None:
    # The fake has a walk at 12:00 UTC every day; ask only for local `TODAY`.
    with FakeStrava() as fake:
        provider = make_provider("strava", fake)
        token = link(provider)
        tz = ZoneInfo(zone)
        result = provider.fetch(
            token, cursor=TODAY.isoformat(), tz=tz, today=TODAY, lookback_days=1
        )
        assert [s.start.astimezone(tz).date() for s in result.sessions] == [TODAY]
        assert [s.start.date() for s in result.sessions] == [walk_utc_day]


def test_it_reads_a_dst_change_day_once_with_its_own_total() -> None:
    dst = date(2026, 3, 8)
    with FakeOura() as fake:
        provider = make_provider("oura", fake)
        token = link(provider)
        result = provider.fetch(
            token,
            cursor=dst.isoformat(),
            tz=ZoneInfo("America/Los_Angeles"),
            today=dst + timedelta(days=1),
        )
        dates = [d.date for d in result.days]
        assert dates.count(dst) == 1
        assert {d.date: d.steps for d in result.days}[dst] == fake.steps_for(dst)


def test_it_reports_expiry_ahead_of_time() -> None:
    now = datetime(2026, 5, 10, 12, tzinfo=UTC)
    token = TokenSet("a", "r", now + timedelta(minutes=4))
    assert token.expires_within(300, now=now)
    assert not token.expires_within(120, now=now)
    assert "secret" not in repr(TokenSet("secret-access", "secret-refresh", None))
