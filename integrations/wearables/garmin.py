"""Garmin Health API: push and ping/pull only; Garmin forbids polling without a notification.

How pulls travel: a ping webhook becomes WebhookEvent(kind=..., pull=[callbackURL, ...]). The
service stores them with `cursor = provider.cursor_with_pending(cursor, event.pull)` and then
calls `fetch(token, cursor=cursor, ...)`, which GETs exactly those callback URLs with the user's
token and returns a cursor with none left. With no pending URL, fetch makes no HTTP call.

History from before the link is asked for once, on linking, through the backfill endpoints
(`/wellness-api/rest/backfill/{summary type}`, at most 90 days a request); Garmin answers 202
and later pushes or pings the summaries like any others. Checked against the Health API
specification's prose and its examples (tests/fixtures/contracts/garmin/).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from integrations.wearables.base import (
    DailyActivity,
    FetchResult,
    IntegrationError,
    IntradaySteps,
    Quota,
    TokenSet,
    WalkingSession,
    WearableProvider,
    WebhookEvent,
    WebhookRejected,
    WebhookResponse,
    as_count,
    as_distance,
    body_event_id,
    header,
    merge_days,
    merge_sessions,
    read_or_note,
    same_secret,
)

WALK_TYPES = frozenset({"WALKING", "HIKING", "CASUAL_WALKING", "SPEED_WALKING"})
# Summary types (ping/push envelope keys). Activities the user edited or entered by hand
# arrive as `manuallyUpdatedActivities`, with the activity summary's shape.
ACTIVITY_TYPES = ("activities", "manuallyUpdatedActivities")
SUMMARY_KINDS = {
    "dailies": "daily",
    "epochs": "intraday",
    "activities": "activity",
    "manuallyUpdatedActivities": "activity",
    "deregistrations": "deregistration",
}
# Not epochs: intraday counts only serve the proximal outcomes of recent decisions.
BACKFILL_TYPES = ("dailies", "activities")
BACKFILL_DAYS = 90  # the longest range one backfill request may ask for


def parse_dailies(items: Iterable[Any], rejected: list[str]) -> list[DailyActivity]:
    """Parse daily summaries; `calendarDate` is the user's local date."""
    days = (read_or_note(item, _daily, rejected, "garmin daily", "summaryId") for item in items)
    return [day for day in days if day is not None]


def _daily(item: dict[str, Any]) -> DailyActivity:
    active = item.get("activeTimeInSeconds")
    return DailyActivity(
        date=date.fromisoformat(item["calendarDate"]),
        steps=as_count(item["steps"]),
        distance_m=as_distance(item.get("distanceInMeters")),
        active_minutes=as_count(active) // 60 if active is not None else None,
        source="garmin",
    )


