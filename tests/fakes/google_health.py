"""Fake Google Health API v4 plus Google's OAuth endpoints, in the constructed payload shapes."""

from __future__ import annotations

import copy
import re
from datetime import date, timedelta
from typing import Any

from tests.fakes.server import FakeProviderServer, FakeRequest, FakeResponse, load_payload

HEALTH_USER_ID = "AbC123xyz"
EXERCISE_PAGE = 2
_CIVIL = re.compile(r'civil_start_time (>=|<) "(\d{4}-\d{2}-\d{2})"')


def _date(civil: dict[str, Any]) -> date:
    parts = civil["date"]
    return date(parts["year"], parts["month"], parts["day"])


def _civil(day: date) -> dict[str, Any]:
    return {"date": {"year": day.year, "month": day.month, "day": day.day}, "time": {}}


class FakeGoogleHealth(FakeProviderServer):
    """Google: dailyRollUp, exercise list (25 max, descending), identity, revoke."""

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
        return FakeResponse(
            401,
            {
                "error": {
                    "code": 401,
                    "message": "INVALID_AUTHENTICATOR: token expired",
                    "status": "UNAUTHENTICATED",
                }
            },
        )

    def rate_limit_body(self) -> Any:
        """The constructed 429 envelope."""
        return {"error": self.error_429["error"]}

    def server_error_body(self) -> Any:
        """Google's 500 envelope."""
        return {"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}

    def rollup_point(self, day: date) -> dict[str, Any]:
        """Return one DailyRollupDataPoint."""
        point = copy.deepcopy(self.rollup_template)
        point.update(civilStartTime=_civil(day), civilEndTime=_civil(day + timedelta(1)))
        point["steps"] = {"countSum": str(self.steps_for(day))}
        if day in self.corrupt_days:
            point["steps"] = {"countSum": "not-a-number"}
        return point

    def exercise_points(self, day: date) -> list[dict[str, Any]]:
        """Return a walk (08:02 local, +02:00) and, on even days, a run."""
        points = []
        for kind in ("WALKING", "RUNNING") if day.toordinal() % 2 == 0 else ("WALKING",):
            point = copy.deepcopy(self.exercise_template)
            point["name"] = f"users/me/dataTypes/exercise/dataPoints/{kind}{day.toordinal()}"
            exercise = point["exercise"]
            exercise["exerciseType"] = kind
            interval = exercise["interval"]
            interval["startTime"] = f"{day.isoformat()}T06:02:00Z"
            interval["endTime"] = f"{day.isoformat()}T06:47:30Z"
            interval["civilStartTime"]["date"] = _civil(day)["date"]
            interval["civilEndTime"]["date"] = _civil(day)["date"]
            points.append(point)
        return points

    def route(self, request: FakeRequest) -> FakeResponse:
        """Serve identity, dailyRollUp, exercise list and revoke."""
        if request.path == "/v4/users/me/identity":
            return FakeResponse(
                200,
                {
                    "name": "users/me/identity",
                    "healthUserId": HEALTH_USER_ID,
                    "legacyUserId": "26FWFL",
                },
            )
        if request.path == "/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp":
            body = request.json()
            start, end = _date(body["range"]["start"]), _date(body["range"]["end"])
            points = [self.rollup_point(start + timedelta(n)) for n in range((end - start).days)]
            return FakeResponse(200, {"rollupDataPoints": points})
        if request.path == "/v4/users/me/dataTypes/exercise/dataPoints":
            bounds = dict(_CIVIL.findall(request.query.get("filter", "")))
            if set(bounds) != {">=", "<"}:
                return FakeResponse(
                    400,
                    {
                        "error": {
                            "code": 400,
                            "message": "Invalid filter syntax.",
                            "status": "INVALID_ARGUMENT",
                        }
                    },
                )
            start, end = date.fromisoformat(bounds[">="]), date.fromisoformat(bounds["<"])
            days = [end - timedelta(n + 1) for n in range((end - start).days)]  # descending
            points = [p for d in days for p in self.exercise_points(d)]
            offset = int(request.query.get("pageToken", "0"))
            page = points[offset : offset + EXERCISE_PAGE]
            answer: dict[str, Any] = {"dataPoints": page}
            if offset + EXERCISE_PAGE < len(points):
                answer["nextPageToken"] = str(offset + EXERCISE_PAGE)
            return FakeResponse(200, answer)
        return FakeResponse(
            404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}}
        )

    def public(self, request: FakeRequest) -> FakeResponse | None:
        """Serve revoke on the OAuth host (no bearer token)."""
        if request.path != "/revoke":
            return None
        with self._lock:
            self.revoked.append(request.form().get("token", ""))
            self.refresh_tokens.discard(request.form().get("token", ""))
        return FakeResponse(200, {})
