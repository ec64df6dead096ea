"""Where the adapters used to disagree with the providers' own documents (issue 17), each now
does what the document says: Withings ids, statuses, revoke; Polar sports; Oura signatures;
Garmin backfill and edited activities; Strava and Polar pacing; Oura and Withings subscriptions."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import pytest

from integrations.wearables import (
    IntegrationError,
    RateLimited,
    Subscription,
    TokenExpired,
    WebhookRejected,
)
from integrations.wearables.garmin import GarminProvider
from integrations.wearables.oura import OuraProvider
from integrations.wearables.polar import PolarClient
from integrations.wearables.strava import StravaClient
from integrations.wearables.withings import WithingsProvider
from tests.fakes.garmin import GARMIN_USER_ID, FakeGarmin
from tests.fakes.oura import SUBSCRIPTION_TTL, FakeOura
from tests.fakes.polar import FakePolar
from tests.fakes.server import CLIENT_ID, CLIENT_SECRET
from tests.fakes.strava import FakeStrava
from tests.fakes.withings import USER_ID, FakeWithings
from tests.integrations.wearables.conftest import TODAY, WEBHOOK_SECRET, Linked, link, make_provider

TZ = ZoneInfo("Europe/Berlin")
CALLBACK = "https://backstride.test/v1/integrations/withings/webhook"


@pytest.fixture
def withings() -> Iterator[Linked]:
    """Withings linked against its fake."""
    with FakeWithings() as fake:
        provider = make_provider("withings", fake)
        yield Linked(fake, provider, link(provider))


# --- Withings -------------------------------------------------------------------------------


def test_it_gives_each_withings_activity_notification_its_own_id() -> None:
    provider = WithingsProvider(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_secret=WEBHOOK_SECRET
    )
    ids = []
    for day in ("2026-05-01", "2026-05-02"):
        body = f"userid={USER_ID}&appli=16&date={day}".encode()
        [event] = provider.handle_webhook(
            method="POST", headers={}, query={"secret": WEBHOOK_SECRET}, body=body
        )
        ids.append(event.event_id)
    assert ids[0] != ids[1]  # activity notifications carry `date`, not startdate/enddate


def test_it_treats_withings_2555_as_unauthorised_without_retrying(withings: Linked) -> None:
    fake = cast(FakeWithings, withings.fake)
    fake.status_override = 2555
    before = len(fake.requests)
    with pytest.raises(TokenExpired) as caught:
        withings.provider.fetch(withings.token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)
    assert caught.value.permanent is True
    assert len(fake.requests) - before == 1


@pytest.mark.parametrize("status", [501, 502, 503, 511])
def test_it_never_retries_withings_invalid_parameters(withings: Linked, status: int) -> None:
    fake = cast(FakeWithings, withings.fake)
    fake.status_override = status
    before = len(fake.requests)
    with pytest.raises(IntegrationError) as caught:
        withings.provider.fetch(withings.token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)
    assert (caught.value.permanent, caught.value.status) == (True, status)
    assert len(fake.requests) - before == 1


def test_it_leaves_a_withings_timeout_to_be_retried(withings: Linked) -> None:
    cast(FakeWithings, withings.fake).status_override = 522
    with pytest.raises(IntegrationError) as caught:
        withings.provider.fetch(withings.token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)
    assert (caught.value.permanent, caught.value.status) == (False, 522)


def test_it_revokes_withings_access_with_a_signed_nonce(withings: Linked) -> None:
    fake = cast(FakeWithings, withings.fake)
    withings.provider.subscribe(withings.token, callback_url=CALLBACK)
    assert fake.subscriptions == {(USER_ID, "16"): CALLBACK}

    withings.provider.revoke(withings.token)

    assert fake.revoked_users == [USER_ID]
    assert fake.subscriptions == {}  # Withings drops the notifications with the grant
    [revoke] = [r for r in fake.requests if r.form().get("action") == "revoke"]
    assert revoke.path == "/v2/oauth2"
    assert {"nonce", "signature", "client_id", "userid"} <= set(revoke.form())
    assert "client_secret" not in revoke.form()  # signed calls never carry the secret
    assert revoke.form()["nonce"] not in fake.nonces  # spent


def test_it_subscribes_and_unsubscribes_withings_activity_notifications(
    withings: Linked,
) -> None:
    fake = cast(FakeWithings, withings.fake)
    subscriptions = withings.provider.subscribe(withings.token, callback_url=CALLBACK)
    assert subscriptions == [Subscription(f"{USER_ID}:16", "activity")]
    withings.provider.unsubscribe(withings.token, subscriptions, callback_url=CALLBACK)
    assert fake.subscriptions == {}


def test_it_adds_the_secret_to_the_withings_callback_url() -> None:
    provider = WithingsProvider(client_id="c", client_secret="s", webhook_secret="w s")
    url = provider.callback_url("https://b.test/v1/integrations/withings/webhook")
    assert url == "https://b.test/v1/integrations/withings/webhook?secret=w+s"


# --- Oura -----------------------------------------------------------------------------------


def _oura() -> OuraProvider:
    return OuraProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_secret="w")


def _oura_signature(timestamp: str, text: str) -> str:
    digest = hmac.new(CLIENT_SECRET.encode(), (timestamp + text).encode(), hashlib.sha256)
    return digest.hexdigest().upper()


def test_it_verifies_the_oura_signature_over_the_documented_json_text() -> None:
    payload = {"event_type": "create", "data_type": "workout", "object_id": "w1", "user_id": "u"}
    sent = json.dumps(payload, indent=2).encode()  # however the body is spaced on the wire
    documented = _oura_signature("1715000000", json.dumps(payload, separators=(",", ":")))
    headers = {"x-oura-signature": documented, "x-oura-timestamp": "1715000000"}

    [event] = _oura().handle_webhook(method="POST", headers=headers, query={}, body=sent)

    assert (event.kind, event.provider_user_id) == ("activity", "u")
    over_raw_bytes = _oura_signature("1715000000", sent.decode())
    with pytest.raises(WebhookRejected):
        _oura().handle_webhook(
            method="POST",
            headers={**headers, "x-oura-signature": over_raw_bytes},
            query={},
            body=sent,
        )


def test_it_creates_only_the_missing_oura_subscriptions_and_renews_them() -> None:
    with FakeOura(now=datetime(2026, 5, 10, 12, tzinfo=UTC)) as fake:
        provider = make_provider("oura", fake)
        assert isinstance(provider, OuraProvider)
        token = link(provider)
        first = provider.subscribe(token, callback_url=CALLBACK)
        again = provider.subscribe(token, callback_url=CALLBACK)

        assert [s.data_type for s in first] == [
            "daily_activity:create",
            "daily_activity:update",
            "workout:create",
            "workout:update",
        ]
        assert again == first  # already there: nothing created twice
        assert len(fake.subscriptions) == 4
        assert all(s.shared and s.expires_at == fake.now + SUBSCRIPTION_TTL for s in first)

        fake.now += timedelta(days=25)
        renewed = provider.renew(first[0])
        assert renewed.expires_at == fake.now + SUBSCRIPTION_TTL
        assert renewed.external_id == first[0].external_id


# --- Garmin ---------------------------------------------------------------------------------


def test_it_asks_garmin_for_90_days_of_history_once() -> None:
    now = datetime(2026, 5, 10, 12, tzinfo=UTC)
    with FakeGarmin() as fake:
        provider = make_provider("garmin", fake)
        token = link(provider)
        assert provider.request_backfill(token, now=now) == 2
        assert provider.request_backfill(token, now=now) == 0  # 409: asked for already
        start, end = int((now - timedelta(days=90)).timestamp()), int(now.timestamp())
        assert fake.backfills == [("dailies", start, end), ("activities", start, end)]


def test_it_parses_garmin_manually_updated_activities_pushed_and_pulled() -> None:
    with FakeGarmin() as fake:
        provider = make_provider("garmin", fake)
        assert isinstance(provider, GarminProvider)
        token = link(provider)
        walk = fake.walk(TODAY)
        body = json.dumps({"manuallyUpdatedActivities": [walk]}).encode()
        [event] = provider.handle_webhook(
            method="POST", headers={}, query={"secret": WEBHOOK_SECRET}, body=body
        )
        assert (event.kind, event.provider_user_id) == ("activity", GARMIN_USER_ID)
        assert [s.external_id for s in event.sessions] == [f"garmin:walk-{TODAY.isoformat()}"]

        ping = fake.ping("manuallyUpdatedActivities", TODAY, TODAY)
        [pinged] = provider.handle_webhook(
            method="POST",
            headers={},
            query={"secret": WEBHOOK_SECRET},
            body=json.dumps(ping).encode(),
        )
        cursor = provider.cursor_with_pending(None, pinged.pull)
        result = provider.fetch(token, cursor=cursor, tz=TZ, today=TODAY)
        assert [s.external_id for s in result.sessions] == [f"garmin:walk-{TODAY.isoformat()}"]


# --- Strava ---------------------------------------------------------------------------------

# 2026-05-10 12:07:30 UTC: the 15-minute window resets at 12:15, the day at midnight.
STRAVA_NOW = datetime(2026, 5, 10, 12, 7, 30, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("usage", "wait_s"),
    [([99, 500], 7.5 * 60), ([10, 999], 11 * 3600 + 52.5 * 60)],
    ids=["15-minute window", "daily window"],
)
def test_it_paces_strava_by_its_rate_limit_headers(usage: list[int], wait_s: float) -> None:
    with FakeStrava() as fake:
        provider = make_provider("strava", fake)
        token = link(provider)
        client = cast(StravaClient, provider.http)
        client.clock = lambda: STRAVA_NOW
        fake.read_usage = usage
        provider.fetch(token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)  # uses the last one
        sent = len(fake.requests)

        with pytest.raises(RateLimited) as caught:
            provider.fetch(token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)

        assert len(fake.requests) == sent  # refused here: Strava would 429 and count it
        assert caught.value.retry_after == pytest.approx(wait_s)
        client.clock = lambda: STRAVA_NOW + wait_s
        fake.read_usage = [0, 0]
        provider.fetch(token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)  # window reset
        assert len(fake.requests) == sent + 1


POLAR_NOW = datetime(2026, 5, 10, 12, 7, 30, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("usage", "wait_s"),
    [([498, 900], 600), ([10, 4998], 80000)],  # a fetch makes two calls
    ids=["15-minute window", "24-hour window"],
)
def test_it_paces_polar_by_its_rate_limit_headers(usage: list[int], wait_s: float) -> None:
    with FakePolar() as fake:
        fake.today = TODAY
        provider = make_provider("polar", fake)
        token = link(provider)
        client = cast(PolarClient, provider.http)
        client.clock = lambda: POLAR_NOW
        fake.usage = usage
        provider.fetch(token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)  # spends the window
        sent = len(fake.requests)

        with pytest.raises(RateLimited) as caught:
            provider.fetch(token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)

        assert len(fake.requests) == sent  # refused here: Polar would 429 and count it
        assert caught.value.retry_after == pytest.approx(wait_s)
        client.clock = lambda: POLAR_NOW + wait_s
        fake.usage = [0, 0]
        provider.fetch(token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)  # window reset
        assert len(fake.requests) == sent + 2  # activities and exercises
