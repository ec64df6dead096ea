"""Client-chosen endpoints: public addresses only, checked at send time and pinned (no rebinding).

The resolver is ours: names like `push.example` resolve to whatever a test says, so nothing here
touches real DNS. Loopback servers stand in for push services; a policy that allows loopback
(as the other push tests use) lets the pinning be observed, the default policy refuses them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from py_vapid import Vapid

from integrations.netguard import (
    AddressPolicy,
    PinnedAdapter,
    UnresolvableEndpoint,
    UnsafeEndpoint,
    canonical_host,
    is_public,
    public_endpoint,
)
from integrations.push import Outcome, WebPushSender
from tests.integrations.push.test_webpush import SUB, subscription
from tests.support.push import message

LOOPBACK = AddressPolicy.allowing(["127.0.0.0/8"])


class Resolver:
    """A DNS we control: each name answers its queue of answers in turn, the last one forever."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise UnresolvableEndpoint(f"{host} does not resolve")
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.mark.parametrize(
    "host",
    [
        "127.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "push.example.",
        "localhost",
        "api.localhost",
        "fe80::1%eth0",
        "bad_host.example",
        "",
    ],
)
def test_it_refuses_non_canonical_and_loopback_host_spellings(host: str) -> None:
    with pytest.raises(UnsafeEndpoint):
        canonical_host(host)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
        "2001:db8::1",
    ],
)
def test_it_counts_internal_and_special_addresses_as_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_it_counts_global_unicast_addresses_as_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_it_refuses_a_name_with_any_internal_answer() -> None:
    dns = Resolver({"push.example": [["93.184.216.34", "10.0.0.7"]]})
    with pytest.raises(UnsafeEndpoint, match="non-public"):
        public_endpoint("https://push.example/p", dns)


def test_it_returns_the_checked_address_of_a_public_name() -> None:
    dns = Resolver({"push.example": [["93.184.216.34"]]})
    assert public_endpoint("https://Push.Example:8443/p", dns) == "93.184.216.34"
    assert dns.lookups == ["push.example"]


def test_it_refuses_a_name_that_does_not_resolve() -> None:
    with pytest.raises(UnresolvableEndpoint):
        public_endpoint("https://nowhere.example/p", Resolver({}))


# --- the pinned adapter over real sockets -----------------------------------------------------


@dataclass
class Endpoint:
    """A loopback push service that records what reached it."""

    host: str
    port: int = 0
    received: list[dict[str, str]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)


