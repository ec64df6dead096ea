"""A fake FCM HTTP v1 server (and Google OAuth token endpoint) on loopback, with fault switches.

HTTP/1.1 with keep-alive on 127.0.0.1, port 0, served from a thread. The token endpoint checks the
RS256 JWT-bearer assertion against the test service account's public key; messages:send checks
the bearer token and the message shape, records what it received, and answers with the queued
or per-token error bodies (the shared payload files), Retry-After, delays or dropped connections.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"
PROJECT_ID = "backstride-test"
CLIENT_EMAIL = "push-sender@backstride-test.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_TTL = re.compile(r"\d+(\.\d{1,9})?s")


def fcm_error(name: str, **headers: str) -> FakeAnswer:
    """Return an answer carrying a shared payload file's body with its own HTTP status."""
    body = json.loads((PAYLOADS / name).read_text())
    return FakeAnswer(body["error"]["code"], body, dict(headers))


def make_service_account(token_uri: str = "http://127.0.0.1:9/token") -> tuple[dict[str, str], Any]:
    """Return throwaway service-account credentials and the matching public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    credentials = {
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": "test-key-1",
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "token_uri": token_uri,
    }
    return credentials, key.public_key()


@dataclass
class FakeAnswer:
    """A canned answer: status, JSON (dict) or raw (str) body, extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


DROP = FakeAnswer(0, drop=True)


@dataclass
class ReceivedPush:
    """One messages:send request the fake accepted."""

    path: str
    headers: dict[str, str]
    message: dict[str, Any]


