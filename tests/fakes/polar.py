"""Fake Polar AccessLink v3: Basic-auth token endpoint, /v3/users, activities, exercises.

Its activities and exercises start from the examples of Polar's reference pages
(tests/fixtures/payloads/polar_*.json), so they carry the documented fields and types."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.server import FakeProviderServer, FakeRequest, FakeResponse, load_payload

POLAR_USER_ID = 475
# Fields of the documented examples that AccessLink returns only when asked for them
# (`samples`, `zones`, `route` query parameters), which the adapter never does.
ON_REQUEST = ("samples", "heart_rate_zones", "route")


class FakePolar(FakeProviderServer):
    """Polar: users must be registered (POST /v3/users) before data endpoints answer."""

    authorize_path = "/oauth2/authorization"
    token_path = "/v2/oauth2/token"

    def __init__(self, *, today: date | None = None) -> None:
        """`today` is the test's clock (exercises list the last 30 days from it); without one,
        the real date, read once."""
        super().__init__()
        self.registered: set[str] = set()
        self.today = today or datetime.now(UTC).date()
        self.served_exercises: list[dict[str, Any]] | None = None  # instead of generated ones
        # The partner's counts in the response headers: (15-minute, 24-hour) limits, usage
        # and seconds until each window resets.
        self.limits = (500, 5000)
        self.usage = [0, 0]
        self.reset_s = (600, 80000)
        # AccessLink's activity times are the user's wall clock, without an offset: the fake
        # writes the step samples of `intraday` in this zone (the linked patient's).
        self.zone = ZoneInfo("UTC")

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Count the call and stamp every AccessLink answer with the rate-limit headers."""
        response = super().dispatch(request)
        if request.path.startswith("/v3/"):
            with self._lock:
                self.usage = [self.usage[0] + 1, self.usage[1] + 1]
                usage = ",".join(str(n) for n in self.usage)
            response.headers.update(
                {
                    "RateLimit-Usage": usage,
                    "RateLimit-Limit": ",".join(str(n) for n in self.limits),
                    "RateLimit-Reset": ",".join(str(n) for n in self.reset_s),
                }
            )
        return response

    def token(self, request: FakeRequest) -> FakeResponse:
        """The token endpoint takes only authorization codes ("grant_type: must be always value
        authorization_code")."""
        if request.form().get("grant_type") != "authorization_code":
            return self.token_error(400, "unsupported_grant_type")
        return super().token(request)

    def token_response(self, access: str, refresh: str) -> FakeResponse:
        """Polar's documented token answer: no refresh token, the user id as x_user_id."""
        return FakeResponse(
            200,
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": 31535999,
                "x_user_id": POLAR_USER_ID,
            },
        )

    def token_error(self, status: int, error: str) -> FakeResponse:
        """Polar's documented error answer carries only `error`."""
        return FakeResponse(status, {"error": error})

    def activity(self, day: date, *, steps: bool = False) -> dict[str, Any]:
        """One daily activity summary (local wall-clock times, no offset); with `steps` (the
        `steps=true` query parameter) its step samples: the minutes of `intraday` that fall
        on the day, one minute each, in the example's `samples.steps` shape."""
        [example] = load_payload("polar_users_activities.json")
        item: dict[str, Any] = {key: value for key, value in example.items() if key != "samples"}
        if steps:
            start = datetime.combine(day, datetime.min.time(), self.zone).astimezone(UTC)
            end = datetime.combine(day + timedelta(1), datetime.min.time(), self.zone)
            minutes = self.minutes_between(start, end.astimezone(UTC))
            samples = [
                {"steps": n, "timestamp": at.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M")}
                for at, n in minutes
            ]
            total = sum(n for _, n in minutes)
            item["samples"] = {
                "date": day.isoformat(),
                "steps": {"interval_ms": 60000, "total_steps": total, "samples": samples},
            }
        item.update(
            start_time=f"{day.isoformat()}T00:00:00",
            end_time=f"{day.isoformat()}T23:59:59",
            steps=self.steps_for(day),
            distance_from_steps=round(self.steps_for(day) * 0.72, 1),
        )
        if day in self.corrupt_days:
            item["steps"] = -40
        return item

    def exercise(self, day: date, sport: str, ident: str) -> dict[str, Any]:
        """One exercise summary: `sport` is the coarse family Polar reports ("OTHER" for most),
        the Flow sport is in `detailed_sport_info`."""
        [example] = load_payload("polar_exercises_list.json")
        item = {key: value for key, value in example.items() if key not in ON_REQUEST}
        for club in ("club_id", "club_name"):  # only for "Flow For Club" sessions
            item.pop(club)
        item.update(
            id=ident,
            upload_time=f"{day.isoformat()}T12:00:00.000Z",
            polar_user=f"https://www.polaraccesslink.com/v3/users/{POLAR_USER_ID}",
            device="Polar Ignite 3",
            start_time=f"{day.isoformat()}T08:30:00",
            start_time_utc_offset=120,
            duration="PT45M30S",
            calories=210,
            distance=3800.0,
            sport="RUNNING" if sport.startswith("RUNNING") else "OTHER",
            has_route=False,
            detailed_sport_info=sport,
        )
        return item

    def route(self, request: FakeRequest) -> FakeResponse:
        """Serve registration, activities, exercises and deregistration."""
        if request.path == "/v3/users" and request.method == "POST":
            member = request.json().get("member-id", "")
            if member in self.registered:
                return FakeResponse(409, {"error": "User already registered"})
            self.registered.add(member)
            return FakeResponse(200, {"polar-user-id": POLAR_USER_ID, "member-id": member})
        if request.path == f"/v3/users/{POLAR_USER_ID}" and request.method == "DELETE":
            self.registered.clear()
            return FakeResponse(204)
        if not self.registered:
            return FakeResponse(403, {"error": "User not registered"})
        if request.path == "/v3/users/activities":
            start = date.fromisoformat(request.query["from"])
            end = date.fromisoformat(request.query["to"])
            if (end - start).days >= 28:
                return FakeResponse(400, {"error": "Range too long"})
            steps = request.query.get("steps") == "true"
            days = [start + timedelta(n) for n in range((end - start).days + 1)]
            return FakeResponse(200, [self.activity(day, steps=steps) for day in days])
        if request.path == "/v3/exercises" and self.served_exercises is not None:
            return FakeResponse(200, self.served_exercises)
        if request.path == "/v3/exercises":
            items = []
            for n in range(30):
                day = self.today - timedelta(days=n)
                items.append(self.exercise(day, "WALKING", f"walk{day.toordinal()}"))
                if day.toordinal() % 2 == 0:
                    items.append(self.exercise(day, "RUNNING_ROAD", f"run{day.toordinal()}"))
            return FakeResponse(200, items)
        return FakeResponse(404, {"error": "Not found"})
