"""Web Push subscriptions: the endpoint must be https on a host that resolves to public addresses.

The app resolves endpoint names through `app.extensions[RESOLVER_EXTENSION]`; these tests install
a resolver they control, so `push.example` answers whatever a test needs, without real DNS.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from py_vapid import Vapid
from sqlalchemy import select

from integrations.netguard import UnresolvableEndpoint
from integrations.push import Outcome
from service.delivery.senders import close_senders, senders_for
from service.extensions import RESOLVER_EXTENSION, db, get_settings
from service.patients.models import Device
from service.patients.service import check_web_endpoint
from tests.integrations.push.test_webpush import subscription
from tests.support.factories import Seed
from tests.support.push import message

KEYS = {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQ", "auth": "tBHItJI5svbpez7KI4CCXg"}


class Resolver:
    """A DNS we control: each name answers its queue of answers in turn, the last one forever."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise UnresolvableEndpoint(f"{host} does not resolve")
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def dns(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Resolver:
    """Install a resolver the test controls."""
    resolver = Resolver()
    monkeypatch.setitem(app.extensions, RESOLVER_EXTENSION, resolver)
    return resolver


def _subscribe(client: Any, seed: Seed, endpoint: str) -> Any:
    token = json.dumps({"endpoint": endpoint, "keys": KEYS})
    return client.post(
        "/v1/me/devices",
        json={"platform": "web", "token": token},
        headers=seed.headers("patient_a"),
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://push.example/1",
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00::1]/hook",
        "https://169.254.169.254/latest",
        "https://localhost/hook",
        "https://127.1/hook",
        "https://2130706433/hook",
        "https://0x7f000001/hook",
        "https://0177.0.0.1/hook",
        "https://push.example./hook",
    ],
)
def test_it_refuses_internal_or_non_canonical_endpoints_as_written(
    client: Any, seed: Seed, dns: Resolver, endpoint: str
) -> None:
    response = _subscribe(client, seed, endpoint)

    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "token"
    assert dns.lookups == []  # refused before any name is resolved


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["192.168.0.10"],
        ["169.254.169.254"],
        ["100.64.0.1"],
        ["0.0.0.0"],
        ["224.0.0.251"],
        ["240.0.0.1"],
        ["::1"],
        ["fe80::1%eth0"],
        ["fc00::5"],
        ["::ffff:10.0.0.1"],
        ["64:ff9b::7f00:1"],
        ["93.184.216.34", "10.0.0.7"],
    ],
)
def test_it_refuses_a_name_that_resolves_inward(
    client: Any, seed: Seed, dns: Resolver, answers: list[str]
) -> None:
    dns.answers["push.example"] = [answers]

    response = _subscribe(client, seed, "https://push.example/send/abc")

    assert response.status_code == 422
    assert "public host" in response.json["errors"][0]["message"]
    assert dns.lookups == ["push.example"]
    assert db.session.scalar(select(Device.id)) is None


def test_it_refuses_a_name_that_does_not_resolve(client: Any, seed: Seed, dns: Resolver) -> None:
    response = _subscribe(client, seed, "https://nowhere.example/send/abc")

    assert response.status_code == 422
    assert "does not resolve" in response.json["errors"][0]["message"]


def test_it_accepts_a_public_endpoint(client: Any, seed: Seed, dns: Resolver) -> None:
    dns.answers["fcm.googleapis.com"] = [["142.250.74.106", "2a00:1450:4001:80b::200a"]]

    response = _subscribe(client, seed, "https://fcm.googleapis.com/fcm/send/abc")

    assert response.status_code == 201
    assert dns.lookups == ["fcm.googleapis.com"]


def test_it_checks_again_at_send_time_with_the_apps_resolver(
    app: Flask, dns: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepted while public; re-pointed inward later, the worker's sender drops it unsent."""
    vapid = Vapid()
    vapid.generate_keys()
    settings = get_settings().replace(vapid_private_key=vapid.private_pem().decode())
    monkeypatch.setitem(app.extensions, "backstride.settings", settings)
    browser = (ec.generate_private_key(ec.SECP256R1()), b"0123456789abcdef")
    token = subscription("https://push.example/send/abc", browser)
    dns.answers["push.example"] = [["93.184.216.34"], ["10.0.0.9"]]
    check_web_endpoint(token, dns)  # what POST /v1/me/devices runs

    try:
        result = senders_for(app).get("webpush").send(message(token))
    finally:
        close_senders(app)

    assert result.outcome is Outcome.DEAD_TOKEN
    assert "UnsafeEndpoint" in (result.provider_response or "")
    assert dns.lookups == ["push.example", "push.example"]
