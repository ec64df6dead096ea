"""A real HTTP server on loopback that plays a wearable provider, with fault switches.

Subclasses implement the provider's data endpoints (`route`) and error shapes; this base owns the
thread, request recording, the consent-page redirect, a rotating-refresh-token token endpoint and
the switches tests flip: rate_limit, expire_access_token, invalid_grant, fail_500, slow,
malformed_body, revise_day, corrupt_day, latency, quota (a provider's own request quota).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"


def load_payload(name: str) -> Any:
    """Load one of the provider payload samples kept in `tests/fixtures/payloads`."""
    return json.loads((PAYLOADS / name).read_text())


def default_steps(day: date) -> int:
    """Return the fake's deterministic step count for a day."""
    return 3000 + (day.toordinal() * 7919) % 7000


@dataclass
class FakeRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def form(self) -> dict[str, str]:
        """Decode a form-encoded body."""
        return dict(parse_qsl(self.body.decode()))

    def json(self) -> Any:
        """Decode a JSON body."""
        return json.loads(self.body or b"null")

    @property
    def bearer(self) -> str | None:
        """Return the bearer token presented, if any."""
        value = self.headers.get("authorization", "")
        return value[7:] if value.startswith("Bearer ") else None


@dataclass
class FakeResponse:
    """What the fake answers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Exchange:
    """One request the fake received and the answer it gave (recorded for contract tests)."""

    request: FakeRequest
    response: FakeResponse

    @property
    def body(self) -> bytes:
        """The response body as sent."""
        return encode(self.response)[0]

    @property
    def content_type(self) -> str:
        """The response Content-Type as sent."""
        return self.response.headers.get("Content-Type") or encode(self.response)[1]


def encode(response: FakeResponse) -> tuple[bytes, str]:
    """Return the bytes and default Content-Type the fake sends for `response`."""
    if isinstance(response.body, bytes):
        return response.body, "application/octet-stream"
    if isinstance(response.body, str):
        return response.body.encode(), "text/plain"
    if response.body is None:
        return b"", "text/plain"
    return json.dumps(response.body).encode(), "application/json"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Keep-alive responses written in two sends otherwise wait ~40 ms on Nagle + delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = FakeRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        response = self.server.fake.dispatch(request)
        payload, content_type = encode(response)
        try:
            self.send_response(response.status)
            headers = {"Content-Type": content_type, **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to tell it

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 resets connections when many clients open at once
    # (bench/push.py's naive sender: 16 threads, a new connection per message).
    request_queue_size = 128
    daemon_threads = True
    block_on_close = False
    fake: FakeProviderServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about a client that went away mid-request (a killed process, a timeout):
        the soak kills processes on purpose. Anything else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeProviderServer:
    """Base fake: subclass, set the paths, implement `route`."""

    authorize_path = "/oauth/authorize"
    token_path = "/oauth/token"
    access_ttl = 3600

    def __init__(self) -> None:
        self._requests: list[FakeRequest] = []
        # Every request and the answer it got, for the contract tests (tests/fakes/contracts.py).
        self._exchanges: list[Exchange] = []
        self.latency = 0.0
        self.steps_override: dict[date, int] = {}
        self.corrupt_days: set[date] = set()
        # Steps per minute (aware UTC minute -> steps) the providers with intraday data report,
        # in their own granularity; tests set the minutes they need.
        self.intraday: dict[datetime, int] = {}
        self.codes: dict[str, dict[str, str]] = {}
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._rate_limit: tuple[str, int] | None = None
        self._fail_500 = 0
        self._slow: tuple[float, int | None] | None = None
        self._malformed = 0
        self._invalid_grant = False
        self._server: _Server | None = None
        self._quota: tuple[int, float, bool] | None = None
        self._quota_windows: defaultdict[str, deque[float]] = defaultdict(deque)
        self.quota_calls = 0  # data calls counted against the quota
        self.quota_refusals = 0  # of them, answered 429 because the quota was spent

    # --- what the fake received: copies taken under the lock, so a test may read them while
    # server threads are still appending ----------------------------------------------------

    @property
    def requests(self) -> list[FakeRequest]:
        """Every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def exchanges(self) -> list[Exchange]:
        """Every request and the answer it got so far, in order."""
        with self._lock:
            return list(self._exchanges)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeProviderServer:
        """Serve on 127.0.0.1 on a free port in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Return the root URL of the running fake."""
        assert self._server is not None, "fake not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- switches -----------------------------------------------------------------------------

    def rate_limit(self, retry_after: float | str = 30, times: int = 1) -> None:
        """Answer the next `times` data calls with 429 and this Retry-After."""
        self._rate_limit = (str(retry_after), times)

    def quota(self, limit: int, per_s: float, *, per_user: bool = False) -> None:
        """Enforce a quota like a provider: at most `limit` data calls in any `per_s` seconds
        (per bearer token with `per_user`), answering 429 beyond it and counting refusals."""
        with self._lock:
            self._quota = (limit, per_s, per_user)
            self._quota_windows.clear()
            self.quota_calls = self.quota_refusals = 0

    def _over_quota(self, request: FakeRequest) -> bool:
        """Count a data call against the quota; return True when it must be refused."""
        if self._quota is None or request.path in (self.authorize_path, self.token_path):
            return False
        limit, per_s, per_user = self._quota
        now = time.monotonic()
        with self._lock:
            window = self._quota_windows[(request.bearer or "") if per_user else "app"]
            while window and now - window[0] >= per_s:
                window.popleft()
            self.quota_calls += 1
            if len(window) >= limit:
                self.quota_refusals += 1
                return True
            window.append(now)  # a refused call does not count (providers differ; be lenient)
            return False

    def expire_access_token(self) -> None:
        """Invalidate every access token issued so far (data calls answer 401)."""
        with self._lock:
            self.access_tokens.clear()

    def invalid_grant(self) -> None:
        """Revoke every refresh token (refresh answers invalid_grant)."""
        self._invalid_grant = True

    def fail_500(self, times: int = 1) -> None:
        """Answer the next `times` data calls with 500."""
        self._fail_500 = times

    def slow(self, seconds: float, times: int | None = None) -> None:
        """Delay data calls by `seconds` (the next `times` of them, or all)."""
        self._slow = (seconds, times) if seconds > 0 else None

    def malformed_body(self, times: int = 1) -> None:
        """Answer the next `times` data calls with a truncated JSON body."""
        self._malformed = times

    def revise_day(self, day: date, steps: int) -> None:
        """Change a day's step total, as providers do after a late sync."""
        self.steps_override[day] = steps

    def corrupt_day(self, day: date) -> None:
        """Make one day's record malformed in otherwise good responses."""
        self.corrupt_days.add(day)

    def steps_for(self, day: date) -> int:
        """Return the step total the fake reports for a day."""
        return self.steps_override.get(day, default_steps(day))

    def minutes_between(self, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
        """The intraday minutes in [start, end), in time order."""
        return sorted((at, n) for at, n in self.intraday.items() if start <= at < end)

    # --- tokens -------------------------------------------------------------------------------

    def issue_tokens(self) -> tuple[str, str]:
        """Mint a fresh access/refresh pair."""
        n = next(self._counter)
        access, refresh = f"access-{n}", f"refresh-{n}"
        with self._lock:
            self.access_tokens.add(access)
            self.refresh_tokens.add(refresh)
        return access, refresh

    def make_code(self, params: dict[str, str]) -> str:
        """Mint an authorization code remembering the consent parameters."""
        code = f"code-{next(self._counter)}"
        self.codes[code] = params
        return code

    # --- dispatch -----------------------------------------------------------------------------

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Answer one request (runs on a server thread) and record the exchange."""
        response = self._answer(request)
        with self._lock:
            self._exchanges.append(Exchange(request, response))
        return response

    def _answer(self, request: FakeRequest) -> FakeResponse:
        with self._lock:
            self._requests.append(request)
        # Counted on arrival, before the simulated latency, as a provider's edge would.
        over_quota = self._over_quota(request)
        if self.latency:
            time.sleep(self.latency)
        if over_quota:
            return FakeResponse(429, self.rate_limit_body(), {"Retry-After": "1"})
        if request.path == self.authorize_path:
            return self.authorize(request)
        if request.path == self.token_path:
            return self.token(request)
        public = self.public(request)
        if public is not None:
            return public
        fault = self._fault()
        if fault is not None:
            return fault
        if not self.is_authorized(request):
            return self.unauthorized()
        if self._take("_malformed"):
            return FakeResponse(200, b'{"data": [{"day": "20', {"Content-Type": "application/json"})
        return self.route(request)

    def _take(self, name: str) -> bool:
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False

    def _fault(self) -> FakeResponse | None:
        if self._slow is not None:
            seconds, times = self._slow
            if times is not None:
                self._slow = (seconds, times - 1) if times > 1 else None
            time.sleep(seconds)
        if self._take("_fail_500"):
            return FakeResponse(500, self.server_error_body())
        with self._lock:
            limit = self._rate_limit
            if limit is not None:
                retry_after, left = limit
                self._rate_limit = (retry_after, left - 1) if left > 1 else None
        if limit is not None:
            return FakeResponse(429, self.rate_limit_body(), {"Retry-After": limit[0]})
        return None

    def is_authorized(self, request: FakeRequest) -> bool:
        """Return True when the request carries a live access token."""
        with self._lock:
            return request.bearer in self.access_tokens

    def authorize(self, request: FakeRequest) -> FakeResponse:
        """Play the consent page: redirect back with a code and the state."""
        query = request.query
        if query.get("client_id") != CLIENT_ID or "redirect_uri" not in query:
            return FakeResponse(400, "bad consent request")
        code = self.make_code(query)
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return FakeResponse(302, "", {"Location": target})

    def client_credentials(self, request: FakeRequest) -> tuple[str | None, str | None]:
        """Return the client id and secret presented (HTTP Basic or form)."""
        value = request.headers.get("authorization", "")
        if value.startswith("Basic "):
            client_id, _, secret = base64.b64decode(value[6:]).decode().partition(":")
            return client_id, secret
        form = request.form()
        return form.get("client_id"), form.get("client_secret")

    def token(self, request: FakeRequest) -> FakeResponse:
        """Play the token endpoint: code exchange and single-use rotating refresh tokens."""
        form = request.form()
        if self.client_credentials(request) != (CLIENT_ID, CLIENT_SECRET):
            return self.token_error(401, "invalid_client")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            consent = self.codes.pop(form.get("code", ""), None)
            if consent is None or consent.get("redirect_uri") != form.get("redirect_uri"):
                return self.token_error(400, "invalid_grant")
            challenge = consent.get("code_challenge")
            if challenge is not None:
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if expected != challenge:
                    return self.token_error(400, "invalid_grant")
        elif grant == "refresh_token":
            with self._lock:
                presented = form.get("refresh_token", "")
                if self._invalid_grant or presented not in self.refresh_tokens:
                    return self.token_error(400, "invalid_grant")
                self.refresh_tokens.discard(presented)  # single use
        else:
            return self.token_error(400, "unsupported_grant_type")
        access, refresh = self.issue_tokens()
        return self.token_response(access, refresh)

    # --- provider-specific shapes (override) --------------------------------------------------

    def token_response(self, access: str, refresh: str) -> FakeResponse:
        """Answer a successful token request."""
        return FakeResponse(
            200,
            {
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": self.access_ttl,
                "token_type": "Bearer",
                "scope": "read",
            },
        )

    def token_error(self, status: int, error: str) -> FakeResponse:
        """Answer a failed token request."""
        return FakeResponse(status, {"error": error, "error_description": error})

    def unauthorized(self) -> FakeResponse:
        """Answer a data call with a dead access token."""
        return FakeResponse(401, {"error": "invalid_token"})

    def rate_limit_body(self) -> Any:
        """Return the body of a 429."""
        return {"error": "rate limit exceeded"}

    def server_error_body(self) -> Any:
        """Return the body of a 500."""
        return {"error": "internal error"}

    def public(self, request: FakeRequest) -> FakeResponse | None:
        """Answer calls that need no bearer token (revocation endpoints), else None."""
        return None

    def route(self, request: FakeRequest) -> FakeResponse:
        """Answer a data call (override)."""
        return FakeResponse(404, {"error": "not found"})

    def data_calls(self, path_prefix: str) -> list[FakeRequest]:
        """Return the recorded requests whose path starts with `path_prefix`."""
        return [r for r in self.requests if r.path.startswith(path_prefix)]
