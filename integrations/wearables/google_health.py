"""Google Health API v4 (the Fitbit Web API's successor): daily step rollups, walking exercise.

Checked against the public discovery document (revision 20261030, copy and source in
tests/fixtures/contracts/; revision 20260527 is `health/v4/health-api.json` in
googleapis/google-api-go-client). Method ids used here:

- `health.users.getIdentity`: GET v4/users/me/identity
- `health.users.dataTypes.dataPoints.dailyRollUp`:
  POST v4/users/me/dataTypes/steps/dataPoints:dailyRollUp
- `health.users.dataTypes.dataPoints.rollUp` (steps per quarter hour, physical time):
  POST v4/users/me/dataTypes/steps/dataPoints:rollUp
- `health.users.dataTypes.dataPoints.list`: GET v4/users/me/dataTypes/exercise/dataPoints

The OAuth endpoints (accounts.google.com, oauth2.googleapis.com, /revoke) and the webhook
notification body are NOT described by the discovery document; they follow Google-wide OAuth
conventions and open-wearables' reading of the webhook guide.

Notifications: subscribers belong to a Google Cloud project and are created with project
credentials (`projects.subscribers.create`, scope cloud-platform), not with a user's token.
With `subscriptionCreatePolicy: AUTOMATIC` no per-user subscription exists, so linking a
patient subscribes nothing here: the operator creates the subscriber once (README).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import requests

from integrations.http import parse_retry_after
from integrations.wearables.base import (
    DailyActivity,
    FetchResult,
    IntegrationError,
    IntradaySteps,
    Quota,
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
    intraday_days,
    local_day_bounds,
    merge_days,
    merge_sessions,
    parse_instant,
    read_or_note,
    same_secret,
)

# Discovery doc: every read method used here (getIdentity, dailyRollUp, list) accepts this scope.
SCOPE_ACTIVITY = "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly"
# dataPoints.list `pageSize`: "The maximum page size for `exercise` and `sleep` is 25."
EXERCISE_PAGE_SIZE = 25
# DailyRollUpDataPointsRequest.range: "The maximum range for ... all other data types is 90 days."
MAX_ROLLUP_DAYS = 90
MAX_PAGES = 40
WALKING_TYPES = frozenset({"WALKING"})  # Exercise.exerciseType enum value
# Intraday steps: `rollUp` over physical time in quarter-hour windows. Like dailyRollUp it
# rolls up reconciled data of all sources (watch + phone are not double counted, as summing
# raw `list` points at their 1-minute resolution would). Three days are 288 windows, one page
# (default page size 1440).
INTRADAY_WINDOW = timedelta(minutes=15)


class GoogleHealthClient(WearableHttpClient):
    """Reads Google's `{"error": {code, message, status, details}}` envelope.

    The discovery document only defines `Status` as `{code, message, details[]}`; the outer
    `{"error": ...}` wrapper and its `status` name are Google's general JSON error convention
    (notes §6, UNVERIFIED on a captured Health response), so both are optional here.
    """

    def error_for(self, response: requests.Response) -> IntegrationError:
        """Map Google error envelopes; keep the reason, never the request's credentials."""
        error = super().error_for(response)
        try:
            envelope = response.json().get("error", {})
        except (ValueError, AttributeError):
            return error
        if not isinstance(envelope, dict):
            return error
        status_name = envelope.get("status")
        reasons = [
            str(detail["reason"])
            for detail in envelope.get("details") or []
            if isinstance(detail, dict) and detail.get("reason")
        ]
        label = " ".join(str(part) for part in (status_name, *reasons) if part)
        if not label:
            return error
        message = f"{error} {label}"
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
    """Return a CivilDateTime at local midnight (month/day as plain JSON ints).

    CivilDateTime carries no time zone or UTC offset; `time` omitted means midnight.
    """
    return {"date": {"year": day.year, "month": day.month, "day": day.day}}


