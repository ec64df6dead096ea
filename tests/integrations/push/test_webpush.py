"""WebPushSender against a loopback push-service endpoint that decrypts and checks VAPID."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid

from integrations.netguard import AddressPolicy
from integrations.push import Outcome, PushConfigError, WebPushSender
from integrations.push.webpush import web_push_topic
from tests.support.push import message

SUB = "mailto:push@backstride.example"


def b64url(raw: bytes) -> str:
    """Encode without padding, as browsers hand out subscription keys."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class PushService:
    """A loopback push service: records posts, answers with the status tests set."""

    status: int = 201
    headers: dict[str, str] = field(default_factory=dict)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    base_url: str = ""


def _handler(service: PushService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            service.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(service.status)
            for name, value in service.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet."""

    return Handler


@pytest.fixture
def push_service() -> Iterator[PushService]:
    """Serve a push-service endpoint on loopback."""
    service = PushService()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(service))
    server.daemon_threads = True
    service.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """Return the browser's subscription key pair and auth secret."""
    return ec.generate_private_key(ec.SECP256R1()), os.urandom(16)


def subscription(endpoint: str, browser: tuple[ec.EllipticCurvePrivateKey, bytes]) -> str:
    """Return the subscription JSON a browser would register."""
    public = browser[0].public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    keys = {"p256dh": b64url(public), "auth": b64url(browser[1])}
    return json.dumps({"endpoint": endpoint, "keys": keys})


@pytest.fixture
def vapid() -> Vapid:
    """Return a fresh VAPID key."""
    key = Vapid()
    key.generate_keys()
    return key


@pytest.fixture
def sender(vapid: Vapid) -> Iterator[WebPushSender]:
    """Return a WebPushSender allowed to reach the loopback endpoint (http, loopback allowed)."""
    pem = vapid.private_pem().decode()
    web = WebPushSender(
        vapid_private_key=pem,
        vapid_claims_sub=SUB,
        allow_http_endpoints=True,
        policy=AddressPolicy.allowing(["127.0.0.0/8"]),
    )
    yield web
    web.close()


def test_it_sends_an_encrypted_payload_with_a_valid_vapid_header(
    sender: WebPushSender, push_service: PushService, browser: Any, vapid: Vapid
) -> None:
    endpoint = f"{push_service.base_url}/push/abc"

    result = sender.send(message(subscription(endpoint, browser), urgent=True, ttl_seconds=600))

    assert result.outcome is Outcome.SENT
    assert result.status == 201
    headers, body = push_service.received[0]
    assert headers["ttl"] == "600"
    assert headers["urgency"] == "high"
    assert headers["topic"] == "tip-42"
    assert headers["content-encoding"] == "aes128gcm"
    scheme, _, params = headers["authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    public = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), b64url_decode(fields["k"])
    )
    claims = jwt.decode(fields["t"], public, algorithms=["ES256"], audience=push_service.base_url)
    assert claims["sub"] == SUB
    assert claims["exp"] <= time.time() + 24 * 3600
    plain = http_ece.decrypt(body, private_key=browser[0], auth_secret=browser[1])
    assert json.loads(plain)["title"] == "Time for a short walk"
    assert json.loads(plain)["tag"] == "tip-42"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (404, Outcome.DEAD_TOKEN),
        (410, Outcome.DEAD_TOKEN),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (413, Outcome.FAILED),
        (403, Outcome.FAILED),
    ],
)
def test_it_maps_push_service_statuses(
    sender: WebPushSender,
    push_service: PushService,
    browser: Any,
    status: int,
    outcome: Outcome,
) -> None:
    push_service.status = status
    push_service.headers = {"Retry-After": "90"}

    result = sender.send(message(subscription(f"{push_service.base_url}/p", browser)))

    assert result.outcome is outcome
    assert result.status == status
    assert result.retry_after == (90 if outcome is Outcome.RETRY else None)


@pytest.mark.parametrize(
    "token",
    [
        "not json",
        json.dumps({"endpoint": "http://127.0.0.1:9/p"}),
        json.dumps({"endpoint": "ftp://x/p", "keys": {"p256dh": "a", "auth": "b"}}),
        json.dumps({"endpoint": "http://127.0.0.1:9/p", "keys": {"p256dh": "AAAA", "auth": "b"}}),
    ],
)
def test_it_treats_an_unusable_subscription_as_dead(sender: WebPushSender, token: str) -> None:
    result = sender.send(message(token))

    assert result.outcome is Outcome.DEAD_TOKEN
    assert result.status is None


def test_it_refuses_http_endpoints_unless_allowed(
    vapid: Vapid, push_service: PushService, browser: Any
) -> None:
    strict = WebPushSender(vapid_private_key=vapid.private_pem().decode(), vapid_claims_sub=SUB)

    result = strict.send(message(subscription(f"{push_service.base_url}/p", browser)))

    assert result.outcome is Outcome.DEAD_TOKEN
    assert push_service.received == []
    strict.close()


def test_it_returns_retry_when_the_push_service_is_unreachable(
    sender: WebPushSender, browser: Any
) -> None:
    result = sender.send(message(subscription("http://127.0.0.1:9/p", browser)))

    assert result.outcome is Outcome.RETRY
    assert result.status is None


def test_it_hashes_a_collapse_id_that_is_not_a_valid_topic() -> None:
    topic = web_push_topic("tip/2026-11-27/0f8fad5b-d9cb-469f-a165-70867728950e")

    assert len(topic) == 32
    assert topic == web_push_topic("tip/2026-11-27/0f8fad5b-d9cb-469f-a165-70867728950e")
    assert set(topic) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_it_refuses_a_bad_vapid_configuration() -> None:
    with pytest.raises(PushConfigError):
        WebPushSender(vapid_private_key="garbage", vapid_claims_sub=SUB)
    with pytest.raises(PushConfigError):
        WebPushSender(vapid_private_key="garbage", vapid_claims_sub="push@backstride.example")
