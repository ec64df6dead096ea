"""ApnsSender against the fake APNs over cleartext HTTP/2: headers, provider token, reasons."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from integrations.http import new_http2_client
from integrations.push import ApnsSender, Outcome, PushConfigError
from integrations.push.apns import _ClientPool
from tests.fakes.apns import (
    DROP,
    KEY_ID,
    TEAM_ID,
    ApnsAnswer,
    FakeApns,
    apns_error_file,
    make_apns_key,
)
from tests.fakes.fcm import make_service_account
from tests.support.push import APNS_DEVICE, Clock, make_apns_sender, message


def test_it_sends_the_apns_headers_and_payload(
    apns_sender: ApnsSender, fake_apns: FakeApns
) -> None:
    before = int(time.time())
    result = apns_sender.send(message(APNS_DEVICE, urgent=True, ttl_seconds=3600))

    assert result.outcome is Outcome.SENT
    assert result.status == 200
    received = fake_apns.received[0]
    assert received.device_token == APNS_DEVICE
    headers = received.headers
    assert headers[":path"] == f"/3/device/{APNS_DEVICE}"
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-priority"] == "10"
    assert headers["apns-topic"] == "org.backstride.app"
    assert headers["apns-collapse-id"] == "tip-42"
    assert before + 3600 <= int(headers["apns-expiration"]) <= int(time.time()) + 3600
    assert headers["authorization"].startswith("bearer ")
    assert received.payload == {
        "aps": {
            "alert": {
                "title": "Time for a short walk",
                "body": "Ten easy minutes today keeps your back moving.",
            },
            "category": "TIP",
        },
        "tip_id": "tip-42",
        "category": "progression",
        "rule_id": "r-7",
    }


def test_it_uses_priority_5_when_not_urgent(apns_sender: ApnsSender, fake_apns: FakeApns) -> None:
    apns_sender.send(message(APNS_DEVICE))

    assert fake_apns.received[0].headers["apns-priority"] == "5"


def test_it_asks_apns_not_to_store_a_message_with_zero_ttl(
    apns_sender: ApnsSender, fake_apns: FakeApns
) -> None:
    apns_sender.send(message(APNS_DEVICE, ttl_seconds=0))

    assert fake_apns.received[0].headers["apns-expiration"] == "0"


def test_it_signs_an_es256_provider_token_with_key_and_team(
    apns_sender: ApnsSender, fake_apns: FakeApns, apns_key: tuple[str, Any]
) -> None:
    apns_sender.send(message(APNS_DEVICE))

    token = fake_apns.received[0].headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token)["kid"] == KEY_ID
    claims = jwt.decode(token, apns_key[1], algorithms=["ES256"])
    assert claims["iss"] == TEAM_ID
    assert abs(claims["iat"] - time.time()) < 60


def test_it_hashes_a_collapse_id_longer_than_64_bytes(
    apns_sender: ApnsSender, fake_apns: FakeApns
) -> None:
    long_id = "tip-" + "ü" * 40  # 84 bytes

    apns_sender.send(message(APNS_DEVICE, collapse_id=long_id))
    apns_sender.send(message(APNS_DEVICE, collapse_id=long_id))

    sent = [r.headers["apns-collapse-id"] for r in fake_apns.received]
    assert len(sent[0].encode()) <= 64
    assert sent[0] == sent[1]  # a retry still collapses with the first try


def test_it_reuses_the_provider_token_then_renews_it(
    apns_key: tuple[str, Any], fake_apns: FakeApns
) -> None:
    clock = Clock(time.time() - 45 * 60)  # tokens signed "in the past" stay valid for APNs
    sender = make_apns_sender(apns_key[0], fake_apns, clock=clock)
    for _ in range(5):
        sender.send(message(APNS_DEVICE))
    clock.now += 39 * 60
    sender.send(message(APNS_DEVICE))
    assert len(fake_apns.provider_tokens) == 1

    clock.now += 60  # 40 minutes old: renew
    result = sender.send(message(APNS_DEVICE))

    assert result.outcome is Outcome.SENT
    assert len(fake_apns.provider_tokens) == 2
    assert sender.provider_token.signed_count == 2
    sender.close()


@pytest.mark.parametrize("refresh_minutes", [10, 55])
def test_it_refuses_a_refresh_age_outside_20_to_50_minutes(
    apns_key: tuple[str, Any], fake_apns: FakeApns, refresh_minutes: int
) -> None:
    with pytest.raises(PushConfigError):
        make_apns_sender(apns_key[0], fake_apns, token_refresh_seconds=refresh_minutes * 60)


def test_it_renews_an_expired_provider_token_and_retries_once(
    apns_sender: ApnsSender, fake_apns: FakeApns
) -> None:
    fake_apns.next_answers.append(ApnsAnswer(403, "ExpiredProviderToken"))

    result = apns_sender.send(message(APNS_DEVICE))

    assert result.outcome is Outcome.SENT
    assert len(fake_apns.received) == 2
    assert len(fake_apns.provider_tokens) == 2


def test_it_fails_when_the_renewed_provider_token_is_refused_too(
    apns_key: tuple[str, Any], fake_apns: FakeApns
) -> None:
    other_pem, _ = make_apns_key()
    sender = make_apns_sender(other_pem, fake_apns)

    result = sender.send(message(APNS_DEVICE))

    assert result.outcome is Outcome.FAILED
    assert result.status == 403
    assert result.provider_response == "InvalidProviderToken"
    assert sender.provider_token.signed_count == 2
    sender.close()


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (apns_error_file("apns_error_bad_device_token_observed.json"), Outcome.DEAD_TOKEN),
        (
            apns_error_file("apns_error_device_token_not_for_topic_observed.json"),
            Outcome.DEAD_TOKEN,
        ),
        (ApnsAnswer(429, "TooManyRequests"), Outcome.RETRY),
        (ApnsAnswer(429, "TooManyProviderTokenUpdates"), Outcome.RETRY),
        (ApnsAnswer(500, "InternalServerError"), Outcome.RETRY),
        (ApnsAnswer(503, "ServiceUnavailable"), Outcome.RETRY),
        (ApnsAnswer(413, "PayloadTooLarge"), Outcome.FAILED),
        (ApnsAnswer(400, "BadTopic"), Outcome.FAILED),
        (ApnsAnswer(403, "Forbidden"), Outcome.FAILED),
    ],
)
def test_it_maps_each_reason(
    apns_sender: ApnsSender, fake_apns: FakeApns, answer: ApnsAnswer, outcome: Outcome
) -> None:
    fake_apns.next_answers.append(answer)

    result = apns_sender.send(message(APNS_DEVICE))

    assert result.outcome is outcome
    assert result.status == answer.status
    assert result.provider_response == answer.reason
    assert result.token_invalid_since is None


def test_it_reports_when_apns_saw_the_token_die(
    apns_sender: ApnsSender, fake_apns: FakeApns
) -> None:
    fake_apns.next_answers.append(ApnsAnswer(410, "Unregistered", {"timestamp": 1795000000123}))

    result = apns_sender.send(message(APNS_DEVICE))

    assert result.outcome is Outcome.DEAD_TOKEN
    assert result.status == 410
    assert result.token_invalid_since == datetime(2026, 11, 18, 11, 6, 40, 123000, tzinfo=UTC)


def test_it_honours_retry_after_on_429(apns_sender: ApnsSender, fake_apns: FakeApns) -> None:
    fake_apns.next_answers.append(ApnsAnswer(429, "TooManyRequests", headers={"retry-after": "7"}))

    result = apns_sender.send(message(APNS_DEVICE))

    assert result.retry_after == 7


def test_it_rejects_a_malformed_device_token_without_sending(
    apns_sender: ApnsSender, fake_apns: FakeApns
) -> None:
    result = apns_sender.send(message("../../3/device/zz"))

    assert result.outcome is Outcome.DEAD_TOKEN
    assert result.status is None
    assert fake_apns.received == []


def test_it_returns_retry_on_a_dropped_connection_and_reconnects(
    apns_sender: ApnsSender, fake_apns: FakeApns
) -> None:
    fake_apns.next_answers.append(DROP)

    dropped = apns_sender.send(message(APNS_DEVICE))
    after = apns_sender.send(message(APNS_DEVICE))

    assert dropped.outcome is Outcome.RETRY
    assert dropped.status is None
    assert after.outcome is Outcome.SENT
    assert fake_apns.connections == 2


def test_it_returns_retry_on_a_slow_answer(apns_key: tuple[str, Any], fake_apns: FakeApns) -> None:
    sender = make_apns_sender(apns_key[0], fake_apns, timeout=0.2)
    fake_apns.delay = 0.6

    result = sender.send(message(APNS_DEVICE))

    assert result.outcome is Outcome.RETRY
    assert result.provider_response == "ReadTimeout"
    sender.close()


def test_it_refuses_a_key_that_is_not_p256(fake_apns: FakeApns) -> None:
    rsa_pem = make_service_account()[0]["private_key"]

    with pytest.raises(PushConfigError):
        make_apns_sender(rsa_pem, fake_apns)


def test_it_sends_from_many_threads_over_reused_connections_with_one_token(
    apns_sender: ApnsSender, fake_apns: FakeApns
) -> None:
    dead = "b2" * 32
    fake_apns.token_answers[dead] = ApnsAnswer(410, "Unregistered", {"timestamp": 1})
    tokens = [dead if i % 5 == 0 else APNS_DEVICE for i in range(100)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda t: apns_sender.send(message(t)), tokens))

    assert [r.outcome for r in results] == [
        Outcome.DEAD_TOKEN if t == dead else Outcome.SENT for t in tokens
    ]
    assert len(fake_apns.received) == 100
    assert len(fake_apns.provider_tokens) == 1
    # One connection per concurrent send (h2 connections are not shared between threads),
    # reused: at most the eight threads' worth for a hundred sends.
    assert 1 <= fake_apns.connections <= 8


def test_a_connection_whose_send_raised_is_closed_not_lent_again(fake_apns: FakeApns) -> None:
    made: list[Any] = []

    def make() -> Any:
        made.append(new_http2_client(fake_apns.base_url, timeout=5))
        return made[-1]

    pool = _ClientPool(make)
    with pool.client() as client:  # a good send: the connection goes back to the pool
        assert client.get(f"{fake_apns.base_url}/3/device/{APNS_DEVICE}").status_code == 405

    def failing_send() -> None:
        with pool.client() as client:
            assert client is made[0]  # reused
            # As httpcore's per-stream bookkeeping can raise mid-exchange: the connection's
            # state is unknown afterwards.
            raise KeyError(3)

    with pytest.raises(KeyError):
        failing_send()

    assert made[0].is_closed
    with pool.client() as client:
        assert client is made[1]
        assert client.get(f"{fake_apns.base_url}/3/device/{APNS_DEVICE}").status_code == 405
    pool.close()
    assert made[1].is_closed
