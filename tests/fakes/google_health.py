"""Fake Google Health API v4 plus Google's OAuth endpoints, in the constructed payload shapes.

Request and response shapes follow the public discovery document (googleapis/google-api-go-client
`health/v4/health-api.json`, rev 20260527): `health.users.getIdentity`,
`health.users.dataTypes.dataPoints.dailyRollUp`, `health.users.dataTypes.dataPoints.rollUp` and
`health.users.dataTypes.dataPoints.list`.
The OAuth token/revoke endpoints are outside that document and follow the shared notes.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.fakes.server import FakeProviderServer, FakeRequest, FakeResponse, load_payload

HEALTH_USER_ID = "AbC123xyz"
EXERCISE_PAGE = 2  # the fake pages early ("maximum" page size) so pagination gets exercised
EXERCISE_MAX_PAGE = 25  # list pageSize: "The maximum page size for `exercise` and `sleep` is 25."
ROLLUP_MAX_DAYS = 90  # DailyRollUpDataPointsRequest.range: 90 days for steps
ROLLUP_FIELDS = frozenset({"dataSourceFamily", "pageSize", "pageToken", "range", "windowSizeDays"})
PHYSICAL_ROLLUP_FIELDS = frozenset(
    {"dataSourceFamily", "pageSize", "pageToken", "range", "windowSize"}
)
ROLLUP_PAGE = 1440  # RollUpDataPointsRequest.pageSize: "at most 1440 data points" by default
_DURATION = re.compile(r"^(\d+)(?:\.\d+)?s$")  # google-duration: seconds with an `s`
DATA_SOURCE_FAMILIES = frozenset(
    f"users/me/dataSourceFamilies/{name}"
    for name in ("all-sources", "google-wearables", "google-sources")
)
# Session types accept only `{type}.interval.civil_start_time` with >= / <, joined by AND.
_CIVIL_TERM = re.compile(
    r'^exercise\.interval\.civil_start_time (>=|<) "(\d{4}-\d{2}-\d{2})(?:T\d{2}:\d{2}:\d{2})?"$'
)


def _date(civil: Any) -> date:
    """Return the date of a CivilDateTime request value (plain JSON ints only)."""
    parts = civil["date"]
    values = [parts["year"], parts["month"], parts["day"]]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError("Date fields must be integers")
    midnight = civil.get("time") or {}
    if any(midnight.get(k) for k in ("hours", "minutes", "seconds", "nanos")):
        raise ValueError("The start time must be aligned with the aggregation window")
    return date(*values)


def _instant(value: Any) -> datetime:
    """Parse an RFC 3339 timestamp (google-datetime); raise ValueError otherwise."""
    if not isinstance(value, str) or not value.endswith("Z"):
        raise ValueError(f"not an RFC 3339 UTC timestamp: {value!r}")
    return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _civil(day: date) -> dict[str, Any]:
    return {"date": {"year": day.year, "month": day.month, "day": day.day}, "time": {}}


def google_error(
    status: int, message: str, status_name: str, reason: str | None = None
) -> FakeResponse:
    """Google's JSON error envelope around a google.rpc.Status."""
    error: dict[str, Any] = {"code": status, "message": message, "status": status_name}
    if reason:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "health.googleapis.com",
            }
        ]
    return FakeResponse(status, {"error": error})


