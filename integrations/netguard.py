"""Outbound HTTP to URLs a client chose (Web Push endpoints): public addresses only, pinned.

A subscription endpoint comes from a browser, so without care the delivery worker could be
made to POST into our own network. `public_endpoint` checks a URL's host: a canonical name or IP
literal (no `127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`, no trailing dot), every address
it resolves to public (not loopback, private, link-local, unique-local, multicast, reserved,
unspecified or shared, IPv4 embedded in IPv6 included). `PinnedAdapter` runs the same check on
every request and connects to the very address it checked, keeping the name for the Host
header, TLS SNI and certificate check, so a name cannot resolve public for the check and private
for the connection (DNS rebinding). The resolver is injectable for tests.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

# RFC 6052 NAT64 prefixes: the last 32 bits are the IPv4 address a gateway would reach.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# WHATWG URL: a host whose last label is a number is an IPv4 address in some spelling.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_PINNED = "_netguard_address"


class UnsafeEndpoint(Exception):
    """The URL's host is malformed or is (or resolves to) a non-public address."""


class UnresolvableEndpoint(UnsafeEndpoint):
    """The URL's host name does not resolve (possibly for now)."""


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve a name to its addresses with the operating system's resolver."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableEndpoint(f"{host} does not resolve") from exc
    return [str(info[4][0]) for info in infos]


def is_public(address: IPAddress) -> bool:
    """Whether an address is globally reachable (IPv4 embedded in IPv6 is judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded:
            return all(is_public(inner) for inner in embedded)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if any(address in net for net in _NAT64):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def canonical_host(host: str) -> str:
    """Return a URL host as checked: an IP literal, or a lower-case ASCII name; else raise."""
    if not host:
        raise UnsafeEndpoint("the URL names no host")
    if host.endswith("."):
        raise UnsafeEndpoint("host names ending in a dot are refused")
    if "%" in host:
        raise UnsafeEndpoint("zone ids and escapes in hosts are refused")
    try:
        ipaddress.ip_address(host)  # canonical dotted quad or IPv6 text, no zone id
        return host
    except ValueError:
        pass
    try:
        name = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UnsafeEndpoint(f"{host!r} is not a valid host name") from exc
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise UnsafeEndpoint(f"{host!r} is a non-canonical IPv4 address")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeEndpoint(f"{host!r} is not a valid host name")
    if name == "localhost" or name.endswith(".localhost"):
        raise UnsafeEndpoint(f"{host!r} is a loopback name")
    return name


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses outbound calls may reach: public ones, plus any networks allowed."""

    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def allowing(cls, networks: Iterable[str]) -> AddressPolicy:
        """A policy that also allows these networks (tests use loopback)."""
        return cls(tuple(ipaddress.ip_network(n) for n in networks))

    def permits(self, address: IPAddress) -> bool:
        """Whether the address may be connected to."""
        if any(address in net for net in self.allowed_networks):
            return True
        return is_public(address)


PUBLIC_ONLY = AddressPolicy()


def resolve_checked(
    host: str, port: int, resolver: Resolver = system_resolver, policy: AddressPolicy = PUBLIC_ONLY
) -> str:
    """Resolve a URL host and return the address to connect to; raise unless all are allowed."""
    name = canonical_host(host)
    try:
        literal: IPAddress | None = ipaddress.ip_address(name)
    except ValueError:
        literal = None
    answers = [name] if literal is not None else list(resolver(name, port))
    if not answers:
        raise UnresolvableEndpoint(f"{name} does not resolve")
    addresses = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
        except ValueError as exc:
            raise UnsafeEndpoint(f"{name} resolved to {answer!r}, not an address") from exc
    # Every answer must pass: a name that mixes public and private answers is refused outright.
    refused = [a for a in addresses if not policy.permits(a)]
    if refused:
        raise UnsafeEndpoint(f"{name} resolves to a non-public address ({refused[0]})")
    return str(addresses[0])


def public_endpoint(
    url: str, resolver: Resolver = system_resolver, policy: AddressPolicy = PUBLIC_ONLY
) -> str:
    """Check that a URL may be called (see the module docstring); return the address checked."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeEndpoint("the URL's port is invalid") from exc
    return resolve_checked(parts.hostname or "", port, resolver, policy)


class PinnedAdapter(HTTPAdapter):
    """A requests adapter that checks each request's host and connects to the checked address.

    Proxies are never used (they would resolve the name again). The pool is keyed by address and
    name, so connections are reused per endpoint host as with a plain adapter.
    """

    def __init__(
        self,
        resolver: Resolver = system_resolver,
        policy: AddressPolicy = PUBLIC_ONLY,
        **kwargs: Any,
    ) -> None:
        self._resolver = resolver
        self._policy = policy
        super().__init__(**kwargs)

    def send(  # noqa: PLR0917 - requests' own signature
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Resolve and check the request's host, pin the address, then send (never proxied)."""
        parts = urlsplit(request.url or "")
        address = public_endpoint(request.url or "", self._resolver, self._policy)
        setattr(request, _PINNED, address)
        # The Host header names the URL's host, not the address the socket goes to.
        request.headers["Host"] = parts.netloc.rpartition("@")[2]
        return super().send(request, stream, timeout, verify, cert, proxies={})

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        """A pool for the pinned address that still verifies TLS against the URL's host."""
        address = getattr(request, _PINNED, None)
        if address is None:
            raise UnsafeEndpoint("refusing to connect to an unchecked address")
        host_params, key_kwargs = self.build_connection_pool_key_attributes(
            request, True if verify is None else verify, cert
        )
        name = host_params["host"]
        pool_kwargs: dict[str, Any] = dict(key_kwargs)
        if host_params["scheme"] == "https":
            pool_kwargs.update(server_hostname=name, assert_hostname=name)
        pool: HTTPConnectionPool = self.poolmanager.connection_from_host(
            **{**host_params, "host": address}, pool_kwargs=pool_kwargs
        )
        return pool
