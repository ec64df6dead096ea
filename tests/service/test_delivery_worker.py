"""The delivery worker against fake FCM and APNs: sends, retries, dead tokens, leases, races."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy import update

from integrations.push import Outcome, PushResult
from service import create_app
from service.config import Settings
from service.delivery.models import PushDelivery
from service.delivery.outbox import enqueue
from service.delivery.worker import CLAIM_CHUNK, MAX_ATTEMPTS, deliver_due, retry_delay
from service.extensions import db
from tests.fakes.apns import ApnsAnswer, apns_error_file
from tests.fakes.fcm import DROP, FakeAnswer, fcm_error
from tests.support.delivery import (
    APNS_TOKEN,
    FCM_TOKEN,
    PushEnv,
    add_device,
    add_tip,
    all_deliveries,
    device_exists,
    one_delivery,
    push_env,
)
from tests.support.factories import Seed

QUOTA_BODY = {
    "error": {
        "code": 429,
        "message": "Quota exceeded for quota metric 'Send requests'.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": "QUOTA_EXCEEDED",
            }
        ],
    }
}


@pytest.fixture
def env(base_settings: Settings, tmp_path: Path, seed: Seed) -> Iterator[PushEnv]:
    """An app with FCM and APNs configured (fakes running), over the seeded users."""
    # Built directly (not with make_app): `seed` already empties the database afterwards.
    with push_env(lambda **push: create_app(base_settings.replace(**push)), tmp_path) as env:
        yield env


def _queue(patient_id: int, count: int = 1, *, now: dt.datetime) -> list[int]:
    with db.transaction() as session:
        tips = [add_tip(session, patient_id, created_at=now) for _ in range(count)]
        enqueue(session, tips, now)
        return [tip.id for tip in tips]


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_it_sends_due_pushes_with_the_tip_as_collapse_id(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, "android", FCM_TOKEN, at=now)
        add_device(session, seed.patient_a, "ios", APNS_TOKEN, at=now)
    (tip_id,) = _queue(seed.patient_a, now=now)
    sent_before = _sample("backstride_push_deliveries_total", channel="fcm", status="sent")
    assert deliver_due() == 2
    assert [(r.status, r.attempts) for r in all_deliveries()] == [("sent", 1), ("sent", 1)]
    (fcm,) = env.fcm.received
    assert fcm.message["token"] == FCM_TOKEN
    assert fcm.message["android"]["collapse_key"] == str(tip_id)
    assert fcm.message["data"]["tip_id"] == str(tip_id)
    (apns,) = env.apns.received
    assert apns.device_token == APNS_TOKEN
    assert apns.headers["apns-collapse-id"] == str(tip_id)
    assert apns.payload["aps"]["alert"]["title"] == "Time for a short walk"
    assert _sample("backstride_push_deliveries_total", channel="fcm", status="sent") == (
        sent_before + 1
    )
    assert deliver_due() == 0  # nothing is sent twice


def test_it_leaves_pushes_that_are_not_due_yet(env: PushEnv, seed: Seed, now: dt.datetime) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    _queue(seed.patient_a, now=now)
    db.session.execute(update(PushDelivery).values(next_attempt_at=now + dt.timedelta(hours=1)))
    db.session.commit()
    assert deliver_due(now) == 0
    assert env.fcm.received == []
    assert deliver_due(now + dt.timedelta(hours=1)) == 1
    assert len(env.fcm.received) == 1


def test_it_deletes_an_unregistered_fcm_device_and_its_queue(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        device_id = add_device(session, seed.patient_a, at=now).id
    _queue(seed.patient_a, 3, now=now)
    env.fcm.token_answers[FCM_TOKEN] = fcm_error("fcm_error_unregistered_observed.json")
    deliver_due(limit=1)
    assert not device_exists(device_id)
    rows = all_deliveries()
    assert [r.status for r in rows] == ["dead", "dead", "dead"]
    assert rows[0].provider_response == "UNREGISTERED"
    assert len(env.fcm.received) == 1  # the other two never left
    assert deliver_due() == 0


def test_it_deletes_an_apns_device_unregistered_after_it_registered(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    registered = now - dt.timedelta(days=3)
    with db.transaction() as session:
        device_id = add_device(session, seed.patient_a, "ios", APNS_TOKEN, at=registered).id
    _queue(seed.patient_a, now=now)
    invalid_ms = int((registered + dt.timedelta(days=1)).timestamp() * 1000)
    env.apns.next_answers.append(ApnsAnswer(410, "Unregistered", {"timestamp": invalid_ms}))
    deliver_due()
    assert not device_exists(device_id)
    assert one_delivery().status == "dead"


def test_it_keeps_an_apns_device_registered_again_after_the_410(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    registered = now - dt.timedelta(hours=1)
    with db.transaction() as session:
        device_id = add_device(session, seed.patient_a, "ios", APNS_TOKEN, at=registered).id
    _queue(seed.patient_a, now=now)
    invalid_ms = int((registered - dt.timedelta(days=2)).timestamp() * 1000)
    env.apns.next_answers.append(ApnsAnswer(410, "Unregistered", {"timestamp": invalid_ms}))
    deliver_due()
    assert device_exists(device_id)
    row = one_delivery()
    assert row.status == "dead"
    assert "kept" in (row.provider_response or "")


def test_it_deletes_an_apns_device_with_a_bad_token(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        device_id = add_device(session, seed.patient_a, "ios", APNS_TOKEN, at=now).id
    _queue(seed.patient_a, now=now)
    env.apns.next_answers.append(apns_error_file("apns_error_bad_device_token_observed.json"))
    deliver_due()
    assert not device_exists(device_id)
    assert one_delivery().provider_response == "BadDeviceToken"


def test_it_waits_at_least_a_minute_after_quota_exceeded(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    _queue(seed.patient_a, now=now)
    env.fcm.next_answers.append(FakeAnswer(429, QUOTA_BODY))
    deliver_due(now)
    row = one_delivery()
    assert (row.status, row.attempts, row.claimed_until) == ("pending", 1, None)
    assert row.next_attempt_at >= now + dt.timedelta(seconds=60)
    assert row.provider_response == "QUOTA_EXCEEDED"
    assert deliver_due(now + dt.timedelta(seconds=59)) == 0
    assert deliver_due(row.next_attempt_at) == 1
    assert one_delivery().status == "sent"
    assert len(env.fcm.received) == 2


def test_it_backs_off_exponentially_after_fcm_5xx(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    _queue(seed.patient_a, now=now)
    env.fcm.token_answers[FCM_TOKEN] = fcm_error("fcm_error_unavailable_observed.json")
    waits = []
    when = now
    for _ in range(3):
        assert deliver_due(when) == 1
        row = one_delivery()
        waits.append((row.next_attempt_at - when).total_seconds())
        when = row.next_attempt_at
    assert 10 <= waits[0] <= 15
    assert 20 <= waits[1] <= 30
    assert 40 <= waits[2] <= 60
    assert one_delivery().provider_response == "UNAVAILABLE"


def test_it_honours_retry_after_and_backs_off_long_after_apns_5xx(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
        add_device(session, seed.patient_a, "ios", APNS_TOKEN, at=now)
    _queue(seed.patient_a, now=now)
    body = fcm_error("fcm_error_unavailable_observed.json").body
    env.fcm.next_answers.append(FakeAnswer(503, body, {"Retry-After": "120"}))
    env.apns.next_answers.append(ApnsAnswer(503, "ServiceUnavailable"))
    deliver_due(now)
    by_channel = {row.channel: row for row in all_deliveries()}
    assert by_channel["fcm"].next_attempt_at >= now + dt.timedelta(seconds=120)
    assert by_channel["apns"].next_attempt_at >= now + dt.timedelta(minutes=15)
    assert {row.status for row in by_channel.values()} == {"pending"}


def test_it_retries_after_a_dropped_connection(env: PushEnv, seed: Seed, now: dt.datetime) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    _queue(seed.patient_a, now=now)
    env.fcm.next_answers.append(DROP)
    deliver_due(now)
    row = one_delivery()
    assert row.status == "pending"
    deliver_due(row.next_attempt_at)
    assert one_delivery().status == "sent"


def test_it_marks_permanent_failures_failed_and_keeps_the_device(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        device_id = add_device(session, seed.patient_a, at=now).id
    _queue(seed.patient_a, now=now)
    # A bare INVALID_ARGUMENT (observed for a payload too large) is our bug, not the token's.
    env.fcm.next_answers.append(fcm_error("fcm_error_payload_too_large_observed.json"))
    deliver_due()
    row = one_delivery()
    assert (row.status, row.provider_response) == ("failed", "INVALID_ARGUMENT")
    assert device_exists(device_id)
    assert deliver_due() == 0


def test_it_expires_pushes_past_their_useful_life_without_sending(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    then = now - dt.timedelta(hours=25)
    _queue(seed.patient_a, now=then)
    assert deliver_due() == 0
    assert one_delivery().status == "expired"
    assert env.fcm.received == []


def test_it_expires_when_the_next_retry_would_be_too_late(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    _queue(seed.patient_a, now=now - dt.timedelta(hours=23, minutes=59, seconds=50))
    env.fcm.next_answers.append(FakeAnswer(429, QUOTA_BODY))
    deliver_due(now)
    assert one_delivery().status == "expired"


def test_it_gives_up_after_the_last_attempt(env: PushEnv, seed: Seed, now: dt.datetime) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    _queue(seed.patient_a, now=now)
    db.session.execute(update(PushDelivery).values(attempts=MAX_ATTEMPTS - 1))
    db.session.commit()
    env.fcm.next_answers.append(fcm_error("fcm_error_internal_observed.json"))
    deliver_due(now)
    row = one_delivery()
    assert (row.status, row.attempts) == ("expired", MAX_ATTEMPTS)


def test_it_drops_pushes_for_a_device_removed_meanwhile(
    env: PushEnv, seed: Seed, client: object, now: dt.datetime
) -> None:
    with db.transaction() as session:
        device_id = add_device(session, seed.patient_a, at=now).id
    _queue(seed.patient_a, now=now)
    response = env.app.test_client().delete(
        f"/v1/me/devices/{device_id}", headers=seed.headers("patient_a")
    )
    assert response.status_code == 204
    assert deliver_due() == 1
    row = one_delivery()
    assert (row.status, row.provider_response) == ("dead", "device removed")
    assert env.fcm.received == []


def test_it_does_not_send_rows_another_worker_holds(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    _queue(seed.patient_a, now=now)
    # A worker claimed the row and died before recording anything.
    db.session.execute(
        update(PushDelivery).values(
            claimed_until=now + dt.timedelta(minutes=5), claim_token="x" * 32, attempts=1
        )
    )
    db.session.commit()
    assert deliver_due(now) == 0
    assert deliver_due(now + dt.timedelta(minutes=5, seconds=1)) == 1
    row = one_delivery()
    assert (row.status, row.attempts) == ("sent", 2)


def test_it_sends_each_push_once_with_two_workers_racing(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, "android", "fcm-a1", at=now)
        add_device(session, seed.patient_a, "android", "fcm-a2", at=now)
        add_device(session, seed.patient_b, "ios", APNS_TOKEN, at=now)
    tips = _queue(seed.patient_a, 30, now=now) + _queue(seed.patient_b, 30, now=now)
    env.fcm.delay = env.apns.delay = 0.002
    assert _race_two_workers(env, limit=7) == []
    sends = Counter(
        [(p.message["token"], p.message["data"]["tip_id"]) for p in env.fcm.received]
        + [(n.device_token, n.payload["tip_id"]) for n in env.apns.received]
    )
    assert len(sends) == 90 == len(all_deliveries())
    assert set(sends.values()) == {1}
    assert {row.status for row in all_deliveries()} == {"sent"}
    assert len(tips) == 60


def test_it_exposes_outcomes_latency_and_queue_depth_in_metrics(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    _queue(seed.patient_a, 2, now=now)
    client = env.app.test_client()
    body = client.get("/metrics").get_data(as_text=True)
    assert 'backstride_push_queue_depth{channel="fcm"} 2.0' in body
    assert "backstride_push_oldest_due_seconds" in body
    deliver_due()
    body = client.get("/metrics").get_data(as_text=True)
    assert 'backstride_push_queue_depth{channel="fcm"}' not in body
    assert 'backstride_push_deliveries_total{channel="fcm",status="sent"}' in body
    assert 'backstride_push_attempt_seconds_count{channel="fcm"}' in body


def test_it_jitters_backoff_upwards_within_its_floor() -> None:
    quota = PushResult(Outcome.RETRY, 429, 60.0, "QUOTA_EXCEEDED")
    delays = [retry_delay(1, quota, "fcm", random.Random(seed)) for seed in range(50)]
    assert min(delays) >= 60
    assert max(delays) <= 90
    assert len(set(delays)) > 1
    server_error = PushResult(Outcome.RETRY, 500, None, "InternalServerError")
    assert retry_delay(1, server_error, "apns") >= 15 * 60
    assert retry_delay(20, server_error, "fcm") <= 3600 * 1.5


def test_it_claims_a_large_backlog_in_chunks(env: PushEnv, seed: Seed, now: dt.datetime) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    _queue(seed.patient_a, CLAIM_CHUNK + 6, now=now)
    assert deliver_due(limit=500) == CLAIM_CHUNK + 6
    assert {row.status for row in all_deliveries()} == {"sent"}
    assert len(env.fcm.received) == CLAIM_CHUNK + 6


def test_it_retries_later_when_a_channels_credentials_are_unreadable(
    make_app: Callable[..., Flask], tmp_path: Path, seed: Seed, now: dt.datetime
) -> None:
    app = make_app(fcm_credentials_file=str(tmp_path / "missing.json"))
    with app.app_context():
        with db.transaction() as session:
            add_device(session, seed.patient_a, at=now)
        _queue(seed.patient_a, now=now)
        assert deliver_due(now) == 1
        row = one_delivery()
        assert row.status == "pending"
        assert row.next_attempt_at > now
        assert (row.provider_response or "").startswith("sender unavailable: fcm")


def test_it_survives_two_workers_told_at_once_that_a_device_is_dead(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        device_id = add_device(session, seed.patient_a, at=now).id
        add_device(session, seed.patient_a, "ios", APNS_TOKEN, at=now)
    _queue(seed.patient_a, 40, now=now)
    env.fcm.token_answers[FCM_TOKEN] = fcm_error("fcm_error_unregistered_observed.json")
    env.fcm.delay = env.apns.delay = 0.005
    assert _race_two_workers(env, limit=10) == []
    assert not device_exists(device_id)
    statuses = Counter((row.channel, row.status) for row in all_deliveries())
    assert statuses == {("fcm", "dead"): 40, ("apns", "sent"): 40}
    assert len(env.apns.received) == 40


def _race_two_workers(env: PushEnv, *, limit: int) -> list[BaseException]:
    """Run two delivery workers from a common start until the outbox is empty; their errors."""
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with env.app.app_context():
                start.wait()
                while deliver_due(limit=limit):
                    pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)  # bounds a hang only; a loaded machine takes what it takes
    assert not any(thread.is_alive() for thread in threads), "a worker never finished"
    return errors
