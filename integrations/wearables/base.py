"""The wearable-provider interface: OAuth2 plumbing, budgets and webhooks shared by all.

The records it takes and returns live in `integrations.wearables.records` (re-exported here).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import requests

from integrations.budget import Quota, app_key, user_key
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
from integrations.wearables.records import (
    DailyActivity,
    FetchResult,
    IntradaySteps,
    Subscription,
    TokenSet,
    WalkingSession,
    WebhookEvent,
    WebhookResponse,
    as_count,
    as_distance,
    body_event_id,
    fetch_window,
    header,
    intraday_days,
    local_day_bounds,
    merge_days,
    merge_sessions,
    parse_instant,
    pkce_challenge,
    pkce_pair,
    read_or_note,
    same_secret,
)

__all__ = [
    "Budget",
    "BudgetExhausted",
    "BudgetScope",
    "DailyActivity",
    "FetchResult",
    "IntegrationError",
    "IntradaySteps",
    "Quota",
    "RateLimited",
    "ReauthRequired",
    "Subscription",
    "TokenExpired",
    "TokenSet",
    "WalkingSession",
    "WearableProvider",
    "WebhookEvent",
    "WebhookRejected",
    "WebhookResponse",
    "as_count",
    "as_distance",
    "body_event_id",
    "fetch_window",
    "header",
    "intraday_days",
    "local_day_bounds",
    "merge_days",
    "merge_sessions",
    "parse_instant",
    "pkce_challenge",
    "pkce_pair",
    "read_or_note",
    "same_secret",
]


class WearableHttpClient(HttpClient):
    """HttpClient whose messages name the provider; providers subclass it for error shapes."""


class WearableProvider(ABC):
    """One fitness platform: OAuth2 linking, fetching days and walks, webhook verification.

    A subclass is the whole registration of a provider: its `name` (also the prefix of its
    `<NAME>_*` settings and the `source` of its records), the `title` patients read, and its
    documented `quota`. Add the class to `PROVIDERS` in `integrations/wearables/__init__.py`.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    # How an export names the provider's records (a FHIR device's display); None: the title.
    source_title: ClassVar[str | None] = None
    # The provider's documented request quotas (defaults of <NAME>_RATE_LIMIT and
    # <NAME>_USER_RATE_LIMIT); empty means none known.
    quota: ClassVar[Quota] = Quota()
    uses_pkce: ClassVar[bool] = False
    # GET endpoint and field giving the provider's user id, for providers whose token response
    # does not carry it.
    identity_path: ClassVar[str | None] = None
    identity_field: ClassVar[str] = "id"
    polls: ClassVar[bool] = True
    # The calls one regular fetch makes (days and walks; more with intraday steps): what a sync
    # reserves from a tight app budget before the service has learnt the real average.
    calls_per_sync: ClassVar[int] = 2
    # Whether the token endpoint takes a refresh grant; without one, a dead access token
    # means the patient links again (Polar).
    refreshes: ClassVar[bool] = True
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
        """Trade an authorization code for tokens (and learn the user id webhooks will name)."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if self.uses_pkce and code_verifier:
            form["code_verifier"] = code_verifier
        return self.with_identity(self.token_from_payload(self.token_request(form), previous=None))

    def with_identity(self, token: TokenSet) -> TokenSet:
        """Fill in the provider's user id from its identity endpoint, when it has one."""
        # Providers whose token response carries no user id name it in their notifications:
        # without it a webhook cannot be matched to the patient's connection.
        if self.identity_path is None or token.provider_user_id:
            return token
        answer = self.http.json("GET", self.identity_path, headers=self.bearer(token))
        user_id = answer.get(self.identity_field) if isinstance(answer, dict) else None
        return replace(token, provider_user_id=str(user_id) if user_id else None)

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

    # --- notifications and history ------------------------------------------------------------

    def callback_url(self, endpoint: str) -> str:
        """Return the webhook URL to register with the provider for our `endpoint`."""
        return endpoint

    def subscribe(self, token: TokenSet, *, callback_url: str) -> list[Subscription]:
        """Ask the provider to notify `callback_url` of this user's new data (default: the
        provider has no per-link subscription API, or it is configured once per app)."""
        return []

    def unsubscribe(  # noqa: B027 - most providers have nothing to cancel per user
        self, token: TokenSet, subscriptions: Iterable[Subscription], *, callback_url: str
    ) -> None:
        """Cancel this user's subscriptions (shared ones stay: other users need them)."""

    def renew(self, subscription: Subscription) -> Subscription:
        """Extend a subscription that expires; return it with its new expiry."""
        return subscription

    def request_backfill(self, token: TokenSet, *, now: datetime) -> int:
        """Ask for history from before the link, where data only arrives pushed (Garmin);
        return how many requests were accepted."""
        return 0

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
