"""Fake Strava API v3: token endpoint with the athlete, /athlete/activities with walks."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.fakes.server import FakeProviderServer, FakeRequest, FakeResponse, load_payload

ATHLETE_ID = 134815


class FakeStrava(FakeProviderServer):
    """Strava: activities filtered by after/before epochs, paged by page/per_page."""

    authorize_path = "/oauth/authorize"
    token_path = "/oauth/token"

    def __init__(self) -> None:
        super().__init__()
        self.template = load_payload("strava_athlete_activities.json")[0]
        self.deauthorized: list[str] = []
        self.extra: list[dict[str, Any]] = []  # activities a test adds
        # The app's counts in Strava's response headers: (15-minute, daily) limits and usage.
        self.read_limits = (100, 1000)
        self.read_usage = [0, 0]

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Count the call and stamp every answer with the rate-limit headers, as Strava does."""
        response = super().dispatch(request)
        if request.path not in (self.authorize_path, self.token_path):
            with self._lock:
                self.read_usage = [self.read_usage[0] + 1, self.read_usage[1] + 1]
                usage = ",".join(str(n) for n in self.read_usage)
            limits = ",".join(str(n) for n in self.read_limits)
            overall = ",".join(str(2 * n) for n in self.read_limits)
            response.headers.update(
                {
                    "X-RateLimit-Limit": overall,
                    "X-RateLimit-Usage": usage,
                    "X-ReadRateLimit-Limit": limits,
                    "X-ReadRateLimit-Usage": usage,
                }
            )
        return response

    def token_response(self, access: str, refresh: str) -> FakeResponse:
        """Strava's token answer: expires_at epoch and the athlete."""
        now = datetime.now(UTC)
        return FakeResponse(
            200,
            {
                "token_type": "Bearer",
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": 21600,
                "expires_at": int(now.timestamp()) + 21600,
                "athlete": {"id": ATHLETE_ID, "resource_state": 2},
            },
        )

    def unauthorized(self) -> FakeResponse:
        """Strava's 401 fault."""
        return FakeResponse(
            401,
            {
                "message": "Authorization Error",
                "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
            },
        )

    def rate_limit_body(self) -> Any:
        """Strava's 429 fault."""
        return {
            "message": "Rate Limit Exceeded",
            "errors": [{"resource": "Application", "field": "rate limit", "code": "exceeded"}],
        }

    def activity(self, ident: int, sport: str, start: datetime) -> dict[str, Any]:
        """Return one SummaryActivity in the swagger example's shape."""
        item = copy.deepcopy(self.template)
        item.update(
            id=ident,
            name=f"{sport} {ident}",
            type=sport,
            sport_type=sport,
            start_date=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            start_date_local=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            elapsed_time=2700,
            moving_time=2500,
            distance=3100.0,
        )
        return item

    def activities_on(self, day: date) -> list[dict[str, Any]]:
        """A walk at 12:00 UTC every day and a ride on even days."""
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        items = [self.activity(day.toordinal() * 10, "Walk", noon)]
        if day in self.corrupt_days:
            items[0]["start_date"] = "yesterday-ish"
        if day.toordinal() % 2 == 0:
            items.append(self.activity(day.toordinal() * 10 + 1, "Ride", noon + timedelta(hours=3)))
        return items

    def public(self, request: FakeRequest) -> FakeResponse | None:
        """Serve /oauth/deauthorize (the token travels in the form)."""
        if request.path != "/oauth/deauthorize":
            return None
        self.deauthorized.append(request.form().get("access_token", ""))
        return FakeResponse(200, {"access_token": request.form().get("access_token")})

    def route(self, request: FakeRequest) -> FakeResponse:
        """Serve /athlete/activities."""
        if request.path != "/athlete/activities":
            return FakeResponse(404, {"message": "Record Not Found"})
        after = datetime.fromtimestamp(int(request.query["after"]), UTC)
        before = datetime.fromtimestamp(int(request.query["before"]), UTC)
        items = list(self.extra)
        day = after.date() - timedelta(days=1)
        while day <= before.date() + timedelta(days=1):
            items.extend(self.activities_on(day))
            day += timedelta(days=1)

        def started(item: dict[str, Any]) -> datetime | None:
            try:
                return datetime.fromisoformat(item["start_date"].replace("Z", "+00:00"))
            except ValueError:
                return None

        # A corrupt record is served whatever its time, as a broken provider would.
        chosen = [i for i in items if (s := started(i)) is None or after < s < before]
        per_page, page = int(request.query.get("per_page", 30)), int(request.query.get("page", 1))
        return FakeResponse(200, chosen[(page - 1) * per_page : page * per_page])
