"""FCM HTTP v1 sender: service-account JWT -> OAuth access token -> messages:send."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from integrations.http import new_session, parse_retry_after
from integrations.push.base import (
    Outcome,
    PayloadTooLargeError,
    PushConfigError,
    PushMessage,
    PushResult,
    result,
)
from integrations.push.payload import fcm_body

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
# Google's documented sentence for a malformed token (error-codes page, example 2), which
# comes without a field violation; matched only as a fallback for INVALID_ARGUMENT.
_INVALID_TOKEN_SENTENCE = "not a valid fcm registration token"  # noqa: S105
_TOKEN_REFRESH_MARGIN = 300.0  # renew the access token five minutes before it expires
_QUOTA_MIN_DELAY = 60.0  # FCM: "exponential backoff with a minimum initial delay of 1 minute"
_REQUIRED_CREDENTIAL_KEYS = ("project_id", "client_email", "private_key", "token_uri")


class _TokenFetchError(Exception):
    """The OAuth token endpoint did not hand out a token; carries the result to report."""

    def __init__(self, push_result: PushResult) -> None:
        super().__init__(push_result.provider_response)
        self.push_result = push_result


@dataclass(frozen=True)
class FcmError:
    """The parts of a google.rpc.Status error body that decide what to do."""

    error_code: str | None  # FcmError.errorCode from error.details[], when present
    status: str | None  # canonical status, e.g. "INVALID_ARGUMENT"
    token_fields: bool  # a field violation names message.token
    invalid_token_sentence: bool


def parse_fcm_error(body: str) -> FcmError:
    """Read errorCode, status and field violations from an FCM error body, tolerating junk."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return FcmError(None, None, token_fields=False, invalid_token_sentence=False)
    error_code = None
    token_fields = False
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        if detail.get("@type") == _FCM_ERROR_TYPE and isinstance(detail.get("errorCode"), str):
            error_code = detail["errorCode"]
        if detail.get("@type") == _BAD_REQUEST_TYPE:
            violations = detail.get("fieldViolations")
            for violation in violations if isinstance(violations, list) else []:
                if isinstance(violation, dict) and violation.get("field") == "message.token":
                    token_fields = True
    status = error.get("status") if isinstance(error.get("status"), str) else None
    message = str(error.get("message") or "")
    return FcmError(
        error_code=error_code,
        status=status,
        token_fields=token_fields,
        invalid_token_sentence=_INVALID_TOKEN_SENTENCE in message.lower(),
    )


def classify_fcm_response(
    status: int, body: str, retry_after_header: str | None = None
) -> PushResult:
    """Map one messages:send answer to a PushResult (401 is handled by the sender)."""
    if 200 <= status < 300:
        try:
            name = json.loads(body).get("name", "")
        except (ValueError, AttributeError):
            name = ""
        return result(Outcome.SENT, status, str(name) or "sent")
    error = parse_fcm_error(body)
    code = error.error_code or error.status
    summary = code or f"HTTP {status}"
    retry_after = None
    if code == "UNREGISTERED":
        outcome = Outcome.DEAD_TOKEN
    elif code == "SENDER_ID_MISMATCH":
        # The token was issued to another Firebase project (the app was rebuilt against a
        # different sender, or the token was copied from another app): no retry from this
        # project can ever reach it, and the app registers a fresh token for the right sender
        # on its next start. If every token dies this way at once, the service account is the
        # wrong one; the outbox's dead-token counts make that visible.
        outcome = Outcome.DEAD_TOKEN
    elif code == "QUOTA_EXCEEDED" or status == 429:
        outcome = Outcome.RETRY
        retry_after = max(_QUOTA_MIN_DELAY, parse_retry_after(retry_after_header) or 0.0)
    elif status == 401:
        # THIRD_PARTY_AUTH_ERROR (bad APNs key in the Firebase console) or our own access
        # token refused twice: an operator has to fix credentials.
        outcome = Outcome.FAILED
    elif code in {"UNAVAILABLE", "INTERNAL"} or status >= 500:
        outcome = Outcome.RETRY
        retry_after = parse_retry_after(retry_after_header)
    elif (code == "INVALID_ARGUMENT" or status == 400) and (
        error.token_fields or error.invalid_token_sentence
    ):
        # Only a complaint about the token itself kills the token; a bad data key, a payload
        # that is too large or a bad TTL is our bug and must not wipe the user's devices.
        outcome = Outcome.DEAD_TOKEN
        summary = f"{summary} message.token"
    else:
        outcome = Outcome.FAILED
    return result(outcome, status, summary, retry_after=retry_after)


def _access_token_rejected(response: requests.Response | PushResult) -> bool:
    if isinstance(response, PushResult) or response.status_code != 401:
        return False
    return parse_fcm_error(response.text).error_code != "THIRD_PARTY_AUTH_ERROR"


