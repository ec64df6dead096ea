"""Google Health API v4 (the Fitbit Web API's successor): daily step rollups, walking exercise."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import requests

from integrations.http import parse_retry_after
from integrations.wearables.base import (
    DailyActivity,
    FetchResult,
    IntegrationError,
    RateLimited,
    TokenExpired,
    TokenSet,
    WalkingSession,
    WearableHttpClient,
    WearableProvider,
    WebhookEvent,
    WebhookRejected,
    WebhookResponse,
    as_count,
    as_distance,
    body_event_id,
    fetch_window,
    header,
    merge_days,
    merge_sessions,
    parse_instant,
    same_secret,
)

SCOPE_ACTIVITY = "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly"
EXERCISE_PAGE_SIZE = 25  # the API's maximum for exercise
MAX_PAGES = 40
WALKING_TYPES = frozenset({"WALKING"})


class GoogleHealthClient(WearableHttpClient):
    """Reads Google's `{"error": {code, message, status, details}}` envelope."""

    def error_for(self, response: requests.Response) -> IntegrationError:
        """Map Google error envelopes; keep the reason, never the request's credentials."""
        error = super().error_for(response)
        try:
            envelope = response.json().get("error", {})
        except (ValueError, AttributeError):
            return error
        status_name = envelope.get("status") if isinstance(envelope, dict) else None
        if not status_name:
            return error
        message = f"{error} {status_name}"
        if response.status_code == 429 or status_name == "RESOURCE_EXHAUSTED":
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return RateLimited(
                message, permanent=False, status=429, retry_after=retry_after, body=error.body
            )
        if response.status_code == 401:
            return TokenExpired(message, permanent=True, status=401, body=error.body)
        return IntegrationError(
            message,
            permanent=error.permanent,
            status=error.status,
            retry_after=error.retry_after,
            body=error.body,
        )


def _civil_date(value: Any) -> date:
    """Return the date of a CivilDateTime (`{date: {year, month, day}, time: {...}}`)."""
    parts = value["date"]
    return date(int(parts["year"]), int(parts["month"]), int(parts["day"]))


def _civil(day: date) -> dict[str, Any]:
    """Return a CivilDateTime at local midnight (month/day as plain JSON ints)."""
    return {"date": {"year": day.year, "month": day.month, "day": day.day}}


