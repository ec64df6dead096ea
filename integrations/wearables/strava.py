"""Strava API v3: walks and hikes as sessions (Strava has no daily step totals)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from integrations.wearables.base import (
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
    local_day_bounds,
    merge_sessions,
    parse_instant,
    same_secret,
)

WALK_TYPES = frozenset({"Walk", "Hike"})
PER_PAGE = 100
MAX_PAGES = 20


class StravaProvider(WearableProvider):
    """Strava. Only sessions: the service derives nothing else from it."""

    name: ClassVar[str] = "strava"
    default_scopes: ClassVar[tuple[str, ...]] = ("read", "activity:read_all")
    default_base_url: ClassVar[str] = "https://www.strava.com/api/v3"
    default_auth_url: ClassVar[str] = "https://www.strava.com/oauth/authorize"
    default_token_url: ClassVar[str] = "https://www.strava.com/api/v3/oauth/token"  # noqa: S105
    scope_separator: ClassVar[str] = ","

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
        try:
            begin = parse_instant(item["start_date"])
            return WalkingSession(
                external_id=f"strava:{item['id']}",
                start=begin,
                end=begin + timedelta(seconds=as_count(item["elapsed_time"])),
                steps=None,
                distance_m=as_distance(item.get("distance")),
                source=self.name,
            )
        except (KeyError, TypeError, ValueError) as exc:
            rejected.append(f"strava activity {str(item.get('id', '?'))[:30]}: {exc}")
            return None

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
