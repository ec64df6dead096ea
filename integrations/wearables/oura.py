"""Oura API v2: daily_activity for day totals, workouts for walks, signed webhooks and the
webhook subscriptions that make Oura send them.

Checked against Oura's OpenAPI document 1.29 (tests/fixtures/contracts/oura_openapi_1.29.json)
and the webhook section of cloud.ouraring.com/v2/docs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from integrations.wearables.base import (
    DailyActivity,
    FetchResult,
    IntegrationError,
    Quota,
    Subscription,
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
    read_or_note,
    same_secret,
)

MAX_PAGES = 50  # a runaway next_token loop must end
# What we subscribe to: new and changed day totals and workouts (ExtApiV2DataType,
# WebhookOperation in the OpenAPI document).
SUBSCRIBED = tuple(
    (data_type, event_type)
    for data_type in ("daily_activity", "workout")
    for event_type in ("create", "update")
)


def signed_text(timestamp: str, payload: object) -> bytes:
    """Return the bytes Oura signs: the timestamp header, then the body as JSON text.

    Oura's documented verification (cloud.ouraring.com/v2/docs, Webhooks) computes
    HMAC-SHA256(client_secret, timestamp + JSON.stringify(body)), upper-case hex, over the
    *parsed* body serialised again, not over the raw request bytes. JSON.stringify writes no
    whitespace, keeps key order and non-ASCII characters, and writes whole floats without a
    fraction; this does the same, so a body sent with other spacing still verifies.
    """
    text = json.dumps(_js_numbers(payload), separators=(",", ":"), ensure_ascii=False)
    return timestamp.encode() + text.encode()


def _js_numbers(value: object) -> object:
    """Write whole floats as integers, as JavaScript does (1.0 -> 1)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _js_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_js_numbers(item) for item in value]
    return value


class OuraProvider(WearableProvider):
    """Oura ring. A `day` is the patient's date: Oura's activity day runs 04:00 to 04:00 local."""

    name: ClassVar[str] = "oura"
    title: ClassVar[str] = "Oura"
    # cloud.ouraring.com/v2/docs (via Terra's help pages): one limit per access token, one per
    # application. UNVERIFIED numbers: 5000 requests per 5 minutes per token; app limit unknown.
    quota: ClassVar[Quota] = Quota(user="5000 per 5 minutes")
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
            record = read_or_note(item, self._day, rejected, "oura daily_activity", "day")
            if record is not None and first <= record.date <= last:
                days.append(record)
        sessions: list[WalkingSession] = []
        for item in self._pages(token, "/v2/usercollection/workout", params):
            if item.get("activity") == "walking":
                walk = read_or_note(item, self._walk, rejected, "oura workout", "id")
                if walk is not None:
                    sessions.append(walk)
        return FetchResult(merge_days(days), merge_sessions(sessions), last.isoformat(), rejected)

    def _day(self, item: dict[str, Any]) -> DailyActivity:
        return DailyActivity(
            date=date.fromisoformat(item["day"]),
            steps=as_count(item["steps"]),
            distance_m=as_distance(item.get("equivalent_walking_distance")),
            active_minutes=_active_minutes(item),
            source=self.name,
        )

    def _walk(self, item: dict[str, Any]) -> WalkingSession:
        return WalkingSession(
            external_id=f"oura:{item['id']}",
            start=parse_instant(item["start_datetime"]),
            end=parse_instant(item["end_datetime"]),
            steps=None,
            distance_m=as_distance(item.get("distance")),
            source=self.name,
        )

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

    # --- webhook subscriptions (per application, not per user) -------------------------------

    def app_headers(self) -> dict[str, str]:
        """Return the app credentials the webhook subscription API takes (ClientIdAuth and
        ClientSecretAuth in the OpenAPI document)."""
        return {
            "x-client-id": self.client_id,
            "x-client-secret": self.client_secret,
            "Accept": "application/json",
        }

    def subscribe(self, token: TokenSet, *, callback_url: str) -> list[Subscription]:
        """Make sure the app's subscriptions to `callback_url` exist (create what is missing).

        Oura subscriptions belong to the application and cover every user who granted it, so
        linking one more user usually finds them all in place.
        """
        listed = self.http.json("GET", "/v2/webhook/subscription", headers=self.app_headers())
        if not isinstance(listed, list):
            raise IntegrationError("oura subscriptions: not a list", permanent=True)
        found = {
            (item.get("data_type"), item.get("event_type")): item
            for item in listed
            if isinstance(item, dict) and item.get("callback_url") == callback_url
        }
        subscriptions = []
        for data_type, event_type in SUBSCRIBED:
            item = found.get((data_type, event_type))
            if item is None:
                body = {
                    "callback_url": callback_url,
                    # Oura echoes it in its verification GET; our webhook secret is checked.
                    "verification_token": self.require_webhook_secret(),
                    "event_type": event_type,
                    "data_type": data_type,
                }
                item = self.http.json(
                    "POST", "/v2/webhook/subscription", json=body, headers=self.app_headers()
                )
            subscriptions.append(self._subscription(item))
        return subscriptions

    def renew(self, subscription: Subscription) -> Subscription:
        """Renew a subscription before its expiration_time (PUT .../renew/{id})."""
        item = self.http.json(
            "PUT",
            f"/v2/webhook/subscription/renew/{subscription.external_id}",
            headers=self.app_headers(),
        )
        return self._subscription(item)

    def _subscription(self, item: object) -> Subscription:
        """Build a Subscription from a WebhookSubscriptionModel."""
        try:
            if not isinstance(item, dict):
                raise ValueError("not an object")
            return Subscription(
                external_id=str(item["id"]),
                data_type=f"{item['data_type']}:{item['event_type']}",
                expires_at=parse_instant(item["expiration_time"]),
                shared=True,
            )
        except (KeyError, ValueError) as exc:
            raise IntegrationError(f"oura subscription: {exc!s:.80}", permanent=True) from None

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
        payload = self.json_body(body)
        expected = hmac.new(
            self.client_secret.encode(), signed_text(timestamp, payload), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(signature.strip().upper(), expected.upper()):
            raise WebhookRejected("oura: bad signature", permanent=True, status=401)
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