class FakeGoogleHealth(FakeProviderServer):
    """Google: dailyRollUp, rollUp, exercise list (25 max, descending), identity, revoke."""

    authorize_path = "/o/oauth2/v2/auth"
    token_path = "/token"

    def __init__(self) -> None:
        super().__init__()
        self.error_429 = load_payload("google_health_error_429.constructed.json")
        self.token_sample = load_payload("google_health_token_response.constructed.json")
        rollup = load_payload("google_health_steps_daily_rollup.constructed.json")
        self.rollup_template = rollup["_response"]["rollupDataPoints"][0]
        exercise = load_payload("google_health_exercise_list.constructed.json")
        self.exercise_template = exercise["_response"]["dataPoints"][0]
        self.revoked: list[str] = []
        self.exercise_page = EXERCISE_PAGE
        # proto3 JSON leaves out int64 zeros: `"steps": {}` instead of `{"countSum": "0"}`.
        self.omit_zero_counts = False
        self.days_without_data: set[date] = set()

    def token(self, request: FakeRequest) -> FakeResponse:
        """Google does not rotate: a refresh answer carries no refresh_token."""
        form = request.form()
        if form.get("grant_type") != "refresh_token":
            return super().token(request)
        if self._invalid_grant or form.get("refresh_token") not in self.refresh_tokens:
            return self.token_error(400, "invalid_grant")
        access, _ = self.issue_tokens()
        body = dict(self.token_sample["_response_refresh"], access_token=access)
        return FakeResponse(200, body)

    def token_response(self, access: str, refresh: str) -> FakeResponse:
        """Answer in the shape of the constructed Google token response."""
        body = dict(self.token_sample["_response_authorization_code"])
        body.update(access_token=access, refresh_token=refresh)
        body.pop("id_token", None)
        return FakeResponse(200, body)

    def token_error(self, status: int, error: str) -> FakeResponse:
        """Google's OAuth error body."""
        return FakeResponse(
            status, {"error": error, "error_description": "Token has been expired or revoked."}
        )

    def unauthorized(self) -> FakeResponse:
        """Google's 401 envelope."""
        return google_error(401, "INVALID_AUTHENTICATOR: token expired", "UNAUTHENTICATED")

    def rate_limit_body(self) -> Any:
        """The constructed 429 envelope."""
        return {"error": self.error_429["error"]}

    def server_error_body(self) -> Any:
        """Google's 500 envelope."""
        return {"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}

    def rollup_point(self, start: date, days: int) -> dict[str, Any]:
        """Return one DailyRollupDataPoint covering `days` civil days from `start`."""
        point = copy.deepcopy(self.rollup_template)
        point.update(civilStartTime=_civil(start), civilEndTime=_civil(start + timedelta(days)))
        window = [start + timedelta(n) for n in range(days)]
        total = sum(self.steps_for(d) for d in window if d not in self.days_without_data)
        point["steps"] = {"countSum": str(total)}
        if total == 0 and self.omit_zero_counts:
            point["steps"] = {}
        if all(d in self.days_without_data for d in window):
            del point["steps"]
        if any(d in self.corrupt_days for d in window):
            point["steps"] = {"countSum": "not-a-number"}
        return point

    def exercise_points(self, day: date) -> list[dict[str, Any]]:
        """Return a walk (08:02 local, +02:00) and, on even days, a run."""
        points = []
        kinds = ("WALKING", "RUNNING") if day.toordinal() % 2 == 0 else ("WALKING",)
        for n, kind in enumerate(kinds):
            point = copy.deepcopy(self.exercise_template)
            # DataPoint.name: users/{user}/dataTypes/exercise/dataPoints/{exercise id (a long)}
            exercise_id = 2026000000000000000 + day.toordinal() * 10 + n
            point["name"] = f"users/{HEALTH_USER_ID}/dataTypes/exercise/dataPoints/{exercise_id}"
            exercise = point["exercise"]
            exercise["exerciseType"] = kind
            interval = exercise["interval"]
            interval["startTime"] = f"{day.isoformat()}T06:02:00Z"
            interval["endTime"] = f"{day.isoformat()}T06:47:30Z"
            interval["civilStartTime"]["date"] = _civil(day)["date"]
            interval["civilEndTime"]["date"] = _civil(day)["date"]
            points.append(point)
        return points

    def daily_roll_up(self, request: FakeRequest) -> FakeResponse:
        """health.users.dataTypes.dataPoints.dailyRollUp for `steps`."""
        if request.method != "POST":
            return google_error(404, "Not found", "NOT_FOUND")
        try:
            body = request.json()
        except ValueError:
            return google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        if not isinstance(body, dict):
            return google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        unknown = sorted(set(body) - ROLLUP_FIELDS)
        if unknown:
            return google_error(
                400,
                f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.',
                "INVALID_ARGUMENT",
            )
        family = body.get("dataSourceFamily")
        if family is not None and family not in DATA_SOURCE_FAMILIES:
            return google_error(
                400,
                "Invalid data source family.",
                "INVALID_ARGUMENT",
                "INVALID_DATA_POINT_DATA_SOURCE_FAMILY",
            )
        window = body.get("windowSizeDays", 1)
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            return google_error(400, "Invalid windowSizeDays.", "INVALID_ARGUMENT")
        try:
            start, end = _date(body["range"]["start"]), _date(body["range"]["end"])
        except (KeyError, TypeError, ValueError) as exc:
            return google_error(400, f"Invalid range: {exc}", "INVALID_ARGUMENT")
        length = (end - start).days
        if length <= 0 or length > ROLLUP_MAX_DAYS:
            return google_error(400, "The range must span 1 to 90 days.", "INVALID_ARGUMENT")
        points = [
            self.rollup_point(start + timedelta(n), min(window, length - n))
            for n in range(0, length, window)
        ]
        # DailyRollUpDataPointsResponse has `rollupDataPoints` only (no nextPageToken).
        return FakeResponse(200, {"rollupDataPoints": points})

    def roll_up(self, request: FakeRequest) -> FakeResponse:
        """health.users.dataTypes.dataPoints.rollUp for `steps`: RollupDataPoint per window
        (`startTime`, `endTime`, `steps.countSum`) from the minutes set in `intraday`; a window
        without any has no `steps` value. Built from the discovery document's schemas (Google
        publishes no example)."""
        try:
            body = request.json()
            unknown = sorted(set(body) - PHYSICAL_ROLLUP_FIELDS)
            start = _instant(body["range"]["startTime"])
            end = _instant(body["range"]["endTime"])
            match = _DURATION.match(str(body["windowSize"]))
            offset = int(body.get("pageToken") or "0")
            size = min(int(body.get("pageSize") or ROLLUP_PAGE), 10000)
        except (AttributeError, KeyError, TypeError, ValueError):
            return google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        if unknown:
            return google_error(
                400,
                f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.',
                "INVALID_ARGUMENT",
            )
        if match is None or int(match.group(1)) < 1:
            return google_error(400, "Invalid windowSize.", "INVALID_ARGUMENT")
        if not start < end <= start + timedelta(days=ROLLUP_MAX_DAYS):
            return google_error(400, "The range must span up to 90 days.", "INVALID_ARGUMENT")
        window = timedelta(seconds=int(match.group(1)))
        points: list[dict[str, Any]] = []
        at = start
        while at < end:
            stop = min(at + window, end)  # the last window is truncated at the range's end
            point: dict[str, Any] = {"startTime": _rfc3339(at), "endTime": _rfc3339(stop)}
            minutes = self.minutes_between(at, stop)
            if minutes:
                point["steps"] = {"countSum": str(sum(n for _, n in minutes))}
            points.append(point)
            at = stop
        answer: dict[str, Any] = {"rollupDataPoints": points[offset : offset + size]}
        if offset + size < len(points):
            answer["nextPageToken"] = str(offset + size)
        return FakeResponse(200, answer)

    def list_exercise(self, request: FakeRequest) -> FakeResponse:
        """health.users.dataTypes.dataPoints.list for `exercise` (descending start time)."""
        if request.method != "GET":
            return google_error(404, "Not found", "NOT_FOUND")
        terms = request.query.get("filter", "").split(" AND ")
        bounds: dict[str, str] = {}
        for term in terms:
            match = _CIVIL_TERM.match(term.strip())
            if match is None or match.group(1) in bounds:
                return google_error(
                    400, "Invalid filter syntax.", "INVALID_ARGUMENT", "INVALID_DATA_POINT_FILTER"
                )
            bounds[match.group(1)] = match.group(2)
        if set(bounds) != {">=", "<"}:
            return google_error(
                400, "Invalid filter syntax.", "INVALID_ARGUMENT", "INVALID_DATA_POINT_FILTER"
            )
        try:
            requested = int(request.query.get("pageSize", str(EXERCISE_MAX_PAGE)))
            offset = int(request.query.get("pageToken") or "0")
        except ValueError:
            return google_error(400, "Invalid page size or token.", "INVALID_ARGUMENT")
        if requested < 0 or offset < 0:
            return google_error(400, "Invalid page size or token.", "INVALID_ARGUMENT")
        size = min(requested or EXERCISE_MAX_PAGE, EXERCISE_MAX_PAGE, self.exercise_page)
        start, end = date.fromisoformat(bounds[">="]), date.fromisoformat(bounds["<"])
        days = [end - timedelta(n + 1) for n in range((end - start).days)]  # descending
        points = [p for d in days for p in self.exercise_points(d)]
        page = points[offset : offset + size]
        answer: dict[str, Any] = {"dataPoints": page}
        if offset + size < len(points):
            answer["nextPageToken"] = str(offset + size)
        return FakeResponse(200, answer)

    def route(self, request: FakeRequest) -> FakeResponse:
        """Serve identity, dailyRollUp and exercise list."""
        if request.path == "/v4/users/me/identity" and request.method == "GET":
            # health.users.getIdentity -> Identity
            return FakeResponse(
                200,
                {
                    "name": "users/me/identity",
                    "healthUserId": HEALTH_USER_ID,
                    "legacyUserId": "26FWFL",
                },
            )
        if request.path == "/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp":
            return self.daily_roll_up(request)
        if request.path == "/v4/users/me/dataTypes/steps/dataPoints:rollUp":
            if request.method != "POST":
                return google_error(404, "Not found", "NOT_FOUND")
            return self.roll_up(request)
        if request.path == "/v4/users/me/dataTypes/exercise/dataPoints":
            return self.list_exercise(request)
        return google_error(404, "Not found", "NOT_FOUND")

    def public(self, request: FakeRequest) -> FakeResponse | None:
        """Serve revoke on the OAuth host (no bearer token)."""
        if request.path != "/revoke":
            return None
        with self._lock:
            self.revoked.append(request.form().get("token", ""))
            self.refresh_tokens.discard(request.form().get("token", ""))
        return FakeResponse(200, {})
