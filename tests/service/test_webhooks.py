"""Provider webhooks over HTTP: verification, handshakes, idempotency, marking due, Garmin data."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import requests
from sqlalchemy import func, select

from service.activity.models import DailyActivity, WalkingSession
from service.connections.models import WearableConnection, WebhookReceipt
from service.connections.sync import sync_due_connections
from service.extensions import db
from tests.fakes.garmin import GARMIN_USER_ID
from tests.fakes.google_health import HEALTH_USER_ID
from tests.fakes.oura import FakeOura
from tests.fakes.server import CLIENT_SECRET, load_payload
from tests.fakes.strava import ATHLETE_ID
from tests.support.connections import (  # noqa: F401 - the fixture is used by name
    WEBHOOK_SECRET,
    Wearables,
    wearables,
)
from tests.support.factories import Seed


def _hook(env: Wearables, provider: str) -> str:
    return f"{env.url}/v1/integrations/{provider}/webhook"


def _not_due(env: Wearables, provider: str) -> None:
    """Pretend the connection synced a while ago and is not due for an hour."""
    with db.transaction() as session:
        conn = session.get(WearableConnection, env.connection(provider).id)
        assert conn is not None
        conn.last_sync_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        conn.next_sync_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)


def _next_sync(env: Wearables, provider: str) -> dt.datetime:
    when = env.connection(provider).next_sync_at
    assert when is not None
    return when


def _google_body() -> bytes:
    body = load_payload("google_health_webhook_notification.constructed.json")["_notification_body"]
    for item in body:
        item["data"]["healthUserId"] = HEALTH_USER_ID
    return json.dumps(body).encode()


def test_it_marks_the_connection_due_on_a_verified_notification(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("google_health")
    _not_due(wearables, "google_health")

    answer = requests.post(
        _hook(wearables, "google_health"),
        data=_google_body(),
        headers={"Authorization": WEBHOOK_SECRET, "Content-Type": "application/json"},
        timeout=10,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] >= 1
    conn = wearables.connection("google_health")
    assert conn.next_sync_at is not None
    assert conn.next_sync_at <= dt.datetime.now(dt.UTC)
    # No sync ran inline: the provider saw no data call.
    assert wearables.fakes["google_health"].data_calls("/v4/users/me/dataTypes") == []


def test_it_ignores_replayed_notifications(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("google_health")
    body = _google_body()
    headers = {"Authorization": WEBHOOK_SECRET, "Content-Type": "application/json"}
    first = requests.post(_hook(wearables, "google_health"), data=body, headers=headers, timeout=10)
    _not_due(wearables, "google_health")
    replay = requests.post(
        _hook(wearables, "google_health"), data=body, headers=headers, timeout=10
    )

    assert first.json()["accepted"] >= 1
    assert replay.status_code == 200
    assert replay.json()["accepted"] == 0
    assert _next_sync(wearables, "google_health") > dt.datetime.now(dt.UTC)
    receipts = db.session.scalar(select(func.count()).select_from(WebhookReceipt))
    assert receipts == first.json()["accepted"]


def test_it_rejects_bad_and_missing_signatures(wearables: Wearables) -> None:  # noqa: F811
    url = _hook(wearables, "google_health")
    wrong = requests.post(url, data=_google_body(), headers={"Authorization": "nope"}, timeout=10)
    missing = requests.post(url, data=_google_body(), timeout=10)
    assert wrong.status_code == 403
    assert missing.status_code == 401
    assert wrong.headers["Content-Type"] == "application/problem+json"
    assert WEBHOOK_SECRET not in wrong.text
    polar_body = json.dumps({"event": "ACTIVITY_SUMMARY", "user_id": 475}).encode()
    forged = requests.post(
        _hook(wearables, "polar"),
        data=polar_body,
        headers={"Polar-Webhook-Signature": "00" * 32},
        timeout=10,
    )
    assert forged.status_code == 401
    assert db.session.scalar(select(func.count()).select_from(WebhookReceipt)) == 0


def test_it_accepts_a_signed_polar_notification(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("polar")
    _not_due(wearables, "polar")
    user = wearables.connection("polar").provider_user_id
    body = json.dumps(
        {
            "event": "ACTIVITY_SUMMARY",
            "user_id": int(user or 0),
            "timestamp": "2026-05-01T10:00:00Z",
        }
    ).encode()
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = requests.post(
        _hook(wearables, "polar"),
        data=body,
        headers={"Polar-Webhook-Signature": signature, "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert _next_sync(wearables, "polar") <= dt.datetime.now(dt.UTC)


def test_it_answers_provider_handshakes(wearables: Wearables) -> None:  # noqa: F811
    strava = requests.get(
        _hook(wearables, "strava"),
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "15f7d1a91c1f40f8a748fd134752feb3",
            "hub.verify_token": WEBHOOK_SECRET,
        },
        timeout=10,
    )
    assert strava.status_code == 200
    assert strava.json() == {"hub.challenge": "15f7d1a91c1f40f8a748fd134752feb3"}
    strava_wrong = requests.get(
        _hook(wearables, "strava"),
        params={"hub.challenge": "x", "hub.verify_token": "guess"},
        timeout=10,
    )
    assert strava_wrong.status_code == 403
    oura = requests.get(
        _hook(wearables, "oura"),
        params={"verification_token": WEBHOOK_SECRET, "challenge": "abc"},
        timeout=10,
    )
    assert oura.json() == {"challenge": "abc"}
    withings = requests.head(_hook(wearables, "withings"), params={"secret": WEBHOOK_SECRET})
    assert withings.status_code == 200
    google = requests.post(
        _hook(wearables, "google_health"),
        json={"type": "verification"},
        headers={"Authorization": WEBHOOK_SECRET},
        timeout=10,
    )
    assert google.status_code == 201


def test_it_checks_oura_signatures_and_marks_due(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("oura")
    # Linking read the Oura user id from personal_info: notifications name that id.
    user_id = wearables.connection("oura").provider_user_id
    assert user_id == FakeOura.user_id
    _not_due(wearables, "oura")
    body = json.dumps(
        {
            "event_type": "update",
            "data_type": "daily_activity",
            "object_id": "daily-1",
            "event_time": "2026-05-01T10:00:00+00:00",
            "user_id": user_id,
        },
        separators=(",", ":"),  # as JSON.stringify writes it: Oura signs that text
    ).encode()
    timestamp = "1777630000"
    signature = hmac.new(CLIENT_SECRET.encode(), timestamp.encode() + body, hashlib.sha256)
    headers = {"x-oura-signature": signature.hexdigest(), "x-oura-timestamp": timestamp}
    answer = requests.post(_hook(wearables, "oura"), data=body, headers=headers, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"received": 1, "accepted": 1}
    assert _next_sync(wearables, "oura") <= dt.datetime.now(dt.UTC)


def test_it_revokes_on_a_strava_deauthorization(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("strava")
    assert wearables.connection("strava").provider_user_id == str(ATHLETE_ID)
    event = {
        "aspect_type": "update",
        "event_time": 1777630000,
        "object_id": ATHLETE_ID,
        "object_type": "athlete",
        "owner_id": ATHLETE_ID,
        "subscription_id": 1,
        "updates": {"authorized": "false"},
    }
    answer = requests.post(
        _hook(wearables, "strava"), params={"secret": WEBHOOK_SECRET}, json=event, timeout=10
    )
    assert answer.status_code == 200
    conn = wearables.connection("strava")
    assert conn.status == "revoked"
    assert conn.access_token_enc is None


def test_it_stores_garmin_pushed_data_directly(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("garmin")
    dailies = load_payload("garmin_health_dailies_push.json")  # Garmin pushes a bare list
    for item in dailies:
        item["userId"] = GARMIN_USER_ID
    push = {"dailies": dailies}
    answer = requests.post(
        _hook(wearables, "garmin"), params={"secret": WEBHOOK_SECRET}, json=push, timeout=10
    )
    assert answer.status_code == 200
    rows = db.session.scalars(select(DailyActivity).where(DailyActivity.source == "garmin")).all()
    assert {(str(r.date), r.steps) for r in rows} == {
        (item["calendarDate"], item["steps"]) for item in push["dailies"]
    }
    assert wearables.connection("garmin").next_sync_at is None  # nothing to pull


def test_it_pulls_garmin_callbacks_on_the_next_tick_after_a_ping(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("garmin")
    fake = wearables.fakes["garmin"]
    last = dt.datetime.now(dt.UTC).date()
    first = last - dt.timedelta(days=1)
    ping: dict[str, Any] = fake.ping("dailies", first, last) | fake.ping("activities", first, last)
    answer = requests.post(
        _hook(wearables, "garmin"), params={"secret": WEBHOOK_SECRET}, json=ping, timeout=10
    )
    assert answer.status_code == 200
    assert fake.data_calls("/wellness-api/rest/dailies") == []  # not inline
    conn = wearables.connection("garmin")
    assert len(conn.pending) == 2
    assert conn.next_sync_at is not None

    assert sync_due_connections(dt.datetime.now(dt.UTC)) == 1

    assert len(fake.data_calls("/wellness-api/rest/dailies")) == 1
    assert len(fake.data_calls("/wellness-api/rest/activities")) == 1
    days = db.session.scalars(select(DailyActivity).where(DailyActivity.source == "garmin")).all()
    assert {d.date for d in days} == {first, last}
    walks = db.session.scalar(
        select(func.count()).select_from(WalkingSession).where(WalkingSession.source == "garmin")
    )
    assert walks == 2
    done = wearables.connection("garmin")
    assert done.pending == []
    assert done.next_sync_at is None


def test_it_rejects_every_call_without_a_webhook_secret(client: Any, seed: Seed) -> None:
    answer = client.post(
        "/v1/integrations/google_health/webhook",
        data=_google_body(),
        headers={"Authorization": "anything"},
    )
    assert answer.status_code == 403
    handshake = client.get("/v1/integrations/strava/webhook", query_string={"hub.challenge": "x"})
    assert handshake.status_code == 403


def test_it_answers_404_for_unknown_providers(client: Any, seed: Seed) -> None:
    assert client.post("/v1/integrations/fitbit/webhook", data=b"{}").status_code == 404
    assert client.get("/v1/integrations/fitbit/callback?state=x").status_code == 404


def test_it_keeps_a_per_user_gap_between_notified_syncs(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("google_health")
    now = dt.datetime.now(dt.UTC)
    assert sync_due_connections(now) == 1
    answer = requests.post(
        _hook(wearables, "google_health"),
        data=_google_body(),
        headers={"Authorization": WEBHOOK_SECRET, "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200
    # Synced a moment ago: the notification brings the next sync forward, to a minute later.
    assert _next_sync(wearables, "google_health") == now + dt.timedelta(seconds=60)
