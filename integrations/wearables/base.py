"""The wearable-provider interface: plain records in and out, OAuth2 plumbing shared by all."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import requests

from integrations.budget import app_key, user_key
from integrations.http import (
    Budget,
    BudgetExhausted,
    BudgetScope,
    HttpClient,
    IntegrationError,
    RateLimited,
    ReauthRequired,
    TokenExpired,
    WebhookRejected,
    charged_to,
)

__all__ = [
    "Budget",
    "BudgetExhausted",
    "BudgetScope",
    "DailyActivity",
    "FetchResult",
    "IntegrationError",
    "RateLimited",
    "ReauthRequired",
    "TokenExpired",
    "TokenSet",
    "WalkingSession",
    "WearableProvider",
    "WebhookEvent",
    "WebhookRejected",
    "WebhookResponse",
    "pkce_pair",
]


@dataclass(frozen=True)
class TokenSet:
    """The credentials of one linked account."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None  # aware UTC
    scopes: tuple[str, ...] = ()
    provider_user_id: str | None = None

    def expires_within(self, seconds: float, now: datetime | None = None) -> bool:
        """Return True when the access token expires within `seconds` (unknown expiry: False)."""
        if self.expires_at is None:
            return False
        now = now or datetime.now(UTC)
        return self.expires_at - now <= timedelta(seconds=seconds)

    def __repr__(self) -> str:
        # Tokens must never reach logs through a repr.
        return (
            f"TokenSet(expires_at={self.expires_at!r}, scopes={self.scopes!r}, "
            f"provider_user_id={self.provider_user_id!r})"
        )


@dataclass(frozen=True)
class DailyActivity:
    """One provider's total for one patient-local calendar day."""

    date: date
    steps: int
    distance_m: float | None
    active_minutes: int | None
    source: str


@dataclass(frozen=True)
class WalkingSession:
    """One walk recorded by a provider."""

    external_id: str
    start: datetime
    end: datetime
    steps: int | None
    distance_m: float | None
    source: str


@dataclass(frozen=True)
class FetchResult:
    """What one fetch brought back, and where the next fetch continues."""

    days: list[DailyActivity]
    sessions: list[WalkingSession]
    cursor: str | None
    rejected: list[str]


@dataclass(frozen=True)
class WebhookEvent:
    """What a verified webhook says happened."""

    provider_user_id: str | None
    kind: str
    event_id: str
    days: list[DailyActivity] = field(default_factory=list)
    sessions: list[WalkingSession] = field(default_factory=list)
    # Callback URLs to pull (Garmin ping): hand them to `cursor_with_pending`, then fetch.
    pull: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WebhookResponse:
    """An immediate answer to a webhook call (verification handshakes)."""

    status: int
    body: str | dict[str, Any]
    content_type: str = "application/json"


def pkce_pair() -> tuple[str, str]:
    """Return a fresh PKCE (verifier, S256 challenge) pair."""
    verifier = secrets.token_urlsafe(64)[:96]
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    """Return the S256 code challenge for `verifier`."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def fetch_window(
    cursor: str | None, today: date, lookback_days: int, max_days: int
) -> tuple[date, date]:
    """Return the inclusive (first, last) local dates one fetch should read.

    From the cursor (the last fully synced date) the window re-reads `lookback_days` days,
    because providers revise recent days; it never spans more than `max_days`, so a connection
    that fell far behind catches up over several fetches.
    """
    lookback = max(1, lookback_days)
    if cursor is None:
        first = today - timedelta(days=max_days - 1)
    else:
        first = min(date.fromisoformat(cursor), today) - timedelta(days=lookback - 1)
    first = min(first, today - timedelta(days=lookback - 1))
    last = min(today, first + timedelta(days=max_days - 1))
    return first, last


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the UTC instants where local `day` starts and the next local day starts."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def as_count(value: Any) -> int:
    """Return a non-negative int from a JSON number or int64 string, or raise ValueError."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a count: {value!r}")
    if isinstance(value, str):
        value = int(value.strip())
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not a whole count: {value!r}")
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


def as_distance(value: Any) -> float | None:
    """Return a non-negative distance in metres, None when absent, or raise ValueError."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a distance: {value!r}")
    number = float(value)
    if number < 0 or math.isnan(number):
        raise ValueError(f"not a distance: {value!r}")
    return number


def parse_instant(value: Any) -> datetime:
    """Return an aware UTC datetime from an RFC 3339 string, or raise ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return parsed.astimezone(UTC)


