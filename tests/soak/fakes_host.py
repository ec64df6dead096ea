"""The soak's fake providers in a process of their own: FCM, APNs and Google Health on loopback.

They run apart from the load generator so the two do not share a GIL. The parent flips their
fault switches and, at the end, reads what they saw through a pipe: every push with the
device token, tip id, collapse id and the answer given, and every token refresh with the
refresh token presented. Those logs are the fakes' side of the invariants.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from cryptography.hazmat.primitives import serialization

from tests.fakes.apns import ApnsAnswer, FakeApns
from tests.fakes.fcm import FakeAnswer, FakeFcm, fcm_error
from tests.fakes.google_health import FakeGoogleHealth
from tests.fakes.server import FakeRequest, FakeResponse

FCM_QUOTA = FakeAnswer(
    429,
    {
        "error": {
            "code": 429,
            "message": "Quota exceeded for sending messages.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": "QUOTA_EXCEEDED",
                }
            ],
        }
    },
)


@dataclass(frozen=True)
class Push:
    """One push a fake answered: to which device, which tip, under which collapse id, how."""

    channel: str
    token: str
    tip_id: str | None
    collapse_id: str | None
    status: int
    at: float


@dataclass(frozen=True)
class Refresh:
    """One refresh-token grant the provider answered: the token presented, when, how."""

    token: str
    began: float
    ended: float
    status: int


@dataclass
class FakesReport:
    """What the fakes saw, read once at the end."""

    pushes: list[Push] = field(default_factory=list)
    refreshes: list[Refresh] = field(default_factory=list)
    provider_requests: int = 0
    provider_blocked_answers: int = 0


class SoakFcm(FakeFcm):
    """FakeFcm that logs every answer to messages:send with its device token and tip."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record = False
        self.log: list[Push] = []

    def accept_send(self, path: str, headers: dict[str, str], raw: bytes) -> FakeAnswer:
        """Answer as FCM would, then log the answer."""
        answer = super().accept_send(path, headers, raw)
        try:
            message = json.loads(raw)["message"]
        except (ValueError, KeyError, TypeError):
            return answer
        collapse = (message.get("android") or {}).get("collapse_key")
        with self._lock:
            self.log.append(
                Push(
                    "fcm",
                    str(message.get("token")),
                    (message.get("data") or {}).get("tip_id"),
                    collapse,
                    answer.status,
                    time.time(),
                )
            )
        return answer