def _serve(endpoint: Endpoint, context: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            endpoint.received.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet."""

    server = ThreadingHTTPServer((endpoint.host, 0), Handler)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    endpoint.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.fixture
def plain_endpoint() -> Iterator[Endpoint]:
    """An http push service on 127.0.0.2 (not 127.0.0.1: only a pinned connection finds it)."""
    endpoint = Endpoint("127.0.0.2")
    server = _serve(endpoint)
    yield endpoint
    server.shutdown()
    server.server_close()


@dataclass
class TlsEndpoint:
    """An https push service whose certificate names push.example only."""

    endpoint: Endpoint
    ca_file: Path


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[TlsEndpoint]:
    """Serve https on 127.0.0.1 with a self-signed certificate for push.example."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "push.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("push.example")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    endpoint = Endpoint("127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, server_name, ctx: endpoint.server_names.append(server_name)
    server = _serve(endpoint, context)
    yield TlsEndpoint(endpoint, cert_file)
    server.shutdown()
    server.server_close()


def _pinned_session(dns: Resolver, policy: AddressPolicy = LOOPBACK) -> requests.Session:
    session = requests.Session()
    adapter = PinnedAdapter(resolver=dns, policy=policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def test_it_connects_to_the_address_it_checked_with_the_name_as_host(
    plain_endpoint: Endpoint,
) -> None:
    # The second answer points elsewhere: only a connection to the first one reaches the server.
    dns = Resolver({"push.example": [["127.0.0.2"], ["127.0.0.3"]]})
    url = f"http://push.example:{plain_endpoint.port}/p"

    answer = _pinned_session(dns).post(url, data=b"x", timeout=5)

    assert answer.status_code == 201
    assert dns.lookups == ["push.example"]  # resolved once, by the check
    assert plain_endpoint.received[0]["host"] == f"push.example:{plain_endpoint.port}"


def test_it_keeps_sni_and_certificate_checks_on_the_name(tls_endpoint: TlsEndpoint) -> None:
    endpoint = tls_endpoint.endpoint
    dns = Resolver({"push.example": [["127.0.0.1"]], "other.example": [["127.0.0.1"]]})
    session = _pinned_session(dns)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE would replace our trust anchor
    session.verify = str(tls_endpoint.ca_file)

    answer = session.post(f"https://push.example:{endpoint.port}/p", data=b"x", timeout=5)

    assert answer.status_code == 201
    assert endpoint.server_names == ["push.example"]
    # Same address, another name: the certificate does not name it, so TLS refuses.
    with pytest.raises(requests.exceptions.SSLError):
        session.post(f"https://other.example:{endpoint.port}/p", data=b"x", timeout=5)
    assert len(endpoint.received) == 1


def test_it_refuses_internal_addresses_under_the_default_policy(plain_endpoint: Endpoint) -> None:
    dns = Resolver({"push.example": [["127.0.0.2"]]})
    session = _pinned_session(dns, AddressPolicy())

    with pytest.raises(UnsafeEndpoint):
        session.post(f"http://push.example:{plain_endpoint.port}/p", data=b"x", timeout=5)
    assert plain_endpoint.received == []


def test_it_drops_a_subscription_whose_name_rebinds_inward_by_send_time(
    plain_endpoint: Endpoint,
) -> None:
    """Public when the patient subscribed, loopback when the worker sends: nothing is sent."""
    dns = Resolver({"push.example": [["93.184.216.34"], ["127.0.0.2"]]})
    endpoint = f"http://push.example:{plain_endpoint.port}/p"
    assert public_endpoint(endpoint, dns) == "93.184.216.34"  # the subscription-time check
    vapid = Vapid()
    vapid.generate_keys()
    sender = WebPushSender(
        vapid_private_key=vapid.private_pem().decode(),
        vapid_claims_sub=SUB,
        allow_http_endpoints=True,
        resolver=dns,
    )
    browser = (ec.generate_private_key(ec.SECP256R1()), b"0123456789abcdef")

    result = sender.send(message(subscription(endpoint, browser)))

    sender.close()
    assert result.outcome is Outcome.DEAD_TOKEN
    assert "UnsafeEndpoint" in (result.provider_response or "")
    assert plain_endpoint.received == []
    assert dns.lookups == ["push.example", "push.example"]


def test_it_retries_when_the_endpoint_name_does_not_resolve_at_send_time() -> None:
    vapid = Vapid()
    vapid.generate_keys()
    sender = WebPushSender(
        vapid_private_key=vapid.private_pem().decode(),
        vapid_claims_sub=SUB,
        resolver=Resolver({}),
    )
    browser = (ec.generate_private_key(ec.SECP256R1()), b"0123456789abcdef")

    result = sender.send(message(subscription("https://gone.example/p", browser)))

    sender.close()
    assert result.outcome is Outcome.RETRY


def test_it_never_uses_a_proxy_from_the_environment(
    plain_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would resolve the name itself, past the check: the adapter ignores proxies.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    dns = Resolver({"push.example": [["127.0.0.2"]]})
    session = _pinned_session(dns)
    assert session.trust_env  # the environment's proxy is offered to the adapter

    answer = session.post(
        f"http://push.example:{plain_endpoint.port}/p", data=json.dumps({}).encode(), timeout=5
    )

    assert answer.status_code == 201
