"""Polar AccessLink v3: user registration, daily activities (with their step samples for the
last days), walking exercises, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from integrations.wearables.base import (
    DailyActivity,
    FetchResult,
    IntegrationError,
    IntradaySteps,
    Quota,
    ReauthRequired,
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
    intraday_days,
    merge_days,
    merge_sessions,
    read_or_note,
)
from integrations.wearables.pacing import PacedHttpClient, header_pair

MAX_RANGE_DAYS = 28  # AccessLink refuses longer activity ranges
# Exercise.sport is a coarse family (e.g. "OTHER"); the Polar Flow sport that tells walks
# apart is `detailed_sport_info`.
WALK_SPORTS = frozenset({"WALKING", "HIKING", "NORDIC_WALKING"})
EVENT_KINDS = {"ACTIVITY_SUMMARY": "daily", "EXERCISE": "activity"}
_DURATION = re.compile(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


def iso_duration_seconds(value: Any) -> float:
    """Return seconds from an ISO-8601 time duration such as `PT1H2M3.5S`."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {value!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class PolarClient(PacedHttpClient):
    """Paces calls by AccessLink's own counts ("Rate limiting"): every response carries the
    partner's limits, usage and seconds to reset for the 15-minute and the 24-hour window in
    `RateLimit-Limit`, `RateLimit-Usage` and `RateLimit-Reset`. Once a window is used up, calls
    wait for its reset without being sent (Polar would answer 429, and a call over the short
    limit still counts toward the long one)."""

    provider_title: ClassVar[str] = "Polar"

    def note(self, headers: Mapping[str, str]) -> None:
        """Pause until the reset of any window whose usage has reached its limit."""
        limits = header_pair(headers.get("RateLimit-Limit"))
        usage = header_pair(headers.get("RateLimit-Usage"))
        reset = header_pair(headers.get("RateLimit-Reset"))
        if limits is None or usage is None or reset is None:
            return
        waits = [reset[n] for n in (0, 1) if usage[n] >= limits[n]]
        if waits:
            self.pause_until(self.clock() + max(waits))


