"""Strava API v3: walks and hikes as sessions (Strava has no daily step totals).

Checked against Strava's Swagger document (developers.strava.com/swagger/swagger.json, copy in
tests/fixtures/contracts/) and developers.strava.com/docs/rate-limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from integrations.wearables.base import (
    FetchResult,
    IntegrationError,
    Quota,
    TokenSet,
    WalkingSession,
    WearableHttpClient,
    WearableProvider,
    WebhookEvent,
    WebhookRejected,
    WebhookResponse,
    as_count,
    as_distance,
    fetch_window,
    local_day_bounds,
    merge_sessions,
    parse_instant,
    read_or_note,
    same_secret,
)
from integrations.wearables.pacing import PacedHttpClient, header_pair

WALK_TYPES = frozenset({"Walk", "Hike"})
PER_PAGE = 100
MAX_PAGES = 20
QUARTER_HOUR_S = 900
DAY_S = 86400
# Each pair is "<15-minute>,<daily>"; the read limits are the tighter ones for our calls.
RATE_HEADERS = (
    ("X-RateLimit-Limit", "X-RateLimit-Usage"),
    ("X-ReadRateLimit-Limit", "X-ReadRateLimit-Usage"),
)


class StravaClient(PacedHttpClient):
    """Paces calls by Strava's own counts: every response carries the app's limits and usage
    for the 15-minute window (reset at :00, :15, :30 and :45 UTC) and the day (reset at
    midnight UTC); once a window is used up, calls wait for its reset without being sent
    (Strava would answer 429 and still count them)."""

    provider_title: ClassVar[str] = "Strava"

    def note(self, headers: Mapping[str, str]) -> None:
        """Pause until the reset of any window whose usage has reached its limit."""
        now = self.clock()
        until = 0.0
        for limit_name, usage_name in RATE_HEADERS:
            limits, usage = (
                header_pair(headers.get(limit_name)),
                header_pair(headers.get(usage_name)),
            )
            if limits is None or usage is None:
                continue
            if usage[0] >= limits[0]:
                until = max(until, (now // QUARTER_HOUR_S + 1) * QUARTER_HOUR_S)
            if usage[1] >= limits[1]:
                until = max(until, (now // DAY_S + 1) * DAY_S)
        if until:
            self.pause_until(until)


class StravaProvider(WearableProvider):
    """Strava. Only sessions: the service derives nothing else from it."""

    name: ClassVar[str] = "strava"
    title: ClassVar[str] = "Strava"
    # developers.strava.com/docs/rate-limits: per application, reads ("non-upload") 100 per
    # 15 minutes and 1,000 per day (overall 200/15 min, 2,000/day); every call we make reads.
    # The response headers carry the live counts too (see StravaClient).
    quota: ClassVar[Quota] = Quota(app="100 per 15 minutes;1000/day")
    default_scopes: ClassVar[tuple[str, ...]] = ("read", "activity:read_all")
    default_base_url: ClassVar[str] = "https://www.strava.com/api/v3"
    default_auth_url: ClassVar[str] = "https://www.strava.com/oauth/authorize"
    default_token_url: ClassVar[str] = "https://www.strava.com/api/v3/oauth/token"  # noqa: S105
    scope_separator: ClassVar[str] = ","
    http_client_class: ClassVar[type[WearableHttpClient]] = StravaClient

    def extra_authorize_params(self) -> dict[str, str]:
        """Show the consent page only when needed."""
        return {"approval_prompt": "auto"}

    def user_id_from_token(self, payload: Mapping[str, Any]) -> str | None:
        """Strava returns the athlete with the first token."""
        athlete = payload.get("athlete")
        if isinstance(athlete, dict) and athlete.get("id") is not None:
            return str(athlete["id"])
        return None

    def revoke(self, token: TokenSet) -> None:
        """Deauthorize the app for this athlete."""
        deauthorize = self.auth_url.rsplit("/", 1)[0] + "/deauthorize"
        self.http.request("POST", deauthorize, data={"access_token": token.access_token})

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
        """List activities started in the window's local days and keep walks and hikes."""
        first, last = fetch_window(cursor, today, lookback_days, max_days)
        start, _ = local_day_bounds(first, tz)
        _, end = local_day_bounds(last, tz)
        params = {
            "after": str(int(start.timestamp()) - 1),  # `after` is exclusive
            "before": str(int(end.timestamp())),
            "per_page": str(PER_PAGE),
        }
        rejected: list[str] = []
        sessions: list[WalkingSession] = []
        for page in range(1, MAX_PAGES + 1):
            items = self.http.json(
                "GET",
                "/athlete/activities",
                params={**params, "page": str(page)},
                headers=self.bearer(token),
            )
            if not isinstance(items, list):
                raise IntegrationError("strava activities: not a list", permanent=True)
            for item in items:
                session = self._session(item, rejected)
                if session is not None and start <= session.start < end:
                    sessions.append(session)
            if len(items) < PER_PAGE:
                break
        else:
            raise IntegrationError("strava activities: too many pages", permanent=False)
        return FetchResult([], merge_sessions(sessions), last.isoformat(), rejected)

    def _session(self, item: Any, rejected: list[str]) -> WalkingSession | None:
        if not isinstance(item, dict):
            rejected.append("strava activity: not an object")
            return None
        kinds = {item.get("type"), item.get("sport_type")}
        if not kinds & WALK_TYPES:
            return None
        return read_or_note(item, self._walk, rejected, "strava activity", "id")

    def _walk(self, item: dict[str, Any]) -> WalkingSession:
        begin = parse_instant(item["start_date"])
        return WalkingSession(
            external_id=f"strava:{item['id']}",
            start=begin,
            end=begin + timedelta(seconds=as_count(item["elapsed_time"])),
            steps=None,
            distance_m=as_distance(item.get("distance")),
            source=self.name,
        )

    def handle_webhook(
        self, *, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookResponse | list[WebhookEvent]:
        """Answer the hub.challenge; turn an event POST into a WebhookEvent.

        Strava does not sign events, so the callback URL registered with Strava carries our
        secret (`...?secret=<webhook_secret>`), and the same secret is the `verify_token`.
        """
        secret = self.require_webhook_secret()
        if method.upper() == "GET":
            if not same_secret(query.get("hub.verify_token"), secret):
                raise WebhookRejected("strava: bad verify_token", permanent=True, status=403)
            return WebhookResponse(200, {"hub.challenge": query.get("hub.challenge", "")})
        self.check_query_secret(query)
        payload = self.json_body(body)
        if not isinstance(payload, dict) or "owner_id" not in payload:
            raise WebhookRejected("strava: unexpected event", permanent=True, status=400)
        object_type = str(payload.get("object_type", ""))
        updates = payload.get("updates") or {}
        if object_type == "athlete" and str(updates.get("authorized")) == "false":
            kind = "deauthorization"
        else:
            kind = object_type or "unknown"
        event_id = "strava:" + ":".join(
            str(payload.get(k, ""))
            for k in ("object_type", "object_id", "aspect_type", "event_time")
        )
        return [WebhookEvent(str(payload["owner_id"]), kind, event_id)]
