"""Fake Garmin Health API: PKCE token endpoint, user id, ping callback URLs serving summaries."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tests.fakes.server import FakeProviderServer, FakeRequest, FakeResponse, load_payload

GARMIN_USER_ID = "4aacafe82427c251df9c9592d0c06768"


class FakeGarmin(FakeProviderServer):
    """Garmin: data only behind callback URLs it hands out in pings."""

    authorize_path = "/oauth2Confirm"
    token_path = "/di-oauth2-service/oauth/token"

    def __init__(self) -> None:
        super().__init__()
        # (summary type, start, end) of every backfill asked for; Garmin takes each once.
        self.backfills: list[tuple[str, int, int]] = []
        self.daily_template = load_payload("garmin_health_dailies_push.json")[0]
        self.activity_template = load_payload("garmin_health_activities_push.json")["activities"][0]
        self.epoch_template = load_payload("garmin_health_epochs_push.json")["epochs"][0]

    def daily(self, day: date) -> dict[str, Any]:
        """One daily summary for `day` (UTC+1 user, as in the sample)."""
        item = copy.deepcopy(self.daily_template)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=1)
        item.update(
            userId=GARMIN_USER_ID,
            summaryId=f"daily-{day.isoformat()}",
            calendarDate=day.isoformat(),
            steps=self.steps_for(day),
            startTimeInSeconds=int(midnight.timestamp()),
        )
        if day in self.corrupt_days:
            del item["steps"]
        return item

    def walk(self, day: date) -> dict[str, Any]:
        """One walking activity summary at 09:00 UTC."""
        item = copy.deepcopy(self.activity_template)
        start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        item.update(
            userId=GARMIN_USER_ID,
            summaryId=f"walk-{day.isoformat()}",
            activityType="WALKING",
            startTimeInSeconds=int(start.timestamp()),
            durationInSeconds=2400,
            distanceInMeters=2900.0,
        )
        return item

    def epochs(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The epoch summaries of [start, end): per quarter hour with minutes in `intraday`, a
        WALKING epoch (the sample's) holding its steps and a SEDENTARY one for the rest."""
        items = []
        quarter = timedelta(minutes=15)
        at = start
        while at < end:
            minutes = self.minutes_between(at, at + quarter)
            if minutes:
                walking = copy.deepcopy(self.epoch_template)
                walking.update(
                    userId=GARMIN_USER_ID,
                    summaryId=f"epoch-{int(at.timestamp())}-walk",
                    steps=sum(n for _, n in minutes),
                    durationInSeconds=60 * len(minutes),
                    startTimeInSeconds=int(at.timestamp()),
                    startTimeOffsetInSeconds=0,
                )
                items.append(walking)
                if len(minutes) < 15:
                    still = dict(walking, summaryId=f"epoch-{int(at.timestamp())}-still")
                    still.update(
                        activityType="SEDENTARY",
                        intensity="SEDENTARY",
                        steps=0,
                        activeKilocalories=0,
                        distanceInMeters=0.0,
                        durationInSeconds=900 - 60 * len(minutes),
                        activeTimeInSeconds=0,
                    )
                    items.append(still)
            at += quarter
        return items

    def callback_url(self, kind: str, first: date, last: date) -> str:
        """A pull URL for summaries uploaded for days first..last."""
        start = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())
        end = int(datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp()) + 86400
        query = urlencode(
            {
                "uploadStartTimeInSeconds": start,
                "uploadEndTimeInSeconds": end,
                "token": "pull-token-1",
            }
        )
        return f"{self.base_url}/wellness-api/rest/{kind}?{query}"

    def ping(self, kind: str, first: date, last: date) -> dict[str, Any]:
        """The body of a ping notification naming a callback URL."""
        return {
            kind: [{"userId": GARMIN_USER_ID, "callbackURL": self.callback_url(kind, first, last)}]
        }

    def route(self, request: FakeRequest) -> FakeResponse:
        """Serve the user id and the callback URLs."""
        if request.path == "/wellness-api/rest/user/id":
            return FakeResponse(200, {"userId": GARMIN_USER_ID})
        if request.path == "/wellness-api/rest/user/registration":
            return FakeResponse(204)
        if request.path.startswith("/wellness-api/rest/backfill/"):
            return self.backfill(request)
        if request.path in (
            "/wellness-api/rest/dailies",
            "/wellness-api/rest/epochs",
            "/wellness-api/rest/activities",
            "/wellness-api/rest/manuallyUpdatedActivities",
        ):
            start = datetime.fromtimestamp(int(request.query["uploadStartTimeInSeconds"]), UTC)
            end = datetime.fromtimestamp(int(request.query["uploadEndTimeInSeconds"]), UTC)
            if request.path.endswith("/epochs"):
                return FakeResponse(200, self.epochs(start, end))
            days = [start.date() + timedelta(n) for n in range((end - start).days)]
            make = self.daily if request.path.endswith("dailies") else self.walk
            return FakeResponse(200, [make(d) for d in days])
        return FakeResponse(404, {"errorMessage": "not found"})

    def backfill(self, request: FakeRequest) -> FakeResponse:
        """GET /wellness-api/rest/backfill/{type}: 202, or 400 beyond 90 days, 409 if repeated."""
        summary_type = request.path.rsplit("/", 1)[-1]
        start = int(request.query["summaryStartTimeInSeconds"])
        end = int(request.query["summaryEndTimeInSeconds"])
        if end <= start or end - start > 90 * 86400:
            return FakeResponse(400, {"errorMessage": "Invalid time range"})
        with self._lock:
            if any(kind == summary_type for kind, _, _ in self.backfills):
                return FakeResponse(409, {"errorMessage": "Duplicate backfill"})
            self.backfills.append((summary_type, start, end))
        return FakeResponse(202)