class ServiceAccountTokens:
    """OAuth access tokens for a service account, cached until shortly before expiry."""

    def __init__(
        self,
        *,
        client_email: str,
        private_key: RSAPrivateKey,
        private_key_id: str | None,
        token_url: str,
        session: requests.Session,
        timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_email = client_email
        self._private_key = private_key
        self._private_key_id = private_key_id
        self._token_url = token_url
        self._session = session
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def get(self) -> str:
        """Return a valid access token, fetching one when none is cached or it expires soon."""
        with self._lock:
            # One lock for reading and fetching: concurrent senders wait for one fetch
            # instead of all asking the token endpoint at once.
            if self._token is None or self._clock() >= self._expires_at - _TOKEN_REFRESH_MARGIN:
                self._token, self._expires_at = self._fetch()
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget token if it is still the cached one (another thread may have renewed it)."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _assertion(self) -> str:
        issued = int(self._clock())
        claims = {
            "iss": self._client_email,
            "scope": FCM_SCOPE,
            "aud": self._token_url,
            "iat": issued,
            "exp": issued + 3600,
        }
        headers = {"kid": self._private_key_id} if self._private_key_id else None
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers=headers)

    def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": self._assertion()}
        try:
            response = self._session.post(self._token_url, data=form, timeout=self._timeout)
        except requests.RequestException as exc:
            raise _TokenFetchError(
                result(Outcome.RETRY, None, f"token endpoint: {type(exc).__name__}")
            ) from exc
        if response.status_code != 200:
            retryable = response.status_code == 429 or response.status_code >= 500
            raise _TokenFetchError(
                result(
                    Outcome.RETRY if retryable else Outcome.FAILED,
                    response.status_code,
                    f"token endpoint: HTTP {response.status_code}",
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
            )
        try:
            payload = response.json()
            token = str(payload["access_token"])
            expires_in = float(payload.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise _TokenFetchError(
                result(Outcome.RETRY, response.status_code, "token endpoint: bad answer")
            ) from exc
        return token, self._clock() + expires_in


class FcmSender:
    """Send pushes through FCM HTTP v1 with a pooled session and a cached access token."""

    channel = "fcm"

    def __init__(
        self,
        *,
        credentials: Mapping[str, Any],
        base_url: str = "https://fcm.googleapis.com",
        token_url: str | None = None,
        timeout: float = 10,
        session: requests.Session | None = None,
        pool_size: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        missing = [key for key in _REQUIRED_CREDENTIAL_KEYS if not credentials.get(key)]
        if missing:
            raise PushConfigError(f"FCM credentials lack {', '.join(missing)}")
        try:
            private_key = load_pem_private_key(str(credentials["private_key"]).encode(), None)
        except (ValueError, TypeError) as exc:
            raise PushConfigError("FCM private_key is not a PEM private key") from exc
        if not isinstance(private_key, RSAPrivateKey):
            raise PushConfigError("FCM private_key must be an RSA key")
        project_id = str(credentials["project_id"])
        self._send_url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._owns_session = session is None
        if session is None:
            # Every sending thread gets its own kept-alive connection from one pool.
            session = new_session(
                pool_size=pool_size, pool_connections=2, proxies_for=self._send_url
            )
        self._session = session
        self._timeout = timeout
        self._clock = clock
        self.tokens = ServiceAccountTokens(
            client_email=str(credentials["client_email"]),
            private_key=private_key,
            private_key_id=credentials.get("private_key_id") or None,
            token_url=token_url or str(credentials["token_uri"]),
            session=session,
            timeout=timeout,
            clock=clock,
        )

    def send(self, message: PushMessage) -> PushResult:
        """Send one message; a 401 renews the access token and tries once more."""
        try:
            body = fcm_body(message, now=self._clock())
        except PayloadTooLargeError as exc:
            return result(Outcome.FAILED, None, f"PayloadTooLarge (local): {exc}")
        try:
            access_token = self.tokens.get()
            response = self._post(body, access_token)
            if _access_token_rejected(response):
                # Revoked or rotated early: one fresh token, one more try; a second 401 is
                # a credentials problem that retrying will not fix.
                self.tokens.invalidate(access_token)
                response = self._post(body, self.tokens.get())
        except _TokenFetchError as exc:
            return exc.push_result
        if isinstance(response, PushResult):
            return response
        return classify_fcm_response(
            response.status_code, response.text, response.headers.get("Retry-After")
        )

    def _post(self, body: bytes, access_token: str) -> requests.Response | PushResult:
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Content-Type": "application/json; charset=UTF-8",
        }
        try:
            return self._session.post(
                self._send_url, data=body, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as exc:
            # Connection resets and timeouts: FCM may or may not have the message, and the
            # collapse id makes a second delivery show once, so retrying is safe.
            return result(Outcome.RETRY, None, type(exc).__name__)

    def close(self) -> None:
        """Close the session if this sender created it."""
        if self._owns_session:
            self._session.close()
