"""A fake APNs provider API: HTTP/2 cleartext (prior knowledge) on loopback, built on `h2`.

Each connection is served by its own thread reading the socket and feeding an h2 server
connection. Requests are checked as APNs checks them (ES256 provider token signed by the test
key with the right kid and team, topic, push type, priority, expiration, collapse id, payload
size), recorded, and answered with the queued or per-token reasons, delays or a dropped
connection.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded
from h2.exceptions import H2Error

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"
KEY_ID = "ABC123DEFG"
TEAM_ID = "DEF123GHIJ"
TOPIC = "org.backstride.app"


def make_apns_key() -> tuple[str, Any]:
    """Return a throwaway P-256 key as PEM (like a .p8 file) and its public key."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


@dataclass
class ApnsAnswer:
    """A canned answer: status, reason (JSON body), extra JSON fields, or a dropped connection."""

    status: int
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


DROP = ApnsAnswer(0, drop=True)


def apns_error_file(name: str, status: int = 400) -> ApnsAnswer:
    """Return an answer carrying a shared payload file's reason."""
    body = json.loads((PAYLOADS / name).read_text())
    return ApnsAnswer(status, body["reason"])


@dataclass
class ReceivedNotification:
    """One request the fake accepted."""

    device_token: str
    headers: dict[str, str]
    payload: dict[str, Any]


