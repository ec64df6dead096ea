"""Oura API v2: daily_activity for day totals, workouts for walks, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from integrations.wearables.base import (
    DailyActivity,
    FetchResult,
    IntegrationError,
    TokenSet,
    WalkingSession,
    WearableProvider,
    WebhookEvent,
    WebhookRejected,
    WebhookResponse,
    as_count,
    as_distance,
    fetch_window,
    header,
    merge_days,
    merge_sessions,
    parse_instant,
    same_secret,
)

MAX_PAGES = 50  # a runaway next_token loop must end


class OuraProvider(WearableProvider):
    """Oura ring. A `day` is the patient's date: Oura's activity day runs 04:00 to 04:00 local."""

    name: ClassVar[str] = "oura"
    identity_path: ClassVar[str | None] = "/v2/usercollection/personal_info"
    default_scopes: ClassVar[tuple[str, ...]] = ("daily", "workout")
    default_base_url: ClassVar[str] = "https://api.ouraring.com"
    default_auth_url: ClassVar[str] = "https://cloud.ouraring.com/oauth/authorize"
    default_token_url: ClassVar[str] = "https://api.ouraring.com/oauth/token"  # noqa: S105

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
        """Read daily_activity and walking workouts for the window."""
        first, last = fetch_window(cursor, today, lookback_days, max_days)
        # A date-only end_date is read as midnight and drops that day's 04:00 record: ask for
        # one day more and filter.
        params = {"start_date": first.isoformat(), "end_date": (last + timedelta(1)).isoformat()}
        rejected: list[str] = []
        days: list[DailyActivity] = []
        for item in self._pages(token, "/v2/usercollection/daily_activity", params):
            try:
                day = date.fromisoformat(item["day"])
                record = DailyActivity(
                    date=day,
                    steps=as_count(item["steps"]),
                    distance_m=as_distance(item.get("equivalent_walking_distance")),
                    active_minutes=_active_minutes(item),
                    source=self.name,
                )
            except (KeyError, TypeError, ValueError) as exc:
                rejected.append(f"oura daily_activity {item.get('day', '?')!s:.10}: {exc}")
                continue
            if first <= day <= last:
                days.append(record)
        sessions: list[WalkingSession] = []
        for item in self._pages(token, "/v2/usercollection/workout", params):
            if item.get("activity") != "walking":
                continue
            try:
                sessions.append(
                    WalkingSession(
                        external_id=f"oura:{item['id']}",
                        start=parse_instant(item["start_datetime"]),
                        end=parse_instant(item["end_datetime"]),
                        steps=None,
                        distance_m=as_distance(item.get("distance")),
                        source=self.name,
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                rejected.append(f"oura workout {item.get('id', '?')!s:.40}: {exc}")
        return FetchResult(merge_days(days), merge_sessions(sessions), last.isoformat(), rejected)

    def _pages(
        self, token: TokenSet, path: str, params: dict[str, str]
    ) -> Iterator[dict[str, Any]]:
        query = dict(params)
        for _ in range(MAX_PAGES):
            payload = self.http.json("GET", path, params=query, headers=self.bearer(token))
            if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
                raise IntegrationError(f"oura {path}: unexpected payload shape", permanent=True)
            for item in payload["data"]:
                if isinstance(item, dict):
                    yield item
            next_token = payload.get("next_token")
            if not next_token:
                return
            query = {**params, "next_token": str(next_token)}
        raise IntegrationError(f"oura {path}: too many pages", permanent=False)

    def handle_webhook(
        self, *, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookResponse | list[WebhookEvent]:
        """Answer the subscription check; verify x-oura-signature on notifications."""
        secret = self.require_webhook_secret()
        if method.upper() == "GET":
            # Subscription check: we chose the verification token (our webhook secret).
            if not same_secret(query.get("verification_token"), secret):
                raise WebhookRejected("oura: bad verification token", permanent=True, status=401)
            return WebhookResponse(200, {"challenge": query.get("challenge", "")})
        signature = header(headers, "x-oura-signature")
        timestamp = header(headers, "x-oura-timestamp")
        if not signature or not timestamp:
            raise WebhookRejected("oura: unsigned notification", permanent=True, status=401)
        expected = hmac.new(
            self.client_secret.encode(), timestamp.encode() + body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(signature.lower(), expected):
            raise WebhookRejected("oura: bad signature", permanent=True, status=401)
        payload = self.json_body(body)
        if not isinstance(payload, dict):
            raise WebhookRejected("oura: notification is not an object", permanent=True, status=400)
        data_type = str(payload.get("data_type", ""))
        kind = {"daily_activity": "daily", "workout": "activity"}.get(data_type, data_type)
        event_id = ":".join(
            str(payload.get(k, "")) for k in ("data_type", "object_id", "event_type", "event_time")
        )
        user = payload.get("user_id")
        return [WebhookEvent(str(user) if user else None, kind, f"oura:{event_id}")]


def _active_minutes(item: Mapping[str, Any]) -> int | None:
    """Return medium + high activity time in minutes (Oura reports seconds)."""
    medium, high = item.get("medium_activity_time"), item.get("high_activity_time")
    if medium is None and high is None:
        return None
    return (as_count(medium or 0) + as_count(high or 0)) // 60