def body_event_id(provider: str, payload: Any) -> str:
    """Return a stable id for a webhook payload that carries none."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return f"{provider}:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


def same_secret(given: str | None, expected: str) -> bool:
    """Compare a presented secret with the expected one in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Return a header value by case-insensitive name."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


class WearableHttpClient(HttpClient):
    """HttpClient whose messages name the provider; providers subclass it for error shapes."""


class WearableProvider(ABC):
    """One fitness platform: OAuth2 linking, fetching days and walks, webhook verification."""

    name: ClassVar[str]
    uses_pkce: ClassVar[bool] = False
    polls: ClassVar[bool] = True
    default_scopes: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str] = ""
    default_auth_url: ClassVar[str] = ""
    default_token_url: ClassVar[str] = ""
    # With only base_url given (a fake on loopback), auth and token URLs hang off it.
    auth_path: ClassVar[str] = "/oauth/authorize"
    token_path: ClassVar[str] = "/oauth/token"  # noqa: S105 - a URL path
    scope_separator: ClassVar[str] = " "
    client_auth: ClassVar[str] = "body"  # "body" or "basic"
    http_client_class: ClassVar[type[WearableHttpClient]] = WearableHttpClient

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        base_url: str | None = None,
        auth_url: str | None = None,
        token_url: str | None = None,
        webhook_secret: str | None = None,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_secret = webhook_secret
        self.timeout = timeout
        if base_url:
            root = base_url.rstrip("/")
            self.base_url = root
            self.auth_url = auth_url or root + self.auth_path
            self.token_url = token_url or root + self.token_path
        else:
            self.base_url = self.default_base_url
            self.auth_url = auth_url or self.default_auth_url
            self.token_url = token_url or self.default_token_url
        # Every data call is charged to the provider app's budget, and inside `charging` to
        # the user's too; the token endpoint is not (see `token_request`).
        self.http = self.http_client_class(
            self.base_url or "http://invalid",
            timeout=timeout,
            session=session,
            budget=budget,
            budget_key=app_key(self.name),
        )

    # --- request budgets ----------------------------------------------------------------------

    def budget_user_key(self, token: TokenSet, *, connection_id: int | None = None) -> str | None:
        """Return the per-user budget key: the provider's user id, else our connection id."""
        if token.provider_user_id:
            return user_key(self.name, token.provider_user_id)
        if connection_id is not None:
            return user_key(self.name, f"connection-{connection_id}")
        return None

    @contextmanager
    def charging(
        self, token: TokenSet, *, connection_id: int | None = None, reserve: int = 0
    ) -> Iterator[BudgetScope]:
        """Charge the calls made inside the block to this user's budget as well as the app's.

        With `reserve`, that many app-budget units are taken up front (BudgetExhausted if they
        cannot be): a fetch admitted this way is rarely cut short by the app budget midway.
        """
        self.http.reserve(reserve)
        with charged_to(
            self.budget_user_key(token, connection_id=connection_id), prepaid=reserve
        ) as scope:
            yield scope

    # --- OAuth2 -------------------------------------------------------------------------------

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """Return the consent-page URL the patient's browser is sent to."""
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": self.scope_separator.join(self.default_scopes),
            **self.extra_authorize_params(),
        }
        if self.uses_pkce and code_challenge:
            params["code_challenge"] = code_challenge
            params["code_challenge_method"] = "S256"
        return f"{self.auth_url}?{urlencode(params)}"

    def extra_authorize_params(self) -> dict[str, str]:
        """Return provider-specific consent-page parameters."""
        return {}

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        """Trade an authorization code for tokens."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if self.uses_pkce and code_verifier:
            form["code_verifier"] = code_verifier
        return self.token_from_payload(self.token_request(form), previous=None)

    def refresh(self, token: TokenSet) -> TokenSet:
        """Return a NEW token pair; the old refresh token may be dead once this returns."""
        if not token.refresh_token:
            raise ReauthRequired(f"{self.name}: no refresh token", permanent=True)
        form = {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
        return self.token_from_payload(self.token_request(form), previous=token)

    def revoke(self, token: TokenSet) -> None:  # noqa: B027 - providers without revocation
        """Tell the provider to forget the grant (default: nothing to call)."""

    def register_user(self, token: TokenSet) -> TokenSet:
        """Finish linking on providers that need it (Polar); default returns the token as is."""
        return token

    def token_request(self, form: dict[str, str]) -> dict[str, Any]:
        """POST to the token endpoint; map invalid_grant to ReauthRequired."""
        form = dict(form)
        auth: tuple[str, str] | None = None
        if self.client_auth == "basic":
            auth = (self.client_id, self.client_secret)
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = self.client_secret
        try:
            payload = self.http.json(
                "POST",
                self.token_url,
                data=form,
                auth=auth,
                headers={"Accept": "application/json"},
                # Token endpoints are separate from the data APIs the quotas count, and a
                # code exchange must not be refused: an authorization code lives minutes.
                budgeted=False,
            )
        except IntegrationError as exc:
            if exc.status in (400, 401) and "invalid_grant" in (exc.body or ""):
                raise ReauthRequired(
                    f"{self.name}: grant refused (invalid_grant)",
                    permanent=True,
                    status=exc.status,
                ) from None
            raise
        if not isinstance(payload, dict):
            raise IntegrationError(f"{self.name}: token response is not an object", permanent=True)
        return payload

    def token_from_payload(self, payload: Mapping[str, Any], previous: TokenSet | None) -> TokenSet:
        """Build a TokenSet from a standard OAuth2 token response."""
        access = payload.get("access_token")
        if not isinstance(access, str) or not access:
            raise IntegrationError(
                f"{self.name}: token response without access_token", permanent=True
            )
        refresh = payload.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            # Google and others keep the old refresh token valid and send none back.
            refresh = previous.refresh_token if previous else None
        expires_at: datetime | None = None
        if isinstance(payload.get("expires_at"), int | float):
            expires_at = datetime.fromtimestamp(payload["expires_at"], UTC)
        elif isinstance(payload.get("expires_in"), int | float | str):
            expires_at = datetime.now(UTC) + timedelta(seconds=float(payload["expires_in"]))
        raw_scope = payload.get("scope")
        if isinstance(raw_scope, str) and raw_scope:
            scopes = tuple(s for s in raw_scope.replace(",", " ").split() if s)
        else:
            scopes = previous.scopes if previous else self.default_scopes
        user_id = self.user_id_from_token(payload)
        if user_id is None and previous is not None:
            user_id = previous.provider_user_id
        return TokenSet(access, refresh, expires_at, scopes, user_id)

    def user_id_from_token(self, payload: Mapping[str, Any]) -> str | None:
        """Return the provider's user id carried in a token response, if any."""
        return None

    def bearer(self, token: TokenSet) -> dict[str, str]:
        """Return the Authorization header for data calls."""
        return {"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"}

    # --- data ---------------------------------------------------------------------------------

    @abstractmethod
    def fetch(
        self,
        token: TokenSet,
        *,
        cursor: str | None,
        tz: ZoneInfo,
        today: date,
        lookback_days: int = 3,
        max_days: int = 30,
    ) -> FetchResult:
        """Fetch daily totals and walks from the cursor (re-reading recent days)."""

    def cursor_with_pending(self, cursor: str | None, urls: Iterable[str]) -> str | None:
        """Return the cursor to store after a webhook asked to pull `urls` (default: unchanged)."""
        return cursor

    # --- webhooks -----------------------------------------------------------------------------

    @abstractmethod
    def handle_webhook(
        self, *, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookResponse | list[WebhookEvent]:
        """Verify an inbound webhook; answer handshakes or return the events it carries."""

    def require_webhook_secret(self) -> str:
        """Return the configured webhook secret or reject the call (403)."""
        if not self.webhook_secret:
            raise WebhookRejected(
                f"{self.name}: no webhook secret configured", permanent=True, status=403
            )
        return self.webhook_secret

    def check_query_secret(self, query: Mapping[str, str]) -> None:
        """Reject a callback whose `secret` query parameter is missing or wrong (401)."""
        expected = self.require_webhook_secret()
        if not same_secret(query.get("secret"), expected):
            raise WebhookRejected(f"{self.name}: bad webhook secret", permanent=True, status=401)

    def json_body(self, body: bytes) -> Any:
        """Decode a webhook body, rejecting garbage with 400."""
        try:
            return json.loads(body or b"null")
        except ValueError:
            raise WebhookRejected(
                f"{self.name}: webhook body is not JSON", permanent=True, status=400
            ) from None


def merge_days(days: list[DailyActivity]) -> list[DailyActivity]:
    """Keep one record per date (the last one seen wins: providers list revisions later)."""
    by_date: dict[date, DailyActivity] = {}
    for day in days:
        by_date[day.date] = day
    return [by_date[d] for d in sorted(by_date)]


def merge_sessions(sessions: list[WalkingSession]) -> list[WalkingSession]:
    """Keep one session per external id, ordered by start."""
    by_id: dict[str, WalkingSession] = {}
    for session in sessions:
        by_id[session.external_id] = session
    return sorted(by_id.values(), key=lambda s: (s.start, s.external_id))