def _rfc3339(moment: datetime) -> str:
    """Return an aware instant as an RFC 3339 UTC timestamp (google-datetime)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _last_segment(value: Any) -> str:
    """Return the last `/` segment of a resource name (`users/x/dataTypes/steps` -> `steps`)."""
    return str(value).rstrip("/").rsplit("/", 1)[-1]


class GoogleHealthProvider(WearableProvider):
    """Fitbit and Pixel Watch through the Google Health API (health.googleapis.com/v4).

    Days come from `dailyRollUp`, which buckets reconciled data from all sources by the civil
    day the user was in (travel and DST handled by Google from recorded offsets); summing raw
    `list` points would double count watch + phone. The patient's `tz` is therefore not sent:
    the API's civil times cannot carry a zone.
    """

    name: ClassVar[str] = "google_health"
    title: ClassVar[str] = "Fitbit / Google Health"
    # developers.google.com/health/rate-limits: per project 120,000/min and 86.4 M/day, per
    # user 300/min.
    quota: ClassVar[Quota] = Quota(app="120000/minute;86400000/day", user="300/minute")
    calls_per_sync: ClassVar[int] = 3  # dailyRollUp, exercise list, rollUp
    uses_pkce: ClassVar[bool] = True
    # health.users.getIdentity -> Identity {name, healthUserId, legacyUserId}
    identity_path: ClassVar[str | None] = "/v4/users/me/identity"
    identity_field: ClassVar[str] = "healthUserId"
    default_scopes: ClassVar[tuple[str, ...]] = (SCOPE_ACTIVITY,)
    default_base_url: ClassVar[str] = "https://health.googleapis.com"  # discovery `rootUrl`
    # Not in the discovery document (it lists scopes only): Google's standard OAuth endpoints.
    default_auth_url: ClassVar[str] = "https://accounts.google.com/o/oauth2/v2/auth"
    default_token_url: ClassVar[str] = "https://oauth2.googleapis.com/token"  # noqa: S105
    auth_path: ClassVar[str] = "/o/oauth2/v2/auth"
    token_path: ClassVar[str] = "/token"  # noqa: S105
    http_client_class: ClassVar[type[WearableHttpClient]] = GoogleHealthClient

    def extra_authorize_params(self) -> dict[str, str]:
        """Ask for offline access so Google issues a refresh token on every consent."""
        return {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}

    def revoke(self, token: TokenSet) -> None:
        """Revoke the grant at Google's OAuth endpoint (not part of the discovery document)."""
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
        """Read the daily step rollup and walking exercises for the window, and the steps per
        quarter hour of its last days."""
        first, last = fetch_window(cursor, today, lookback_days, max_days)
        rejected: list[str] = []
        days = self._days(token, first, last, rejected)
        sessions = self._sessions(token, first, last, rejected)
        recent = intraday_days(first, last)
        start, end = local_day_bounds(recent[0], tz)[0], local_day_bounds(recent[-1], tz)[1]
        intraday = self._intraday(token, start, end, rejected)
        return FetchResult(
            merge_days(days), merge_sessions(sessions), last.isoformat(), rejected, intraday
        )

    def _intraday(
        self, token: TokenSet, start: datetime, end: datetime, rejected: list[str]
    ) -> list[IntradaySteps]:
        """POST rollUp (RollUpDataPointsRequest: `range` an Interval, closed-open, of RFC 3339
        times; `windowSize` a Duration) and return each window's `steps.countSum`."""
        body: dict[str, Any] = {
            "range": {"startTime": _rfc3339(start), "endTime": _rfc3339(end)},
            "windowSize": f"{int(INTRADAY_WINDOW.total_seconds())}s",
        }
        counts: list[IntradaySteps] = []
        for point in self._rollup_points(token, "rollUp", body):
            value = point.get("steps")
            if value is None:
                continue  # no steps in this window: no data, not an error
            try:
                begin = parse_instant(point["startTime"])
                seconds = (parse_instant(point["endTime"]) - begin).total_seconds()
                minutes = max(1, -int(-seconds // 60))  # a truncated last window rounds up
                steps = as_count(value.get("countSum", "0"))  # proto3 omits a zero
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                rejected.append(f"google_health steps rollUp: {exc!s:.80}")
                continue
            counts.append(IntradaySteps(begin, minutes, steps, self.name))
        return counts

    def _days(
        self, token: TokenSet, first: date, last: date, rejected: list[str]
    ) -> list[DailyActivity]:
        days: list[DailyActivity] = []
        start = first
        while start <= last:
            end = min(last, start + timedelta(MAX_ROLLUP_DAYS - 1))
            for point in self._rollup(token, start, end):
                try:
                    day = _civil_date(point["civilStartTime"])
                    value = point.get("steps")
                    if value is None:
                        continue  # no steps value for this window: no data, not an error
                    # StepsRollupValue.countSum is an int64 string; proto3 JSON may omit a zero.
                    steps = as_count(value.get("countSum", "0"))
                except (AttributeError, KeyError, TypeError, ValueError) as exc:
                    rejected.append(f"google_health steps rollup: {exc!s:.80}")
                    continue
                if first <= day <= last:
                    days.append(DailyActivity(day, steps, None, None, self.name))
            start = end + timedelta(1)
        return days

    def _rollup(self, token: TokenSet, first: date, last: date) -> Iterator[dict[str, Any]]:
        """POST dailyRollUp for [first, last] (inclusive local dates) and yield its points."""
        # DailyRollUpDataPointsRequest: `range` is a CivilTimeInterval, start inclusive and end
        # exclusive, start aligned with the 1-day window (local midnight).
        body: dict[str, Any] = {
            "range": {"start": _civil(first), "end": _civil(last + timedelta(1))},
            "windowSizeDays": 1,
        }
        return self._rollup_points(token, "dailyRollUp", body)

    def _rollup_points(
        self, token: TokenSet, method: str, body: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """POST steps `rollUp` or `dailyRollUp` with `body` and yield the points of every page."""
        for _ in range(MAX_PAGES):
            payload = self.http.json(
                "POST",
                f"/v4/users/me/dataTypes/steps/dataPoints:{method}",
                json=body,
                headers=self.bearer(token),
                idempotent=True,  # a read despite POST
            )
            points = payload.get("rollupDataPoints", []) if isinstance(payload, dict) else None
            if not isinstance(points, list):
                raise IntegrationError(f"google_health {method}: unexpected shape", permanent=True)
            yield from (p for p in points if isinstance(p, dict))
            # DailyRollUpDataPointsResponse (rev 20260527) has no nextPageToken, and the default
            # page (1440 points) exceeds a 90-day range; both requests take `pageToken`, so a
            # token, should one appear, is followed with all other fields unchanged.
            page_token = payload.get("nextPageToken")  # omitted: no further pages
            if not page_token:
                return
            body = {**body, "pageToken": str(page_token)}
        raise IntegrationError(f"google_health {method}: too many pages", permanent=False)

    def _sessions(
        self, token: TokenSet, first: date, last: date, rejected: list[str]
    ) -> list[WalkingSession]:
        # list `filter`: session types (exercise) only support
        # `exercise.interval.civil_start_time` with >= / < and AND; no exerciseType filter is
        # documented, so WALKING is selected client-side.
        flt = (
            f'exercise.interval.civil_start_time >= "{first.isoformat()}" AND '
            f'exercise.interval.civil_start_time < "{(last + timedelta(1)).isoformat()}"'
        )
        sessions: list[WalkingSession] = []
        for point in self._list(token, "exercise", flt, EXERCISE_PAGE_SIZE):
            exercise = point.get("exercise")
            if not isinstance(exercise, dict) or exercise.get("exerciseType") not in WALKING_TYPES:
                continue
            walk = read_or_note(point, self._walk, rejected, "google_health exercise", "name")
            if walk is not None:
                sessions.append(walk)
        return sessions

    def _walk(self, point: dict[str, Any]) -> WalkingSession:
        exercise = point["exercise"]
        # DataPoint.name: users/{user}/dataTypes/exercise/dataPoints/{exercise id}; `{user}`
        # may be `me` or the healthUserId, so only the id is kept.
        point_id = _last_segment(point["name"])
        if not point_id:
            raise ValueError("empty data point name")
        metrics = exercise.get("metricsSummary") or {}
        millimetres = as_distance(metrics.get("distanceMillimeters"))  # double
        return WalkingSession(
            external_id=f"google_health:{point_id}",
            start=parse_instant(exercise["interval"]["startTime"]),
            end=parse_instant(exercise["interval"]["endTime"]),
            steps=as_count(metrics["steps"]) if "steps" in metrics else None,
            distance_m=millimetres / 1000 if millimetres is not None else None,
            source=self.name,
        )

    def _list(
        self, token: TokenSet, data_type: str, flt: str, page_size: int
    ) -> Iterator[dict[str, Any]]:
        """GET dataPoints.list, following ListDataPointsResponse.nextPageToken as `pageToken`."""
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
            page_token = payload.get("nextPageToken")  # "empty if the response is complete"
            if not page_token:
                return
            params = {**params, "pageToken": str(page_token)}
        raise IntegrationError(f"google_health {data_type}: too many pages", permanent=False)

    def handle_webhook(
        self, *, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookResponse | list[WebhookEvent]:
        """Check the echoed Authorization secret; answer verification; list changed users.

        From the discovery document (projects.subscribers.create, EndpointAuthorization): the
        `Authorization` header carries the subscriber's secret verbatim (scheme included);
        verification is `{"type": "verification"}` POSTed twice, expecting 201 with the secret
        and 401/403 without it.

        Payloads are also ECDSA P-256 signed (EndpointAuthorization: `X-HEALTHAPI-SIGNATURE` in
        revision 20260527, `GOOGLE-HEALTH-API-SIGNATURE` in 20261030), to be verified "using
        Google Health API's public key". Google publishes no such key: not in the discovery
        document, the reference or the webhooks guide (developers asked on the Fitbit
        community forum, unanswered). Until it does, only the secret is checked; see
        README, "A wearable provider".
        """
        secret = self.require_webhook_secret()
        presented = header(headers, "Authorization")
        if presented is None:
            raise WebhookRejected("google_health: no Authorization", permanent=True, status=401)
        if not same_secret(presented, secret):
            raise WebhookRejected("google_health: wrong Authorization", permanent=True, status=403)
        payload = self.json_body(body)
        if isinstance(payload, dict) and payload.get("type") == "verification":
            return WebhookResponse(201, {})
        # The notification body is not in the discovery document; its shape (a JSON array of
        # {"data": {healthUserId, dataType, operation, intervals, ...}}) is the notes' version.
        if not isinstance(payload, list):
            raise WebhookRejected("google_health: unexpected body", permanent=True, status=400)
        events: list[WebhookEvent] = []
        for item in payload:
            data = item.get("data") if isinstance(item, dict) else None
            if not isinstance(data, dict):
                continue
            # Data types are kebab-case; Subscription.dataTypes spells them as resource names
            # (users/{id}/dataTypes/steps), so accept either form.
            data_type = _last_segment(data.get("dataType", ""))
            kind = {"steps": "daily", "exercise": "activity"}.get(data_type, data_type)
            user = data.get("healthUserId")
            events.append(
                WebhookEvent(str(user) if user else None, kind, body_event_id(self.name, data))
            )
        return events
