"""FcmSender against the fake FCM: message shape, token caching, error mapping, faults."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from integrations.push import FcmSender, Outcome, PushConfigError
from integrations.push.fcm import classify_fcm_response
from tests.fakes.fcm import DROP, PAYLOADS, FakeAnswer, FakeFcm, fcm_error, make_service_account
from tests.support.push import Clock, message


def test_it_sends_the_documented_message_shape(fcm_sender: FcmSender, fake_fcm: FakeFcm) -> None:
    before = int(time.time())
    result = fcm_sender.send(message(urgent=True))

    assert result.outcome is Outcome.SENT
    assert result.provider_response.startswith("projects/backstride-test/messages/")
    sent = fake_fcm.received[0].message
    documented = json.loads((PAYLOADS / "fcm_request_platform_overrides.fixed.json").read_text())
    assert set(documented["message"]) - {"webpush"} <= set(sent)
    assert sent["token"] == "fcm-token-1"
    assert sent["notification"] == {
        "title": "Time for a short walk",
        "body": "Ten easy minutes today keeps your back moving.",
    }
    assert sent["data"] == {"tip_id": "tip-42", "category": "progression", "rule_id": "r-7"}
    assert sent["android"]["ttl"] == "86400s"
    assert sent["android"]["priority"] == "high"
    assert sent["android"]["collapse_key"] == "tip-42"
    headers = sent["apns"]["headers"]
    assert headers["apns-priority"] == "10"
    assert headers["apns-collapse-id"] == "tip-42"
    assert before + 86400 <= int(headers["apns-expiration"]) <= int(time.time()) + 86400
    assert sent["apns"]["payload"]["aps"]["category"] == "TIP"
    assert fake_fcm.received[0].headers["content-type"].startswith("application/json")


def test_it_sends_normal_priority_and_custom_ttl(fcm_sender: FcmSender, fake_fcm: FakeFcm) -> None:
    fcm_sender.send(message(ttl_seconds=3600, category=None))

    sent = fake_fcm.received[0].message
    assert sent["android"]["priority"] == "normal"
    assert sent["android"]["ttl"] == "3600s"
    assert sent["apns"]["headers"]["apns-priority"] == "5"
    assert "payload" not in sent["apns"]


def test_it_sends_data_values_as_strings(fcm_sender: FcmSender, fake_fcm: FakeFcm) -> None:
    result = fcm_sender.send(message(data={"tip_id": 42, "urgent": True}))

    assert result.outcome is Outcome.SENT
    assert fake_fcm.received[0].message["data"] == {"tip_id": "42", "urgent": "True"}


def test_it_shortens_a_long_body_under_4096_bytes(fcm_sender: FcmSender, fake_fcm: FakeFcm) -> None:
    result = fcm_sender.send(message(body="é" * 5000))

    assert result.outcome is Outcome.SENT
    sent = fake_fcm.received[0].message
    compact = json.dumps({"message": sent}, ensure_ascii=False, separators=(",", ":"))
    assert 4000 < len(compact.encode()) <= 4096
    assert sent["notification"]["body"].endswith("é…")
    assert sent["notification"]["title"] == "Time for a short walk"


def test_it_reuses_one_access_token_across_sends(fcm_sender: FcmSender, fake_fcm: FakeFcm) -> None:
    results = [fcm_sender.send(message()) for _ in range(20)]

    assert {r.outcome for r in results} == {Outcome.SENT}
    assert fake_fcm.token_requests == 1
    assert len({p.headers["authorization"] for p in fake_fcm.received}) == 1


def test_it_renews_the_access_token_five_minutes_before_expiry(
    fcm_credentials: dict[str, str], fake_fcm: FakeFcm
) -> None:
    # Start in the past so every assertion the sender signs is still valid in real time.
    clock = Clock(time.time() - 3400)
    sender = FcmSender(credentials=fcm_credentials, base_url=fake_fcm.base_url, clock=clock)
    sender.send(message())
    clock.now += 3600 - 301  # still more than five minutes left
    sender.send(message())
    assert fake_fcm.token_requests == 1

    clock.now += 2  # now inside the five-minute margin
    result = sender.send(message())

    assert result.outcome is Outcome.SENT
    assert fake_fcm.token_requests == 2
    sender.close()


def test_it_refreshes_the_access_token_once_after_a_401(
    fcm_sender: FcmSender, fake_fcm: FakeFcm
) -> None:
    fcm_sender.send(message())
    fake_fcm.revoke_access_tokens()

    result = fcm_sender.send(message())

    assert result.outcome is Outcome.SENT
    assert fake_fcm.token_requests == 2
    assert fake_fcm.rejected_bearers == 1


def test_it_fails_when_the_fresh_access_token_is_refused_too(
    fcm_sender: FcmSender, fake_fcm: FakeFcm
) -> None:
    unauthenticated = {"error": {"code": 401, "message": "no", "status": "UNAUTHENTICATED"}}
    fake_fcm.next_answers.extend([FakeAnswer(401, unauthenticated)] * 3)

    result = fcm_sender.send(message())

    assert result.outcome is Outcome.FAILED
    assert result.provider_response == "UNAUTHENTICATED"
    assert fake_fcm.send_requests == 2
    assert fake_fcm.token_requests == 2


def test_it_does_not_refresh_on_third_party_auth_error(
    fcm_sender: FcmSender, fake_fcm: FakeFcm
) -> None:
    detail = {
        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
        "errorCode": "THIRD_PARTY_AUTH_ERROR",
    }
    body = {"error": {"code": 401, "status": "UNAUTHENTICATED", "details": [detail]}}
    fake_fcm.next_answers.append(FakeAnswer(401, body))

    result = fcm_sender.send(message())

    assert result.outcome is Outcome.FAILED
    assert result.provider_response == "THIRD_PARTY_AUTH_ERROR"
    assert fake_fcm.token_requests == 1
    assert fake_fcm.send_requests == 1


@pytest.mark.parametrize(
    ("payload", "outcome", "summary"),
    [
        ("fcm_error_unregistered_observed.json", Outcome.DEAD_TOKEN, "UNREGISTERED"),
        (
            "fcm_error_invalid_token_observed.json",
            Outcome.DEAD_TOKEN,
            "INVALID_ARGUMENT message.token",
        ),
        ("fcm_error_invalid_token.json", Outcome.DEAD_TOKEN, "INVALID_ARGUMENT message.token"),
        ("fcm_error_missing_token_observed.json", Outcome.FAILED, "INVALID_ARGUMENT"),
        ("fcm_error_invalid_data_value.json", Outcome.FAILED, "INVALID_ARGUMENT"),
        ("fcm_error_payload_too_large_observed.json", Outcome.FAILED, "INVALID_ARGUMENT"),
        ("fcm_error_sender_id_mismatch_thirdparty.json", Outcome.DEAD_TOKEN, "SENDER_ID_MISMATCH"),
        ("fcm_error_internal_observed.json", Outcome.RETRY, "INTERNAL"),
        ("fcm_error_unavailable_observed.json", Outcome.RETRY, "UNAVAILABLE"),
    ],
)
def test_it_maps_each_real_error_body(
    fcm_sender: FcmSender, fake_fcm: FakeFcm, payload: str, outcome: Outcome, summary: str
) -> None:
    answer = fcm_error(payload)
    fake_fcm.next_answers.append(answer)

    result = fcm_sender.send(message())

    assert result.outcome is outcome
    assert result.status == answer.status
    assert result.provider_response == summary
    assert result.retry_after is None


def test_it_reads_the_error_code_not_the_message_text() -> None:
    # The message mentions UNREGISTERED but the code says INTERNAL: the code decides.
    detail = {
        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
        "errorCode": "INTERNAL",
    }
    body = {"error": {"code": 500, "message": "UNREGISTERED token", "details": [detail]}}

    result = classify_fcm_response(500, json.dumps(body))

    assert result.outcome is Outcome.RETRY


def test_it_honours_retry_after_on_unavailable(fcm_sender: FcmSender, fake_fcm: FakeFcm) -> None:
    fake_fcm.next_answers.append(
        fcm_error("fcm_error_unavailable_observed.json", **{"Retry-After": "30"})
    )

    result = fcm_sender.send(message())

    assert result.outcome is Outcome.RETRY
    assert result.retry_after == 30


@pytest.mark.parametrize(("header", "expected"), [(None, 60.0), ("10", 60.0), ("120", 120.0)])
def test_it_waits_at_least_a_minute_on_quota_exceeded(
    fcm_sender: FcmSender, fake_fcm: FakeFcm, header: str | None, expected: float
) -> None:
    details = [
        {
            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
            "errorCode": "QUOTA_EXCEEDED",
        },
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
    ]
    body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": details}}
    fake_fcm.next_answers.append(FakeAnswer(429, body, {"Retry-After": header} if header else {}))

    result = fcm_sender.send(message())

    assert result.outcome is Outcome.RETRY
    assert result.provider_response == "QUOTA_EXCEEDED"
    assert result.retry_after == expected


def test_it_retries_on_an_html_502(fcm_sender: FcmSender, fake_fcm: FakeFcm) -> None:
    html = "<html><body>Please try again in 30 seconds.</body></html>"
    fake_fcm.next_answers.append(FakeAnswer(502, html, {"Retry-After": "30"}))

    result = fcm_sender.send(message())

    assert result.outcome is Outcome.RETRY
    assert result.provider_response == "HTTP 502"
    assert result.retry_after == 30


def test_it_fails_on_a_bare_404_without_error_code(
    fcm_sender: FcmSender, fake_fcm: FakeFcm
) -> None:
    fake_fcm.next_answers.append(FakeAnswer(404, {"error": {"code": 404, "status": "NOT_FOUND"}}))

    result = fcm_sender.send(message())

    assert result.outcome is Outcome.FAILED


def test_it_returns_retry_on_a_dropped_connection(fcm_sender: FcmSender, fake_fcm: FakeFcm) -> None:
    fake_fcm.next_answers.append(DROP)

    dropped = fcm_sender.send(message())
    after = fcm_sender.send(message())

    assert dropped.outcome is Outcome.RETRY
    assert dropped.status is None
    assert after.outcome is Outcome.SENT


def test_it_returns_retry_on_a_timeout(fcm_credentials: dict[str, str], fake_fcm: FakeFcm) -> None:
    sender = FcmSender(credentials=fcm_credentials, base_url=fake_fcm.base_url, timeout=0.2)
    sender.send(message())  # fetch the token before the fake slows down
    fake_fcm.delay = 0.6

    result = sender.send(message())

    assert result.outcome is Outcome.RETRY
    assert result.status is None
    assert result.provider_response in {"ReadTimeout", "ConnectionError"}
    sender.close()


def test_it_returns_retry_when_the_token_endpoint_is_unreachable(
    fcm_credentials: dict[str, str], fake_fcm: FakeFcm
) -> None:
    credentials = {**fcm_credentials, "token_uri": "http://127.0.0.1:9/token"}
    sender = FcmSender(credentials=credentials, base_url=fake_fcm.base_url)

    result = sender.send(message())

    assert result.outcome is Outcome.RETRY
    assert result.provider_response.startswith("token endpoint")
    assert fake_fcm.send_requests == 0
    sender.close()


def test_it_returns_retry_when_the_token_endpoint_is_slow(
    fcm_credentials: dict[str, str], fake_fcm: FakeFcm
) -> None:
    sender = FcmSender(credentials=fcm_credentials, base_url=fake_fcm.base_url, timeout=0.2)
    fake_fcm.token_delay = 0.6

    result = sender.send(message())

    assert result.outcome is Outcome.RETRY
    assert result.provider_response == "token endpoint: ReadTimeout"
    assert fake_fcm.send_requests == 0
    sender.close()


def test_it_fails_when_the_token_endpoint_refuses_the_assertion(fake_fcm: FakeFcm) -> None:
    other_key_credentials, _ = make_service_account(fake_fcm.token_url)
    sender = FcmSender(credentials=other_key_credentials, base_url=fake_fcm.base_url)

    result = sender.send(message())

    assert result.outcome is Outcome.FAILED
    assert result.status == 400
    assert fake_fcm.send_requests == 0
    sender.close()


@pytest.mark.parametrize("missing", ["project_id", "client_email", "private_key", "token_uri"])
def test_it_refuses_incomplete_credentials(fcm_credentials: dict[str, str], missing: str) -> None:
    credentials: dict[str, Any] = {**fcm_credentials, missing: ""}

    with pytest.raises(PushConfigError, match=missing):
        FcmSender(credentials=credentials)


def test_it_refuses_a_private_key_that_is_not_pem(fcm_credentials: dict[str, str]) -> None:
    with pytest.raises(PushConfigError):
        FcmSender(credentials={**fcm_credentials, "private_key": "not a key"})


def test_it_sends_from_many_threads_with_one_token_and_per_token_errors(
    fcm_sender: FcmSender, fake_fcm: FakeFcm
) -> None:
    fake_fcm.token_answers["dead-1"] = fcm_error("fcm_error_unregistered_observed.json")
    tokens = ["dead-1" if i % 4 == 0 else f"live-{i}" for i in range(200)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda t: fcm_sender.send(message(t)), tokens))

    outcomes = [r.outcome for r in results]
    assert outcomes.count(Outcome.DEAD_TOKEN) == 50
    assert outcomes.count(Outcome.SENT) == 150
    assert all(
        r.outcome is (Outcome.DEAD_TOKEN if t == "dead-1" else Outcome.SENT)
        for t, r in zip(tokens, results, strict=True)
    )
    assert fake_fcm.token_requests == 1
    assert len(fake_fcm.received) == 200