class SoakApns(FakeApns):
    """FakeApns that logs every answer with its device token, tip and apns-collapse-id."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log: list[Push] = []

    def answer(self, headers: dict[str, str], body: bytes) -> ApnsAnswer:
        """Answer as APNs would, then log the answer."""
        answer = super().answer(headers, body)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        token = headers.get(":path", "").removeprefix("/3/device/")
        with self._lock:
            self.log.append(
                Push(
                    "apns",
                    token,
                    str(payload.get("tip_id")) if payload.get("tip_id") is not None else None,
                    headers.get("apns-collapse-id"),
                    answer.status,
                    time.time(),
                )
            )
        return answer


class SoakGoogleHealth(FakeGoogleHealth):
    """FakeGoogleHealth that can be blocked (503 to everything), logs every refresh and rotates
    refresh tokens, single use, as Strava, Fitbit and Withings do (Google keeps one for the
    life of the grant): a spent token presented again is refused with invalid_grant, so every
    reuse the soak provokes would have lost a patient's link with those providers."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked_until = 0.0
        self.refresh_log: list[Refresh] = []
        self.blocked_answers = 0

    def token(self, request: FakeRequest) -> FakeResponse:
        """Answer a refresh grant with a new pair and spend the refresh token presented."""
        form = request.form()
        if form.get("grant_type") != "refresh_token":
            return super().token(request)
        with self._lock:
            presented = form.get("refresh_token", "")
            if self._invalid_grant or presented not in self.refresh_tokens:
                return self.token_error(400, "invalid_grant")
            self.refresh_tokens.discard(presented)
        access, refresh = self.issue_tokens()
        body = dict(self.token_sample["_response_refresh"], access_token=access)
        body["refresh_token"] = refresh
        return FakeResponse(200, body)

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Refuse everything while blocked; log refresh-token presentations."""
        if time.monotonic() < self.blocked_until:
            with self._lock:
                self.blocked_answers += 1
            return FakeResponse(503, {"error": "unavailable"})
        form = request.form() if request.path == self.token_path else {}
        if form.get("grant_type") != "refresh_token":
            return super().dispatch(request)
        began = time.time()
        response = super().dispatch(request)
        with self._lock:
            self.refresh_log.append(
                Refresh(form.get("refresh_token", ""), began, time.time(), response.status)
            )
        return response


def _serve(pipe: Connection, fcm_public_pem: bytes, apns_public_pem: bytes, tokens: int) -> None:
    fcm = SoakFcm(public_key=serialization.load_pem_public_key(fcm_public_pem)).start()
    apns = SoakApns(public_key=serialization.load_pem_public_key(apns_public_pem)).start()
    provider = SoakGoogleHealth().start()
    pairs = [provider.issue_tokens() for _ in range(tokens)]
    pipe.send(
        {
            "fcm": fcm.base_url,
            "fcm_token_url": fcm.token_url,
            "apns": apns.base_url,
            "provider": provider.base_url,
            "provider_token_url": provider.base_url + provider.token_path,
            "tokens": pairs,
        }
    )
    while True:
        command, args = pipe.recv()
        if command == "stop":
            break
        if command == "dead_tokens":
            for token in args["fcm"]:
                fcm.token_answers[token] = fcm_error("fcm_error_unregistered_observed.json")
            for token in args["apns"]:
                apns.token_answers[token] = ApnsAnswer(410, "Unregistered")
        elif command == "push_faults":
            with fcm._lock:
                fcm.next_answers.extend([FCM_QUOTA] * args["quota"])
                fcm.next_answers.extend(
                    [fcm_error("fcm_error_internal_observed.json")] * args["errors"]
                )
            with apns._lock:
                apns.next_answers.extend([ApnsAnswer(429, "TooManyRequests")] * args["quota"])
        elif command == "push_slow":
            fcm.delay = apns.delay = args
        elif command == "provider_faults":
            provider.rate_limit(retry_after=args["retry_after"], times=args["quota"])
            provider.fail_500(args["errors"])
            provider.slow(args["slow_s"], times=args["slow_times"])
            provider.expire_access_token()
        elif command == "block_provider":
            provider.blocked_until = time.monotonic() + args
        pipe.send("ok")
    # Copied without the fakes' locks: a server thread stuck mid-request (a client killed under
    # it) must not hang the report; list() of a list is atomic under the GIL.
    report = FakesReport(
        pushes=[*fcm.log, *apns.log],
        refreshes=list(provider.refresh_log),
        provider_requests=len(provider.requests),
        provider_blocked_answers=provider.blocked_answers,
    )
    pipe.send(report)
    for fake in (fcm, apns, provider):
        threading.Thread(target=fake.stop, daemon=True).start()


class FakesHost:
    """Handle on the fakes' process: its URLs, its switches and, at the end, its report."""

    def __init__(self, fcm_public_pem: bytes, apns_public_pem: bytes, tokens: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, fcm_public_pem, apns_public_pem, tokens), daemon=True
        )
        self._process.start()
        self._lock = threading.Lock()
        self.urls: dict[str, Any] = self._pipe.recv()

    def command(self, name: str, args: Any = None) -> None:
        """Flip a switch in the fakes' process."""
        with self._lock:
            self._pipe.send((name, args))
            self._pipe.recv()

    def finish(self) -> FakesReport:
        """Stop the fakes and return what they saw."""
        with self._lock:
            self._pipe.send(("stop", None))
            if not self._pipe.poll(120):
                self._process.kill()
                raise RuntimeError("the fakes' process did not report within 120 s")
            report: FakesReport = self._pipe.recv()
        self._process.join(timeout=20)
        if self._process.is_alive():
            self._process.kill()
        return report