def parse_epochs(items: Iterable[Any], rejected: list[str]) -> list[IntradaySteps]:
    """Parse epoch summaries into steps per 15-minute window.

    Garmin sends one epoch per activity type in a window (e.g. WALKING and SEDENTARY parts of
    the same quarter hour, each with its own `durationInSeconds`), so the epochs starting at the
    same instant are added up into one count.
    """
    steps: dict[int, int] = {}
    seconds: dict[int, int] = {}
    for item in items:
        epoch = read_or_note(item, _epoch, rejected, "garmin epoch", "summaryId")
        if epoch is None:
            continue
        start, count, duration = epoch
        steps[start] = steps.get(start, 0) + count
        seconds[start] = seconds.get(start, 0) + duration
    return [
        IntradaySteps(
            datetime.fromtimestamp(start, UTC),
            min(60, max(1, -(-seconds[start] // 60))),  # whole minutes, rounded up
            steps[start],
            "garmin",
        )
        for start in sorted(steps)
    ]


def _epoch(item: dict[str, Any]) -> tuple[int, int, int]:
    """An epoch's start (seconds since the epoch), steps and duration (seconds)."""
    steps = item.get("steps")
    return (
        as_count(item["startTimeInSeconds"]),
        as_count(steps) if steps is not None else 0,
        as_count(item["durationInSeconds"]),
    )


def parse_activities(items: Iterable[Any], rejected: list[str]) -> list[WalkingSession]:
    """Parse activity summaries, keeping walks."""
    walks = (
        read_or_note(item, _walk, rejected, "garmin activity", "summaryId")
        for item in items
        if isinstance(item, dict) and item.get("activityType") in WALK_TYPES
    )
    return [walk for walk in walks if walk is not None]


def _walk(item: dict[str, Any]) -> WalkingSession:
    start = datetime.fromtimestamp(as_count(item["startTimeInSeconds"]), UTC)
    steps = item.get("steps")
    return WalkingSession(
        external_id=f"garmin:{str(item['summaryId']).strip()}",
        start=start,
        end=start + timedelta(seconds=as_count(item["durationInSeconds"])),
        steps=as_count(steps) if steps is not None else None,
        distance_m=as_distance(item.get("distanceInMeters")),
        source="garmin",
    )


class GarminProvider(WearableProvider):
    """Garmin Connect (Health API, OAuth2 + PKCE)."""

    name: ClassVar[str] = "garmin"
    title: ClassVar[str] = "Garmin"
    # open-wearables assumes 100 requests/60 s per app. UNVERIFIED.
    quota: ClassVar[Quota] = Quota(app="100/minute")
    uses_pkce: ClassVar[bool] = True
    identity_path: ClassVar[str | None] = "/wellness-api/rest/user/id"
    identity_field: ClassVar[str] = "userId"
    polls: ClassVar[bool] = False
    default_scopes: ClassVar[tuple[str, ...]] = ()  # permissions are set per app in the portal
    default_base_url: ClassVar[str] = "https://apis.garmin.com"
    default_auth_url: ClassVar[str] = "https://connect.garmin.com/oauth2Confirm"
    default_token_url: ClassVar[str] = "https://diauth.garmin.com/di-oauth2-service/oauth/token"  # noqa: S105
    auth_path: ClassVar[str] = "/oauth2Confirm"
    token_path: ClassVar[str] = "/di-oauth2-service/oauth/token"  # noqa: S105

    def revoke(self, token: TokenSet) -> None:
        """Delete the user's registration with our app."""
        self.http.request(
            "DELETE", "/wellness-api/rest/user/registration", headers=self.bearer(token)
        )

    def request_backfill(self, token: TokenSet, *, now: datetime) -> int:
        """Ask Garmin to send the last 90 days of dailies and activities (202 Accepted; 409
        means that backfill was asked for already)."""
        end = int(now.timestamp())
        params = {
            "summaryStartTimeInSeconds": str(end - BACKFILL_DAYS * 86400),
            "summaryEndTimeInSeconds": str(end),
        }
        accepted = 0
        for summary_type in BACKFILL_TYPES:
            try:
                self.http.request(
                    "GET",
                    f"/wellness-api/rest/backfill/{summary_type}",
                    params=params,
                    headers=self.bearer(token),
                )
            except IntegrationError as exc:
                if exc.status != 409:
                    raise
                continue
            accepted += 1
        return accepted

    def cursor_with_pending(self, cursor: str | None, urls: Iterable[str]) -> str | None:
        """Return `cursor` with callback URLs added to its pending list."""
        state = _cursor_state(cursor)
        pending = list(state["pending"])
        pending.extend(u for u in urls if u not in pending)
        return json.dumps({"pending": pending, "synced": state["synced"]})

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
        """Pull exactly the pending callback URLs a ping gave; never poll otherwise."""
        state = _cursor_state(cursor)
        rejected: list[str] = []
        days: list[DailyActivity] = []
        sessions: list[WalkingSession] = []
        intraday: list[IntradaySteps] = []
        allowed = urlsplit(self.base_url)
        for url in state["pending"]:
            parts = urlsplit(url)
            # The ping names a URL we will send the user's token to: only Garmin's own host.
            if (parts.scheme, parts.netloc) != (allowed.scheme, allowed.netloc):
                rejected.append(f"garmin callback to foreign host {parts.netloc[:60]} ignored")
                continue
            items = self.http.json("GET", url, headers=self.bearer(token))
            if not isinstance(items, list):
                raise IntegrationError("garmin callback: not a list", permanent=True)
            if parts.path.endswith("/dailies"):
                days.extend(parse_dailies(items, rejected))
            elif parts.path.endswith("/epochs"):
                intraday.extend(parse_epochs(items, rejected))
            elif parts.path.rsplit("/", 1)[-1] in ACTIVITY_TYPES:
                sessions.extend(parse_activities(items, rejected))
        known = [state["synced"], *(d.date.isoformat() for d in days)]
        synced = max((k for k in known if k), default=None)
        next_cursor = json.dumps({"pending": [], "synced": synced})
        return FetchResult(
            merge_days(days), merge_sessions(sessions), next_cursor, rejected, intraday
        )

    def handle_webhook(
        self, *, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookResponse | list[WebhookEvent]:
        """Verify the callback; turn push summaries and pings into events per user.

        Garmin does not sign notifications: the endpoint URL registered in the portal carries
        our secret (`...?secret=<webhook_secret>`) and Garmin's `garmin-client-id` header, when
        present, must be our client id.
        """
        self.check_query_secret(query)
        client = header(headers, "garmin-client-id")
        if client is not None and not same_secret(client, self.client_id):
            raise WebhookRejected("garmin: foreign client id", permanent=True, status=403)
        payload = self.json_body(body)
        if isinstance(payload, list):  # a bare list of dailies
            payload = {"dailies": payload}
        if not isinstance(payload, dict):
            raise WebhookRejected("garmin: unexpected body", permanent=True, status=400)
        events: list[WebhookEvent] = []
        for key, items in payload.items():
            if not isinstance(items, list):
                continue
            kind = SUMMARY_KINDS.get(str(key), str(key))
            by_user: dict[str | None, list[Any]] = {}
            for item in items:
                user = item.get("userId") if isinstance(item, dict) else None
                by_user.setdefault(str(user) if user else None, []).append(item)
            for user, group in by_user.items():
                events.append(self._event(user, kind, str(key), group))
        return events

    def _event(self, user: str | None, kind: str, key: str, items: list[Any]) -> WebhookEvent:
        event_id = body_event_id(self.name, {key: items})
        pull = [i["callbackURL"] for i in items if isinstance(i, dict) and "callbackURL" in i]
        pushed = [i for i in items if not (isinstance(i, dict) and "callbackURL" in i)]
        rejected: list[str] = []  # a malformed pushed summary is dropped, never half-stored
        days = parse_dailies(pushed, rejected) if key == "dailies" else []
        sessions = parse_activities(pushed, rejected) if key in ACTIVITY_TYPES else []
        intraday = parse_epochs(pushed, rejected) if key == "epochs" else []
        return WebhookEvent(
            user,
            kind,
            event_id,
            merge_days(days),
            merge_sessions(sessions),
            pull=pull,
            intraday=intraday,
        )


def _cursor_state(cursor: str | None) -> dict[str, Any]:
    """Decode the Garmin cursor (`{"pending": [...], "synced": "YYYY-MM-DD" | null}`)."""
    if not cursor:
        return {"pending": [], "synced": None}
    try:
        state = json.loads(cursor)
    except ValueError:
        return {"pending": [], "synced": cursor}  # a plain date from elsewhere
    if not isinstance(state, dict):
        return {"pending": [], "synced": None}
    pending = [u for u in state.get("pending", []) if isinstance(u, str)]
    return {"pending": pending, "synced": state.get("synced")}