class PolarProvider(WearableProvider):
    """Polar. Activity `start_time` is local wall time: its date is the patient's day."""

    name: ClassVar[str] = "polar"
    title: ClassVar[str] = "Polar"
    # Per partner: 500 + 20 x registered users per 15 minutes and 5,000 + 100 x users per 24 h
    # (AccessLink reference, "Rate limiting"). The user-independent floor is the default
    # (raise it with POLAR_RATE_LIMIT as users grow); the live counts in every response's
    # headers pace the calls too (see PolarClient).
    quota: ClassVar[Quota] = Quota(app="500 per 15 minutes;5000/day")
    http_client_class: ClassVar[type[WearableHttpClient]] = PolarClient
    default_scopes: ClassVar[tuple[str, ...]] = ("accesslink.read_all",)
    default_base_url: ClassVar[str] = "https://www.polaraccesslink.com"
    default_auth_url: ClassVar[str] = "https://flow.polar.com/oauth2/authorization"
    default_token_url: ClassVar[str] = "https://polarremote.com/v2/oauth2/token"  # noqa: S105
    auth_path: ClassVar[str] = "/oauth2/authorization"
    token_path: ClassVar[str] = "/v2/oauth2/token"  # noqa: S105
    client_auth: ClassVar[str] = "basic"
    # The token endpoint takes only `grant_type=authorization_code` and answers no refresh
    # token; an access token lasts until revoked, or `expires_in` (about a year).
    refreshes: ClassVar[bool] = False

    def user_id_from_token(self, payload: Mapping[str, Any]) -> str | None:
        """Polar returns the user id as `x_user_id`."""
        user = payload.get("x_user_id")
        return str(user) if user is not None else None

    def refresh(self, token: TokenSet) -> TokenSet:
        """AccessLink has no refresh grant: a token that no longer works needs a new link."""
        raise ReauthRequired("polar: access tokens cannot be refreshed", permanent=True)

    def register_user(self, token: TokenSet) -> TokenSet:
        """Register the user with our client; 409 means already registered, which is fine."""
        member_id = f"backstride-{token.provider_user_id or 'unknown'}"
        try:
            self.http.request(
                "POST", "/v3/users", json={"member-id": member_id}, headers=self.bearer(token)
            )
        except IntegrationError as exc:
            if exc.status != 409:
                raise
        return token

    def revoke(self, token: TokenSet) -> None:
        """Deregister the user, which revokes our access."""
        if token.provider_user_id:
            self.http.request(
                "DELETE", f"/v3/users/{token.provider_user_id}", headers=self.bearer(token)
            )

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
        """Read daily activities in ≤28-day chunks (the chunks holding the last days with
        their step samples: `steps=true`, no extra call), and walking exercises."""
        first, last = fetch_window(cursor, today, lookback_days, max_days)
        recent = intraday_days(first, last)
        rejected: list[str] = []
        days: list[DailyActivity] = []
        intraday: list[IntradaySteps] = []
        chunk = first
        while chunk <= last:
            chunk_end = min(last, chunk + timedelta(days=MAX_RANGE_DAYS - 1))
            params = {"from": chunk.isoformat(), "to": chunk_end.isoformat()}
            if chunk_end >= recent[0]:
                params["steps"] = "true"
            items = self.http.json(
                "GET", "/v3/users/activities", params=params, headers=self.bearer(token)
            )
            if not isinstance(items, list):
                raise IntegrationError("polar activities: not a list", permanent=True)
            for item in items:
                record = read_or_note(item, self._day, rejected, "polar activity", "start_time")
                if record is not None and first <= record.date <= last:
                    days.append(record)
                    if record.date in recent:
                        intraday.extend(self._samples(item, tz, rejected))
            chunk = chunk_end + timedelta(days=1)
        sessions = self._sessions(token, first, last, tz, rejected)
        return FetchResult(
            merge_days(days), merge_sessions(sessions), last.isoformat(), rejected, intraday
        )

    def _samples(self, item: Any, tz: ZoneInfo, rejected: list[str]) -> list[IntradaySteps]:
        """A day's step samples (`samples.steps`: `interval_ms` and `{steps, timestamp}` items
        whose timestamps, like every AccessLink activity time, are local wall-clock times
        without an offset, read in the patient's zone). When `interval_ms` is missing or 0 (as
        in the reference page's example) a sample lasts until the next one, at most an hour."""
        steps = (item.get("samples") or {}).get("steps") or {}
        try:
            interval = as_count(steps.get("interval_ms") or 0) // 60000
            starts = [
                datetime.fromisoformat(str(s["timestamp"])).replace(tzinfo=tz).astimezone(UTC)
                for s in steps.get("samples") or []
            ]
            counts = [as_count(s["steps"]) for s in steps.get("samples") or []]
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            rejected.append(f"polar step samples {str(item.get('start_time', '?'))[:10]}: {exc}")
            return []
        found = []
        for n, (start, count) in enumerate(zip(starts, counts, strict=True)):
            minutes = interval
            if not minutes:
                following = starts[n + 1] if n + 1 < len(starts) else start + timedelta(minutes=1)
                minutes = min(60, max(1, int((following - start).total_seconds() // 60)))
            found.append(IntradaySteps(start, minutes, count, self.name))
        return found

    def _day(self, item: dict[str, Any]) -> DailyActivity:
        active = item.get("active_duration")
        return DailyActivity(
            date=date.fromisoformat(str(item["start_time"])[:10]),
            steps=as_count(item["steps"]),
            distance_m=as_distance(item.get("distance_from_steps")),
            active_minutes=int(iso_duration_seconds(active) // 60) if active else None,
            source=self.name,
        )

    def _sessions(
        self, token: TokenSet, first: date, last: date, tz: ZoneInfo, rejected: list[str]
    ) -> list[WalkingSession]:
        # /v3/exercises lists the last 30 days; keep walks that started in the window.
        items = self.http.json("GET", "/v3/exercises", headers=self.bearer(token))
        if not isinstance(items, list):
            raise IntegrationError("polar exercises: not a list", permanent=True)
        sessions: list[WalkingSession] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            if str(item.get("detailed_sport_info") or "").upper() not in WALK_SPORTS:
                continue
            found = read_or_note(item, self._exercise, rejected, "polar exercise", "id")
            if found is not None:
                local_day, walk = found
                if first <= local_day <= last:
                    sessions.append(walk)
        return sessions

    def _exercise(self, item: dict[str, Any]) -> tuple[date, WalkingSession]:
        """The exercise's local start date (what the window holds), and the walk."""
        offset = timedelta(minutes=int(item.get("start_time_utc_offset", 0)))
        local = datetime.fromisoformat(item["start_time"]).replace(tzinfo=None)
        start = (local - offset).replace(tzinfo=UTC)
        steps = item.get("steps")
        return local.date(), WalkingSession(
            external_id=f"polar:{item['id']}",
            start=start,
            end=start + timedelta(seconds=iso_duration_seconds(item["duration"])),
            steps=as_count(steps) if steps is not None else None,
            distance_m=as_distance(item.get("distance")),
            source=self.name,
        )

    def handle_webhook(
        self, *, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookResponse | list[WebhookEvent]:
        """Verify Polar-Webhook-Signature (HMAC-SHA256 of the body); answer the PING."""
        payload = self.json_body(body)
        if isinstance(payload, dict) and payload.get("event") == "PING":
            # Polar pings before it hands out the secret, so the ping cannot be signed.
            return WebhookResponse(200, {})
        secret = self.require_webhook_secret()
        signature = header(headers, "Polar-Webhook-Signature")
        if not signature:
            raise WebhookRejected("polar: unsigned notification", permanent=True, status=401)
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.strip().lower(), expected):
            raise WebhookRejected("polar: bad signature", permanent=True, status=401)
        if not isinstance(payload, dict):
            raise WebhookRejected("polar: unexpected body", permanent=True, status=400)
        event = str(payload.get("event", ""))
        user = payload.get("user_id")
        return [
            WebhookEvent(
                str(user) if user is not None else None,
                EVENT_KINDS.get(event, event.lower()),
                body_event_id(self.name, payload),
            )
        ]
