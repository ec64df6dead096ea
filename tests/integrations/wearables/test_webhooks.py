"""Webhook verification: good, bad and missing secrets, and each provider's handshake."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from integrations.wearables import PROVIDERS, WebhookEvent, WebhookRejected, WebhookResponse
from tests.fakes.server import CLIENT_ID, CLIENT_SECRET
from tests.integrations.wearables.conftest import WEBHOOK_SECRET


def adapter(name: str, secret: str | None = WEBHOOK_SECRET):
    """Build an adapter (no server needed: webhooks are pure)."""
    return PROVIDERS[name](client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_secret=secret)


def oura_headers(body: bytes, key: str = CLIENT_SECRET) -> dict[str, str]:
    """Sign as Oura documents it: timestamp + JSON.stringify(body), upper-case hex."""
    ts = "1715000000"
    text = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False)
    sig = hmac.new(key.encode(), (ts + text).encode(), hashlib.sha256).hexdigest().upper()
    return {"x-oura-signature": sig, "x-oura-timestamp": ts}


def polar_headers(body: bytes, key: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"Polar-Webhook-Signature": hmac.new(key.encode(), body, hashlib.sha256).hexdigest()}


OURA_BODY = json.dumps(
    {
        "event_type": "update",
        "data_type": "daily_activity",
        "object_id": "a1",
        "event_time": "2026-05-01T10:00:00Z",
        "user_id": "u-9",
    }
).encode()
POLAR_BODY = json.dumps(  # the documented ACTIVITY_SUMMARY payload (webhookPayloadActivitySummary)
    {
        "event": "ACTIVITY_SUMMARY",
        "user_id": 475,
        "date": "2026-05-01",
        "timestamp": "2026-05-01T10:00:00Z",
        "url": "https://www.polaraccesslink.com/v3/users/activities/2026-05-01",
    }
).encode()
STRAVA_BODY = json.dumps(
    {
        "object_type": "activity",
        "object_id": 1,
        "aspect_type": "create",
        "owner_id": 134815,
        "subscription_id": 9,
        "event_time": 1714557600,
        "updates": {},
    }
).encode()
WITHINGS_BODY = b"userid=12345678&appli=16&startdate=1714521600&enddate=1714608000"
GARMIN_BODY = json.dumps(
    {"dailies": [{"userId": "g1", "summaryId": "s1", "calendarDate": "2026-05-01", "steps": 5000}]}
).encode()
GOOGLE_BODY = json.dumps(
    [{"data": {"healthUserId": "h1", "dataType": "steps", "operation": "UPSERT", "intervals": []}}]
).encode()

# (provider, headers, query, body, expected kind, expected user) for a well-signed notification
GOOD = [
    ("oura", oura_headers(OURA_BODY), {}, OURA_BODY, "daily", "u-9"),
    ("polar", polar_headers(POLAR_BODY), {}, POLAR_BODY, "daily", "475"),
    ("strava", {}, {"secret": WEBHOOK_SECRET}, STRAVA_BODY, "activity", "134815"),
    ("withings", {}, {"secret": WEBHOOK_SECRET}, WITHINGS_BODY, "daily", "12345678"),
    (
        "garmin",
        {"garmin-client-id": CLIENT_ID},
        {"secret": WEBHOOK_SECRET},
        GARMIN_BODY,
        "daily",
        "g1",
    ),
    ("google_health", {"Authorization": WEBHOOK_SECRET}, {}, GOOGLE_BODY, "daily", "h1"),
]
# the same calls with a wrong signature or secret
# Each with the status its adapter answers: 401, but 403 where Google Health and Garmin are shown
# a credential that is present but not theirs.
BAD = [
    ("oura", oura_headers(OURA_BODY, "wrong"), {}, OURA_BODY, 401),
    ("polar", polar_headers(POLAR_BODY, "wrong"), {}, POLAR_BODY, 401),
    ("strava", {}, {"secret": "wrong"}, STRAVA_BODY, 401),
    ("withings", {}, {"secret": "wrong"}, WITHINGS_BODY, 401),
    ("garmin", {}, {"secret": "wrong"}, GARMIN_BODY, 401),
    ("google_health", {"Authorization": "Bearer wrong"}, {}, GOOGLE_BODY, 403),
    ("oura", {}, {}, OURA_BODY, 401),
    ("polar", {}, {}, POLAR_BODY, 401),
    ("strava", {}, {}, STRAVA_BODY, 401),
    ("google_health", {}, {}, GOOGLE_BODY, 401),
    ("garmin", {"garmin-client-id": "someone-else"}, {"secret": WEBHOOK_SECRET}, GARMIN_BODY, 403),
]


@pytest.mark.parametrize(("name", "headers", "query", "body", "kind", "user"), GOOD)
def test_it_accepts_a_verified_notification(
    name: str, headers: dict[str, str], query: dict[str, str], body: bytes, kind: str, user: str
) -> None:
    events = adapter(name).handle_webhook(method="POST", headers=headers, query=query, body=body)
    assert isinstance(events, list)
    [event] = events
    assert isinstance(event, WebhookEvent)
    assert (event.kind, event.provider_user_id) == (kind, user)
    again = adapter(name).handle_webhook(method="POST", headers=headers, query=query, body=body)
    assert isinstance(again, list)
    assert again[0].event_id == event.event_id  # stable for idempotency


@pytest.mark.parametrize(("name", "headers", "query", "body", "status"), BAD)
def test_it_rejects_a_bad_or_missing_signature(
    name: str, headers: dict[str, str], query: dict[str, str], body: bytes, status: int
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        adapter(name).handle_webhook(method="POST", headers=headers, query=query, body=body)
    assert caught.value.status == status


@pytest.mark.parametrize(("name", "headers", "query", "body", "kind", "user"), GOOD)
def test_it_rejects_everything_without_a_configured_secret(
    name: str, headers: dict[str, str], query: dict[str, str], body: bytes, kind: str, user: str
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        adapter(name, secret=None).handle_webhook(
            method="POST", headers=headers, query=query, body=body
        )
    assert caught.value.status == 403


def test_it_answers_the_strava_hub_challenge() -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.challenge": "15f7d1a91c1f40f8",
        "hub.verify_token": WEBHOOK_SECRET,
    }
    answer = adapter("strava").handle_webhook(method="GET", headers={}, query=query, body=b"")
    assert answer == WebhookResponse(200, {"hub.challenge": "15f7d1a91c1f40f8"})
    with pytest.raises(WebhookRejected):
        adapter("strava").handle_webhook(
            method="GET", headers={}, query={**query, "hub.verify_token": "nope"}, body=b""
        )


def test_it_answers_the_oura_verification_challenge() -> None:
    query = {"verification_token": WEBHOOK_SECRET, "challenge": "abc123"}
    answer = adapter("oura").handle_webhook(method="GET", headers={}, query=query, body=b"")
    assert answer == WebhookResponse(200, {"challenge": "abc123"})
    with pytest.raises(WebhookRejected):
        adapter("oura").handle_webhook(
            method="GET", headers={}, query={**query, "verification_token": "x"}, body=b""
        )


@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_it_answers_the_withings_url_check(method: str) -> None:
    answer = adapter("withings").handle_webhook(
        method=method, headers={}, query={"secret": WEBHOOK_SECRET}, body=b""
    )
    assert isinstance(answer, WebhookResponse)
    assert answer.status == 200


def test_it_answers_the_google_verification_pair() -> None:
    body = json.dumps({"type": "verification"}).encode()
    google = adapter("google_health")
    answer = google.handle_webhook(
        method="POST", headers={"Authorization": WEBHOOK_SECRET}, query={}, body=body
    )
    assert answer == WebhookResponse(201, {})
    with pytest.raises(WebhookRejected) as caught:
        google.handle_webhook(method="POST", headers={}, query={}, body=body)
    assert caught.value.status == 401


def test_it_answers_the_unsigned_polar_ping() -> None:
    answer = adapter("polar").handle_webhook(
        method="POST", headers={}, query={}, body=b'{"event": "PING", "timestamp": "2026-05-01"}'
    )
    assert answer == WebhookResponse(200, {})


def test_it_marks_a_strava_deauthorization() -> None:
    body = json.dumps(
        {
            "object_type": "athlete",
            "object_id": 134815,
            "aspect_type": "update",
            "owner_id": 134815,
            "updates": {"authorized": "false"},
            "event_time": 1714557600,
        }
    ).encode()
    [event] = adapter("strava").handle_webhook(
        method="POST", headers={}, query={"secret": WEBHOOK_SECRET}, body=body
    )
    assert event.kind == "deauthorization"


def test_it_refuses_webhooks_on_the_sandbox() -> None:
    with pytest.raises(WebhookRejected):
        adapter("sandbox").handle_webhook(method="POST", headers={}, query={}, body=b"{}")