class FakeApns:
    """The fake server and its switches; use as a context manager or call start()/stop()."""

    def __init__(
        self, *, public_key: Any, key_id: str = KEY_ID, team_id: str = TEAM_ID, topic: str = TOPIC
    ) -> None:
        self.public_key = public_key
        self.key_id = key_id
        self.team_id = team_id
        self.topic = topic
        self.delay = 0.0
        self.next_answers: deque[ApnsAnswer] = deque()
        self.token_answers: dict[str, ApnsAnswer] = {}
        self._received: list[ReceivedNotification] = []
        self._provider_tokens: list[str] = []  # distinct provider tokens, in order first seen
        self.connections = 0
        self._lock = threading.Lock()
        self._accepted = 0
        self._hold_at: int | None = None
        self._released = threading.Event()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._running = True
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def received(self) -> list[ReceivedNotification]:
        """The notifications accepted so far: a copy taken under the lock, so a test may read
        it while connection threads are still appending."""
        with self._lock:
            return list(self._received)

    @property
    def provider_tokens(self) -> list[str]:
        """The distinct provider tokens seen, in order first seen (a copy, as `received`)."""
        with self._lock:
            return list(self._provider_tokens)

    @property
    def base_url(self) -> str:
        """Return the URL to pass as ApnsSender(base_url=...)."""
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def start(self) -> FakeApns:
        """Accept connections in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close the listening socket (held answers go out first)."""
        self.release()
        self._running = False
        self._socket.close()

    def __enter__(self) -> FakeApns:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while self._running:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        h2 = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        with sock:
            try:
                h2.initiate_connection()
                sock.sendall(h2.data_to_send())
                self._converse(sock, h2)
            except (OSError, H2Error):
                # The client went away or reset a stream we were still answering (timeouts).
                return

    def _converse(self, sock: socket.socket, h2: H2Connection) -> None:
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        while data := sock.recv(65535):
            for event in h2.receive_data(data):
                if isinstance(event, RequestReceived):
                    headers = {str(k): str(v) for k, v in event.headers}
                    streams[event.stream_id] = (headers, bytearray())
                elif isinstance(event, DataReceived):
                    streams[event.stream_id][1].extend(event.data)
                    h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, StreamEnded):
                    headers, body = streams.pop(event.stream_id)
                    answer = self.answer(headers, bytes(body))
                    if answer.drop:
                        sock.shutdown(socket.SHUT_RDWR)
                        return
                    if self.delay:
                        time.sleep(self.delay)
                    _respond(h2, event.stream_id, answer)
                elif isinstance(event, ConnectionTerminated):
                    return
            sock.sendall(h2.data_to_send())

    def hold_after(self, count: int) -> None:
        """Answer `count` more sends, then hold the answer to every later one until release()
        (each is recorded on arrival first): a test can then act while sends are in flight."""
        with self._lock:
            self._hold_at = self._accepted + count
            self._released.clear()

    def release(self) -> None:
        """Answer the held sends, and hold no more."""
        with self._lock:
            self._hold_at = None
        self._released.set()

    def _accept(self) -> bool:
        """Count an accepted send (caller holds the lock); True when its answer must wait."""
        self._accepted += 1
        return self._hold_at is not None and self._accepted > self._hold_at

    def _wait_if_held(self, held: bool) -> None:
        if held:
            self._released.wait(timeout=120)  # bounded: a forgotten release() fails, not hangs

    def answer(self, headers: dict[str, str], body: bytes) -> ApnsAnswer:
        """Check one request as APNs would and pick the answer."""
        path = headers.get(":path", "")
        if headers.get(":method") != "POST":
            return ApnsAnswer(405, "MethodNotAllowed")
        if not path.startswith("/3/device/") or len(path) <= len("/3/device/"):
            return ApnsAnswer(404, "BadPath")
        device_token = path.removeprefix("/3/device/")
        refused = self._check_provider_token(headers.get("authorization", ""))
        if refused is not None:
            return refused
        refused = self._check_headers(headers, body)
        if refused is not None:
            return refused
        with self._lock:
            self._received.append(ReceivedNotification(device_token, headers, json.loads(body)))
            held = self._accept()
            queued = self.next_answers.popleft() if self.next_answers else None
        self._wait_if_held(held)
        return queued or self.token_answers.get(device_token) or ApnsAnswer(200)

    def _check_provider_token(self, authorization: str) -> ApnsAnswer | None:
        if not authorization.startswith("bearer "):
            return ApnsAnswer(403, "MissingProviderToken")
        token = authorization.removeprefix("bearer ")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=["ES256"],
                options={"require": ["iss", "iat"], "verify_iat": False},
            )
        except jwt.PyJWTError:
            return ApnsAnswer(403, "InvalidProviderToken")
        if header.get("kid") != self.key_id or claims["iss"] != self.team_id:
            return ApnsAnswer(403, "InvalidProviderToken")
        if time.time() - claims["iat"] > 3600:
            return ApnsAnswer(403, "ExpiredProviderToken")
        with self._lock:
            if token not in self._provider_tokens:
                self._provider_tokens.append(token)
        return None

    def _check_headers(self, headers: dict[str, str], body: bytes) -> ApnsAnswer | None:
        if headers.get("apns-topic") != self.topic:
            return ApnsAnswer(400, "BadTopic" if "apns-topic" in headers else "MissingTopic")
        if headers.get("apns-push-type") != "alert":
            return ApnsAnswer(400, "InvalidPushType")
        if headers.get("apns-priority", "10") not in {"10", "5", "1"}:
            return ApnsAnswer(400, "BadPriority")
        if not headers.get("apns-expiration", "0").isdigit():
            return ApnsAnswer(400, "BadExpirationDate")
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            return ApnsAnswer(400, "BadCollapseId")
        if len(body) > 4096:
            return ApnsAnswer(413, "PayloadTooLarge")
        try:
            payload = json.loads(body)
        except ValueError:
            return ApnsAnswer(400, "PayloadEmpty")
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            return ApnsAnswer(400, "PayloadEmpty")
        return None


def _respond(h2: H2Connection, stream_id: int, answer: ApnsAnswer) -> None:
    headers = [(":status", str(answer.status)), ("apns-id", str(uuid.uuid4()))]
    headers += list(answer.headers.items())
    if answer.reason is None:
        h2.send_headers(stream_id, headers, end_stream=True)
        return
    body = json.dumps({"reason": answer.reason, **answer.extra}).encode()
    headers += [("content-type", "application/json"), ("content-length", str(len(body)))]
    h2.send_headers(stream_id, headers)
    h2.send_data(stream_id, body, end_stream=True)