class GoogleHealthProvider(WearableProvider):
    """Fitbit and Pixel Watch through the Google Health API (health.googleapis.com/v4).

    Days come from `dailyRollUp`, which buckets reconciled data from all sources by the civil
    day the user was in (travel and DST handled by Google from recorded offsets); summing raw
    `list` points would double count watch + phone.
    """

    name: ClassVar[str] = "google_health"
    uses_pkce: ClassVar[bool] = True
    default_scopes: ClassVar[tuple[str, ...]] = (SCOPE_ACTIVITY,)
    default_base_url: ClassVar[str] = "https://health.googleapis.com"
    default_auth_url: ClassVar[str] = "https://accounts.google.com/o/oauth2/v2/auth"
    default_token_url: ClassVar[str] = "https://oauth2.googleapis.com/token"  # noqa: S105
    auth_path: ClassVar[str] = "/o/oauth2/v2/auth"
    token_path: ClassVar[str] = "/token"  # noqa: S105
    http_client_class: ClassVar[type[WearableHttpClient]] = GoogleHealthClient

    def extra_authorize_params(self) -> dict[str, str]:
        """Ask for offline access so Google issues a refresh token on every consent."""
        return {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        """Trade the code, then read the healthUserId that webhooks will name."""
        token = super().exchange_code(
            code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        identity = self.http.json("GET", "/v4/users/me/identity", headers=self.bearer(token))
        user_id = identity.get("healthUserId") if isinstance(identity, dict) else None
        return TokenSet(
            token.access_token,
            token.refresh_token,
            token.expires_at,
            token.scopes,
            str(user_id) if user_id else None,
        )

    def revoke(self, token: TokenSet) -> None:
        """Revoke the grant at Google's OAuth endpoint."""
        target = token.refresh_token or token.access_token
        revoke_url = self.token_url.rsplit("/", 1)[0] + "/revoke"
        self.http.request("POST", revoke_url, data={"token": target})

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
        """Read the daily step rollup and walking exercises for the window."""
        first, last = fetch_window(cursor, today, lookback_days, max_days)
        rejected: list[str] = []
        days = self._days(token, first, last, rejected)
        sessions = self._sessions(token, first, last, rejected)
        return FetchResult(merge_days(days), merge_sessions(sessions), last.isoformat(), rejected)

    def _days(
        self, token: TokenSet, first: date, last: date, rejected: list[str]
    ) -> list[DailyActivity]:
        body = {
            "range": {"start": _civil(first), "end": _civil(last + timedelta(1))},
            "windowSizeDays": 1,
        }
        payload = self.http.json(
            "POST",
            "/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp",
            json=body,
            headers=self.bearer(token),
            idempotent=True,  # a read despite POST
        )
        points = payload.get("rollupDataPoints", []) if isinstance(payload, dict) else None
        if not isinstance(points, list):
            raise IntegrationError("google_health dailyRollUp: unexpected shape", permanent=True)
        days: list[DailyActivity] = []
        for point in points:
            try:
                day = _civil_date(point["civilStartTime"])
                steps = as_count(point["steps"]["countSum"])
            except (KeyError, TypeError, ValueError) as exc:
                rejected.append(f"google_health steps rollup: {exc!s:.80}")
                continue
            if first <= day <= last:
                days.append(DailyActivity(day, steps, None, None, self.name))
        return days

    def _sessions(
        self, token: TokenSet, first: date, last: date, rejected: list[str]
    ) -> list[WalkingSession]:
        # Exercise only accepts a civil-start filter; exerciseType is selected client-side.
        flt = (
            f'exercise.interval.civil_start_time >= "{first.isoformat()}" AND '
            f'exercise.interval.civil_start_time < "{(last + timedelta(1)).isoformat()}"'
        )
        sessions: list[WalkingSession] = []
        for point in self._list(token, "exercise", flt, EXERCISE_PAGE_SIZE):
            exercise = point.get("exercise")
            if not isinstance(exercise, dict) or exercise.get("exerciseType") not in WALKING_TYPES:
                continue
            try:
                metrics = exercise.get("metricsSummary") or {}
                millimetres = as_distance(metrics.get("distanceMillimeters"))
                sessions.append(
                    WalkingSession(
                        external_id=f"google_health:{point['name']}",
                        start=parse_instant(exercise["interval"]["startTime"]),
                        end=parse_instant(exercise["interval"]["endTime"]),
                        steps=as_count(metrics["steps"]) if "steps" in metrics else None,
                        distance_m=millimetres / 1000 if millimetres is not None else None,
                        source=self.name,
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                rejected.append(f"google_health exercise {point.get('name', '?')!s:.60}: {exc}")
        return sessions

    def _list(
        self, token: TokenSet, data_type: str, flt: str, page_size: int
    ) -> Iterator[dict[str, Any]]:
        params = {"filter": flt, "pageSize": str(page_size)}
        path = f"/v4/users/me/dataTypes/{data_type}/dataPoints"
        for _ in range(MAX_PAGES):
            payload = self.http.json("GET", path, params=params, headers=self.bearer(token))
            points = payload.get("dataPoints", []) if isinstance(payload, dict) else None
            if not isinstance(points, list):
                raise IntegrationError(
                    f"google_health {data_type}: unexpected shape", permanent=True
                )
            yield from (p for p in points if isinstance(p, dict))
            page_token = payload.get("nextPageToken")
            if not page_token:
                return
            params = {**params, "pageToken": str(page_token)}
        raise IntegrationError(f"google_health {data_type}: too many pages", permanent=False)

    def handle_webhook(
        self, *, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookResponse | list[WebhookEvent]:
        """Check the echoed Authorization secret; answer verification; list changed users."""
        secret = self.require_webhook_secret()
        presented = header(headers, "Authorization")
        if presented is None:
            raise WebhookRejected("google_health: no Authorization", permanent=True, status=401)
        if not same_secret(presented, secret):
            raise WebhookRejected("google_health: wrong Authorization", permanent=True, status=403)
        payload = self.json_body(body)
        if isinstance(payload, dict) and payload.get("type") == "verification":
            return WebhookResponse(201, {})
        if not isinstance(payload, list):
            raise WebhookRejected("google_health: unexpected body", permanent=True, status=400)
        events: list[WebhookEvent] = []
        for item in payload:
            data = item.get("data") if isinstance(item, dict) else None
            if not isinstance(data, dict):
                continue
            data_type = str(data.get("dataType", ""))
            kind = {"steps": "daily", "exercise": "activity"}.get(data_type, data_type)
            user = data.get("healthUserId")
            events.append(
                WebhookEvent(str(user) if user else None, kind, body_event_id(self.name, data))
            )
        return events
