"""APNs provider API sender over HTTP/2 with an ES256 provider token."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from integrations.http import new_http2_client, parse_retry_after
from integrations.push.base import (
    Outcome,
    PayloadTooLargeError,
    PushConfigError,
    PushMessage,
    PushResult,
    result,
)
from integrations.push.payload import apns_body, apns_headers

# Apple: refresh "no more than once every 20 minutes and no less than once every 60 minutes".
_MIN_TOKEN_AGE = 20 * 60
_MAX_TOKEN_AGE = 50 * 60  # stay well clear of the hard one-hour limit
_DEVICE_TOKEN = re.compile(r"[0-9A-Fa-f]{16,200}")
_DEAD_REASONS = {"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered", "ExpiredToken"}
_PROVIDER_TOKEN_REASONS = {"ExpiredProviderToken", "InvalidProviderToken"}


class ProviderToken:
    """The ES256 provider token, signed once and reused until it is refresh_seconds old."""

    def __init__(
        self,
        *,
        key: EllipticCurvePrivateKey,
        key_id: str,
        team_id: str,
        refresh_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._key = key
        self._key_id = key_id
        self._team_id = team_id
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._issued_at = 0.0
        self.signed_count = 0

    def get(self) -> str:
        """Return the cached token, signing a new one when it has reached its refresh age."""
        with self._lock:
            if self._token is None or self._clock() - self._issued_at >= self._refresh_seconds:
                self._sign()
            assert self._token is not None
            return self._token

    def renew(self, rejected: str) -> None:
        """Sign a new token unless another thread already replaced the rejected one."""
        # Renewing on every rejection from every thread would trip TooManyProviderTokenUpdates.
        with self._lock:
            if self._token == rejected:
                self._sign()

    def _sign(self) -> None:
        issued = self._clock()
        self._token = jwt.encode(
            {"iss": self._team_id, "iat": int(issued)},
            self._key,
            algorithm="ES256",
            headers={"kid": self._key_id},
        )
        self._issued_at = issued
        self.signed_count += 1


def classify_apns_response(
    status: int, body: bytes, retry_after_header: str | None = None
) -> PushResult:
    """Map one APNs answer to a PushResult (provider-token rejections are handled earlier)."""
    if status == 200:
        return result(Outcome.SENT, status, "sent")
    reason, timestamp = _reason(body)
    summary = reason or f"HTTP {status}"
    if reason in _DEAD_REASONS or status == 410:
        invalid_since = None
        if timestamp is not None:
            invalid_since = datetime.fromtimestamp(timestamp / 1000, tz=UTC)
        return result(Outcome.DEAD_TOKEN, status, summary, token_invalid_since=invalid_since)
    if status == 429 or status >= 500:
        # TooManyRequests (one device hammered), TooManyProviderTokenUpdates, 500/503:
        # Apple says back off and retry; the outbox owns the schedule.
        return result(
            Outcome.RETRY, status, summary, retry_after=parse_retry_after(retry_after_header)
        )
    # PayloadTooLarge, BadTopic, MissingTopic, Forbidden, ...: fixing them takes a code or
    # configuration change, and the device token is fine.
    return result(Outcome.FAILED, status, summary)


def _reason(body: bytes) -> tuple[str | None, int | None]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(parsed, dict):
        return None, None
    reason = parsed.get("reason")
    timestamp = parsed.get("timestamp")
    return (
        reason if isinstance(reason, str) else None,
        int(timestamp) if isinstance(timestamp, int | float) else None,
    )


class _ClientPool:
    """HTTP/2 clients lent to one send at a time, kept open and reused.

    httpcore's synchronous HTTP/2 connection is not safe to share between threads: concurrent
    sends on one connection race on stream ids, HPACK state and frame writes (seen as
    `StreamIDTooLowError`, `LocalProtocolError` and mixed-up answers under load). So each
    concurrent send gets a connection of its own, and connections are reused across sends:
    as many are open as sends ever ran at once (the delivery pool's size), which Apple allows.
    """

    def __init__(self, make: Callable[[], httpx.Client]) -> None:
        self._make = make
        self._idle: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._all: list[httpx.Client] = []

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """Lend an idle client (a new one when none is idle) for one send."""
        try:
            client = self._idle.get_nowait()
        except queue.Empty:
            client = self._make()
            with self._lock:
                self._all.append(client)
        try:
            yield client
        except BaseException:
            # A send that raised may leave its HTTP/2 connection half-way through a stream
            # (httpcore keeps per-stream state): lending it again would hand the next send a
            # connection in an unknown state. Close it; the next send opens a fresh one.
            self._discard(client)
            raise
        self._idle.put(client)

    def _discard(self, client: httpx.Client) -> None:
        with self._lock:
            if client in self._all:
                self._all.remove(client)
        client.close()

    def close(self) -> None:
        """Close every client made."""
        with self._lock:
            clients, self._all = self._all, []
        for client in clients:
            client.close()


class ApnsSender:
    """Send alert pushes to APNs over HTTP/2, a reused connection per concurrent send."""

    channel = "apns"

    def __init__(
        self,
        *,
        key_pem: str,
        key_id: str,
        team_id: str,
        topic: str,
        base_url: str = "https://api.push.apple.com",
        timeout: float = 10,
        client: httpx.Client | None = None,
        token_refresh_seconds: float = 40 * 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (key_id and team_id and topic):
            raise PushConfigError("APNs needs key_id, team_id and topic")
        if not _MIN_TOKEN_AGE <= token_refresh_seconds <= _MAX_TOKEN_AGE:
            raise PushConfigError("APNs token_refresh_seconds must be within 20 and 50 minutes")
        try:
            key = load_pem_private_key(key_pem.encode(), None)
        except (ValueError, TypeError) as exc:
            raise PushConfigError("APNs key_pem is not a PEM private key") from exc
        if not isinstance(key, EllipticCurvePrivateKey):
            raise PushConfigError("APNs key_pem must be an EC (P-256) key")
        self._clients = _ClientPool(lambda: new_http2_client(base_url, timeout=timeout))
        # A caller's own client is one connection: its sends take turns (see _ClientPool).
        self._client = client
        self._client_lock = threading.Lock()
        self._base_url = base_url.rstrip("/")
        self._topic = topic
        self._timeout = timeout
        self._clock = clock
        self.provider_token = ProviderToken(
            key=key,
            key_id=key_id,
            team_id=team_id,
            refresh_seconds=token_refresh_seconds,
            clock=clock,
        )

    def send(self, message: PushMessage) -> PushResult:
        """Send one message; a rejected provider token is renewed and the send tried once more."""
        if not _DEVICE_TOKEN.fullmatch(message.token):
            # Also keeps anything odd out of the request path.
            return result(Outcome.DEAD_TOKEN, None, "BadDeviceToken (rejected locally)")
        try:
            body = apns_body(message)
        except PayloadTooLargeError as exc:
            return result(Outcome.FAILED, None, f"PayloadTooLarge (local): {exc}")
        token = self.provider_token.get()
        response = self._post(message, body, token)
        if isinstance(response, httpx.Response) and self._provider_token_rejected(response):
            self.provider_token.renew(token)
            response = self._post(message, body, self.provider_token.get())
        if isinstance(response, PushResult):
            return response
        return classify_apns_response(
            response.status_code, response.content, response.headers.get("retry-after")
        )

    @staticmethod
    def _provider_token_rejected(response: httpx.Response) -> bool:
        return response.status_code == 403 and _reason(response.content)[0] in (
            _PROVIDER_TOKEN_REASONS
        )

    def _post(self, message: PushMessage, body: bytes, token: str) -> httpx.Response | PushResult:
        headers = {
            "authorization": f"bearer {token}",
            "apns-topic": self._topic,
            "content-type": "application/json",
            **apns_headers(message, now=self._clock()),
        }
        url = f"{self._base_url}/3/device/{message.token}"
        try:
            if self._client is not None:
                with self._client_lock:
                    return self._client.post(
                        url, content=body, headers=headers, timeout=self._timeout
                    )
            with self._clients.client() as client:
                return client.post(url, content=body, headers=headers, timeout=self._timeout)
        except httpx.TransportError as exc:
            # Includes GOAWAY, resets and timeouts; the collapse id keeps a duplicate from
            # showing twice, so a retry is safe.
            return result(Outcome.RETRY, None, type(exc).__name__)

    def close(self) -> None:
        """Close the HTTP/2 clients this sender created (a caller's own client stays open)."""
        self._clients.close()
