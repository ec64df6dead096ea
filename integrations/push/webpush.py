"""Web Push (RFC 8030/8291) sender with VAPID (RFC 8292), through pywebpush.

The endpoint is a URL a browser handed us, so every send goes through `PinnedAdapter`
(integrations/netguard.py): its host is resolved and checked at send time too, and the
connection goes to the very address that was checked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import urlparse

import requests
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from integrations.http import new_session, parse_retry_after
from integrations.netguard import (
    PUBLIC_ONLY,
    AddressPolicy,
    PinnedAdapter,
    Resolver,
    UnresolvableEndpoint,
    UnsafeEndpoint,
    system_resolver,
)
from integrations.push.base import (
    Outcome,
    PayloadTooLargeError,
    PushConfigError,
    PushMessage,
    PushResult,
    result,
)
from integrations.push.payload import webpush_body

_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030: at most 32 base64url characters


def web_push_topic(collapse_id: str) -> str:
    """Return an RFC 8030 Topic for the collapse id (hashed when it does not qualify)."""
    if _TOPIC.fullmatch(collapse_id):
        return collapse_id
    digest = hashlib.sha256(collapse_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]


def parse_subscription(token: str, *, allow_http: bool = False) -> dict[str, Any] | None:
    """Return the subscription {endpoint, keys{p256dh, auth}} in token, or None if unusable."""
    try:
        subscription = json.loads(token)
    except ValueError:
        return None
    if not isinstance(subscription, dict):
        return None
    endpoint = subscription.get("endpoint")
    keys = subscription.get("keys")
    if not isinstance(endpoint, str) or not isinstance(keys, dict):
        return None
    if not (isinstance(keys.get("p256dh"), str) and isinstance(keys.get("auth"), str)):
        return None
    scheme = urlparse(endpoint).scheme
    # Push services are https; a client-supplied http URL is refused outside tests.
    if scheme != "https" and not (allow_http and scheme == "http"):
        return None
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


def classify_webpush_status(status: int, retry_after_header: str | None = None) -> PushResult:
    """Map a push service's HTTP status to a PushResult."""
    if 200 <= status < 300:
        return result(Outcome.SENT, status, "sent")
    if status in {404, 410}:
        return result(Outcome.DEAD_TOKEN, status, f"HTTP {status} subscription gone")
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(retry_after_header)
        return result(Outcome.RETRY, status, f"HTTP {status}", retry_after=retry_after)
    # 400/401/403 are VAPID or request problems, 413 too large: ours to fix.
    return result(Outcome.FAILED, status, f"HTTP {status}")


def _failure(exc: Exception) -> PushResult:
    """Map what sending raised to a PushResult."""
    if isinstance(exc, UnresolvableEndpoint):
        return result(Outcome.RETRY, None, "UnresolvableEndpoint")
    if isinstance(exc, UnsafeEndpoint):
        # Valid when subscribed, refused now (e.g. the name re-pointed inward): drop it.
        return result(Outcome.DEAD_TOKEN, None, f"UnsafeEndpoint: {exc}")
    if isinstance(exc, WebPushException):
        if exc.status_code is None:
            # Raised before sending: the subscription's keys could not be used.
            return result(Outcome.DEAD_TOKEN, None, "InvalidSubscription keys")
        return classify_webpush_status(exc.status_code, exc.retry_after)
    if isinstance(exc, requests.RequestException):
        return result(Outcome.RETRY, None, type(exc).__name__)
    # http_ece / cryptography reject malformed p256dh or auth values with ValueError/TypeError.
    return result(Outcome.DEAD_TOKEN, None, f"InvalidSubscription keys ({type(exc).__name__})")


class WebPushSender:
    """Send encrypted Web Push messages signed with the VAPID key."""

    channel = "webpush"

    def __init__(
        self,
        *,
        vapid_private_key: str,
        vapid_claims_sub: str,
        timeout: float = 10,
        session: requests.Session | None = None,
        allow_http_endpoints: bool = False,
        resolver: Resolver = system_resolver,
        policy: AddressPolicy = PUBLIC_ONLY,
    ) -> None:
        if not vapid_claims_sub.startswith(("mailto:", "https:")):
            raise PushConfigError("VAPID sub must be a mailto: or https: URL")
        try:
            if vapid_private_key.lstrip().startswith("-----BEGIN"):
                self._vapid = Vapid.from_pem(vapid_private_key.encode())
            else:
                self._vapid = Vapid.from_string(private_key=vapid_private_key)
        except Exception as exc:  # py_vapid raises assorted types for a bad key
            raise PushConfigError("VAPID private key is unreadable") from exc
        self._sub = vapid_claims_sub
        self._timeout = timeout
        self._allow_http = allow_http_endpoints
        self._owns_session = session is None
        adapter = PinnedAdapter(resolver=resolver, policy=policy, pool_maxsize=16)
        if session is None:
            session = new_session(adapter=adapter)
        # A given session is re-fitted too: no endpoint may be reached unchecked or unpinned.
        session.trust_env = False
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._session = session

    def send(self, message: PushMessage) -> PushResult:
        """Encrypt and send one message to the subscription in message.token."""
        subscription = parse_subscription(message.token, allow_http=self._allow_http)
        if subscription is None:
            return result(Outcome.DEAD_TOKEN, None, "InvalidSubscription")
        try:
            data = webpush_body(message)
        except PayloadTooLargeError as exc:
            return result(Outcome.FAILED, None, f"PayloadTooLarge (local): {exc}")
        return self._deliver(subscription, data, message)

    def _deliver(
        self, subscription: dict[str, Any], data: bytes, message: PushMessage
    ) -> PushResult:
        headers: dict[str, str | int | float] = {"Urgency": "high" if message.urgent else "normal"}
        if message.collapse_id:
            headers["Topic"] = web_push_topic(message.collapse_id)
        try:
            response = webpush(
                subscription,
                data.decode(),
                vapid_private_key=self._vapid,
                # A fresh dict: pywebpush writes aud and exp into the one it is given.
                vapid_claims={"sub": self._sub},
                timeout=self._timeout,
                ttl=max(0, message.ttl_seconds),
                headers=headers,
                requests_session=self._session,
            )
        except (
            UnsafeEndpoint,
            WebPushException,
            requests.RequestException,
            ValueError,
            TypeError,
        ) as exc:
            return _failure(exc)
        if isinstance(response, str):  # only with curl=True, which is never passed
            return result(Outcome.FAILED, None, "unexpected curl answer")
        return classify_webpush_status(response.status_code, response.headers.get("Retry-After"))

    def close(self) -> None:
        """Close the session if this sender created it."""
        if self._owns_session:
            self._session.close()
