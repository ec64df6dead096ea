"""Withings: `{status, body}` envelopes, requesttoken, measure getactivity, notify callbacks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from integrations.wearables.base import (
    DailyActivity,
    FetchResult,
    IntegrationError,
    RateLimited,
    ReauthRequired,
    TokenExpired,
    TokenSet,
    WearableProvider,
    WebhookEvent,
    WebhookRejected,
    WebhookResponse,
    as_count,
    as_distance,
    fetch_window,
    merge_days,
)

# Withings answers HTTP 200 and puts the outcome in `status` (0 = ok).
AUTH_STATUSES = frozenset({100, 101, 102, 200, 401})
RATE_LIMIT_STATUS = 601
TRANSIENT_STATUSES = frozenset({2555, 522, 500, 502})  # 503 is 'invalid params'
MAX_PAGES = 20
APPLI_KINDS = {"16": "daily", "44": "sleep", "1": "weight", "4": "blood_pressure"}


class WithingsProvider(WearableProvider):
    """Withings. `date` in getactivity is the day in the activity's own `timezone`."""

    name: ClassVar[str] = "withings"
    default_scopes: ClassVar[tuple[str, ...]] = ("user.activity",)
    default_base_url: ClassVar[str] = "https://wbsapi.withings.net"
    default_auth_url: ClassVar[str] = "https://account.withings.com/oauth2_user/authorize2"
    default_token_url: ClassVar[str] = "https://wbsapi.withings.net/v2/oauth2"  # noqa: S105
    auth_path: ClassVar[str] = "/oauth2_user/authorize2"
    token_path: ClassVar[str] = "/v2/oauth2"  # noqa: S105
    scope_separator: ClassVar[str] = ","

    def token_request(self, form: dict[str, str]) -> dict[str, Any]:
        """Call requesttoken and unwrap the envelope; a dead grant becomes ReauthRequired."""
        form = {"action": "requesttoken", **form}
        try:
            return self.call(self.token_url, form, None)
        except IntegrationError as exc:
            if form["grant_type"] == "refresh_token" and exc.permanent:
                # Withings reports a used or revoked refresh token as a non-zero status
                # (invalid_grant text in `error`); either way the user must link again.
                raise ReauthRequired(
                    "withings: refresh refused", permanent=True, status=exc.status
                ) from None
            raise

    def token_request_form(self, form: dict[str, str]) -> dict[str, str]:
        """Return the form with client credentials (Withings wants them in the body)."""
        return {**form, "client_id": self.client_id, "client_secret": self.client_secret}

    def call(self, path: str, form: dict[str, str], token: TokenSet | None) -> dict[str, Any]:
        """POST a Withings action and return the envelope's body or raise by its status."""
        headers = self.bearer(token) if token else {"Accept": "application/json"}
        if token is None:
            form = self.token_request_form(form)
        # Withings reads are POSTs; they change nothing, so retrying is safe.
        payload = self.http.json("POST", path, data=form, headers=headers, idempotent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("status"), int):
            raise IntegrationError("withings: response without status", permanent=True)
        status = payload["status"]
        if status == 0:
            body = payload.get("body")
            if not isinstance(body, dict):
                raise IntegrationError("withings: response without body", permanent=True)
            return body
        message = f"withings {form.get('action', '?')}: status {status}"
        error_text = str(payload.get("error", ""))
        if status in AUTH_STATUSES:
            raise TokenExpired(message, permanent=True, status=401, body=error_text)
        if status == RATE_LIMIT_STATUS:
            raise RateLimited(message, permanent=False, status=429, body=error_text)
        raise IntegrationError(
            message, permanent=status not in TRANSIENT_STATUSES, status=status, body=error_text
        )

    def user_id_from_token(self, payload: Mapping[str, Any]) -> str | None:
        """Withings returns the user id with the tokens."""
        user = payload.get("userid")
        return str(user) if user is not None else None

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
        """Read daily activity (getactivity) for the window; Withings walks are not read."""
        first, last = fetch_window(cursor, today, lookback_days, max_days)
        form = {
            "action": "getactivity",
            "startdateymd": first.isoformat(),
            "enddateymd": last.isoformat(),
            "data_fields": "steps,distance,soft,moderate,intense",
        }
        rejected: list[str] = []
        days: list[DailyActivity] = []
        for _ in range(MAX_PAGES):
            body = self.call("/v2/measure", form, token)
            activities = body.get("activities")
            if not isinstance(activities, list):
                raise IntegrationError("withings getactivity: no activities list", permanent=True)
            for item in activities:
                try:
                    day = date.fromisoformat(item["date"])
                    record = DailyActivity(
                        date=day,
                        steps=as_count(item["steps"]),
                        distance_m=as_distance(item.get("distance")),
                        active_minutes=_active_minutes(item),
                        source=self.name,
                    )
                except (KeyError, TypeError, ValueError) as exc:
                    rejected.append(f"withings activity {str(item.get('date', '?'))[:10]}: {exc}")
                    continue
                if first <= day <= last:
                    days.append(record)
            if not body.get("more"):
                break
            form = {**form, "offset": str(body.get("offset", 0))}
        else:
            raise IntegrationError("withings getactivity: too many pages", permanent=False)
        return FetchResult(merge_days(days), [], last.isoformat(), rejected)

    def revoke(self, token: TokenSet) -> None:
        """Withings has no revoke call; unsubscribing notifications is the service's job."""

    def handle_webhook(
        self, *, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookResponse | list[WebhookEvent]:
        """Answer Withings' HEAD/GET URL check; turn a notify POST into an event.

        Withings does not sign notifications, so the callback URL registered with Withings
        carries our secret: `...?secret=<webhook_secret>`.
        """
        self.check_query_secret(query)
        if method.upper() in ("HEAD", "GET"):
            return WebhookResponse(200, "", "text/plain")
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        user = form.get("userid")
        if not user:
            raise WebhookRejected(
                "withings: notification without userid", permanent=True, status=400
            )
        appli = form.get("appli", "")
        kind = APPLI_KINDS.get(appli, f"appli_{appli}")
        event_id = f"withings:{user}:{appli}:{form.get('startdate', '')}:{form.get('enddate', '')}"
        return [WebhookEvent(user, kind, event_id)]


def _active_minutes(item: Mapping[str, Any]) -> int | None:
    """Return moderate + intense activity in minutes (Withings reports seconds)."""
    if item.get("moderate") is None and item.get("intense") is None:
        return None
    return (as_count(item.get("moderate") or 0) + as_count(item.get("intense") or 0)) // 60