class _QuietServer(ThreadingHTTPServer):
    # socketserver's default backlog of 5 resets connections when many clients open at once
    # (bench/push.py's naive sender: 16 threads, a new connection per message).
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about a client that went away mid-request (the soak kills processes)."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeFcm:
    """The fake server and its switches; use as a context manager or call start()/stop()."""

    def __init__(self, *, public_key: Any, client_email: str = CLIENT_EMAIL) -> None:
        self.public_key = public_key
        self.client_email = client_email
        self.expires_in = 3600
        self.delay = 0.0  # seconds to wait before answering messages:send
        self.token_delay = 0.0
        self.next_answers: deque[FakeAnswer] = deque()  # consumed by the next sends, in order
        self.token_answers: dict[str, FakeAnswer] = {}  # per device token, every time
        self._received: list[ReceivedPush] = []
        self.token_requests = 0
        self.send_requests = 0
        self.rejected_bearers = 0
        self.record = True  # the benchmark turns recording off
        self._issued: set[str] = set()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._accepted = 0
        self._hold_at: int | None = None
        self._released = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def base_url(self) -> str:
        """Return the URL to pass as FcmSender(base_url=...)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token_url(self) -> str:
        """Return the OAuth token endpoint URL."""
        return f"{self.base_url}/token"

    def start(self) -> FakeFcm:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (held answers go out first)."""
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeFcm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def received(self) -> list[ReceivedPush]:
        """The sends accepted so far: a copy taken under the lock, so a test may read it while
        server threads are still appending."""
        with self._lock:
            return list(self._received)

    def revoke_access_tokens(self) -> None:
        """Make every access token issued so far answer 401, as after a key rotation."""
        with self._lock:
            self._issued.clear()

    def issue_token(self, form: dict[str, str]) -> FakeAnswer:
        """Answer the token endpoint."""
        with self._lock:
            self.token_requests += 1
        if form.get("grant_type") != JWT_BEARER:
            return FakeAnswer(400, {"error": "unsupported_grant_type"})
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.public_key,
                algorithms=["RS256"],
                audience=self.token_url,
                issuer=self.client_email,
                options={"require": ["iss", "aud", "iat", "exp", "scope"]},
            )
        except jwt.PyJWTError as exc:
            return FakeAnswer(400, {"error": "invalid_grant", "error_description": str(exc)})
        if SCOPE not in str(claims["scope"]).split() or claims["exp"] - claims["iat"] > 3600:
            return FakeAnswer(400, {"error": "invalid_scope"})
        token = f"ya29.fake-{next(self._counter)}"
        with self._lock:
            self._issued.add(token)
        body = {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        return FakeAnswer(200, body)

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

    def accept_send(self, path: str, headers: dict[str, str], raw: bytes) -> FakeAnswer:
        """Answer messages:send."""
        with self._lock:
            self.send_requests += 1
            authorized = headers.get("authorization", "")[7:] in self._issued
            if not authorized:
                self.rejected_bearers += 1
        if not authorized:
            return FakeAnswer(401, _status_body(401, "UNAUTHENTICATED", "Bad credentials."))
        if path != f"/v1/projects/{PROJECT_ID}/messages:send":
            return FakeAnswer(404, _status_body(404, "NOT_FOUND", "No such project."))
        try:
            message = json.loads(raw)["message"]
        except (ValueError, KeyError, TypeError):
            return FakeAnswer(400, _status_body(400, "INVALID_ARGUMENT", "Invalid JSON payload."))
        problem = message_problem(message)
        if problem is not None:
            return problem
        with self._lock:
            if self.record:
                self._received.append(ReceivedPush(path, headers, message))
            held = self._accept()
            queued = self.next_answers.popleft() if self.next_answers else None
        self._wait_if_held(held)
        answer = queued or self.token_answers.get(message["token"])
        if answer is not None:
            return answer
        name = f"projects/{PROJECT_ID}/messages/0:{next(self._counter)}%fake"
        return FakeAnswer(200, {"name": name})


def _status_body(code: int, status: str, message: str, details: list[Any] | None = None) -> Any:
    return {"error": {"code": code, "message": message, "status": status, "details": details or []}}


def _violation(field_name: str, description: str) -> FakeAnswer:
    detail = {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": field_name, "description": description}],
    }
    return FakeAnswer(400, _status_body(400, "INVALID_ARGUMENT", description, [detail]))


def message_problem(message: Any) -> FakeAnswer | None:
    """Return FCM's answer to a malformed message, or None when the shape is right."""
    if not isinstance(message, dict):
        return _violation("message", "Invalid message.")
    targets = [key for key in ("token", "topic", "condition") if key in message]
    if len(targets) != 1 or not isinstance(message.get("token"), str) or not message["token"]:
        return fcm_error("fcm_error_missing_token_observed.json")
    notification = message.get("notification", {})
    if not all(isinstance(notification.get(key), str) for key in ("title", "body")):
        return _violation("message.notification", "title and body must be strings")
    data = message.get("data", {})
    for index, value in enumerate(data.values()):
        if not isinstance(value, str):
            return _violation(f"message.data[{index}].value", "Invalid value (TYPE_STRING)")
    android = message.get("android", {})
    if "ttl" in android and not _TTL.fullmatch(str(android["ttl"])):
        return _violation("message.android.ttl", "Invalid duration")
    if android.get("priority", "normal").lower() not in {"normal", "high"}:
        return _violation("message.android.priority", "Invalid priority")
    apns_headers = message.get("apns", {}).get("headers", {})
    if not all(isinstance(value, str) for value in apns_headers.values()):
        return _violation("message.apns.headers", "header values must be strings")
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a pooled client reuses its connections
    # Status line, headers and body leave in one write with no Nagle delay: otherwise the
    # client's delayed ACK adds ~40 ms to every answer.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        fake: FakeFcm = self.server.fake  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/token":
            if fake.token_delay:
                time.sleep(fake.token_delay)
            answer = fake.issue_token(dict(parse_qsl(raw.decode())))
        else:
            headers = {key.lower(): value for key, value in self.headers.items()}
            answer = fake.accept_send(self.path, headers, raw)
            if fake.delay:
                time.sleep(fake.delay)
        if answer.drop:
            # Vanish mid-request, as a reset or a proxy dying does.
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self._answer(answer)

    def _answer(self, answer: FakeAnswer) -> None:
        if isinstance(answer.body, str):
            payload, content_type = answer.body.encode(), "text/html; charset=UTF-8"
        else:
            payload, content_type = json.dumps(answer.body).encode(), "application/json"
        self.send_response(answer.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""
