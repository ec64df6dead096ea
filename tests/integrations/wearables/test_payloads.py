"""Every published (or constructed) provider payload sample parses through its adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from integrations.wearables import PROVIDERS, RateLimited, TokenSet, WearableProvider
from integrations.wearables.garmin import GarminProvider
from tests.fakes.server import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeProviderServer,
    FakeRequest,
    FakeResponse,
    load_payload,
)
from tests.integrations.wearables.conftest import WEBHOOK_SECRET

TOKEN = TokenSet("sample-access", "sample-refresh", None)


class Verbatim(FakeProviderServer):
    """Answers each path with a stored sample, untouched (or with what a function of the
    request picks, for APIs that multiplex one path)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        super().__init__()
        self.answers = answers
        self.access_tokens.add(TOKEN.access_token)

    def route(self, request: FakeRequest) -> FakeResponse:
        answer = self.answers[request.path]
        status, body = answer(request) if callable(answer) else answer
        return FakeResponse(status, body)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start a verbatim fake and build the named adapter against it."""
    fakes: list[Verbatim] = []

    def start(name: str, answers: dict[str, Any]) -> WearableProvider:
        fake = Verbatim(answers).start()
        fakes.append(fake)
        return PROVIDERS[name](
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            base_url=fake.base_url,
            webhook_secret=WEBHOOK_SECRET,
        )

    yield start
    for fake in fakes:
        fake.stop()


def test_it_parses_the_google_health_rollup_and_exercise_samples(serve: Any) -> None:
    rollup = load_payload("google_health_steps_daily_rollup.constructed.json")["_response"]
    exercise = load_payload("google_health_exercise_list.constructed.json")["_response"]
    exercise.pop("nextPageToken")  # the sample's token is a placeholder text
    provider = serve(
        "google_health",
        {
            "/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp": (200, rollup),
            "/v4/users/me/dataTypes/steps/dataPoints:rollUp": (200, {"rollupDataPoints": []}),
            "/v4/users/me/dataTypes/exercise/dataPoints": (200, exercise),
        },
    )
    result = provider.fetch(
        TOKEN,
        cursor="2026-05-02",
        tz=ZoneInfo("Europe/Berlin"),
        today=date(2026, 5, 2),
        lookback_days=2,
    )
    assert [(d.date, d.steps) for d in result.days] == [
        (date(2026, 5, 1), 8432),
        (date(2026, 5, 2), 0),
    ]
    [walk] = result.sessions
    assert walk.start == datetime(2026, 5, 1, 6, 2, tzinfo=UTC)
    assert (walk.steps, walk.distance_m) == (4875, 3620.0)
    assert result.rejected == []


def test_it_parses_the_google_health_quarter_hour_rollup_sample(serve: Any) -> None:
    sample = load_payload("google_health_steps_rollup.constructed.json")
    provider = serve(
        "google_health",
        {
            "/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp": (200, {}),
            "/v4/users/me/dataTypes/steps/dataPoints:rollUp": (200, sample["_response"]),
            "/v4/users/me/dataTypes/exercise/dataPoints": (200, {}),
        },
    )
    result = provider.fetch(TOKEN, cursor="2026-05-01", tz=ZoneInfo("UTC"), today=date(2026, 5, 1))
    at = datetime(2026, 5, 1, 7, tzinfo=UTC)
    assert [(c.start, c.minutes, c.steps) for c in result.intraday] == [
        (at, 15, 412),
        (at + timedelta(minutes=15), 15, 0),  # `"steps": {}`: a zero proto3 JSON left out
        (at + timedelta(minutes=45), 15, 1288),  # the window without `steps` has no data
    ]
    assert result.rejected == []


def test_it_reads_the_google_health_429_sample_as_rate_limited(serve: Any) -> None:
    body = load_payload("google_health_error_429.constructed.json")
    provider = serve(
        "google_health",
        {
            "/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp": (429, {"error": body["error"]}),
        },
    )
    with pytest.raises(RateLimited) as caught:
        provider.fetch(TOKEN, cursor=None, tz=ZoneInfo("UTC"), today=date(2026, 5, 2))
    assert "RESOURCE_EXHAUSTED" in str(caught.value)


def test_it_parses_the_google_health_token_sample() -> None:
    sample = load_payload("google_health_token_response.constructed.json")
    provider = PROVIDERS["google_health"](client_id="c", client_secret="s")
    first = provider.token_from_payload(sample["_response_authorization_code"], previous=None)
    again = provider.token_from_payload(sample["_response_refresh"], previous=first)
    assert first.refresh_token == "1//0example-refresh-token"
    assert again.refresh_token == first.refresh_token  # Google sends none back: keep the old one
    assert again.access_token == "ya29.a0AfB_example2"
    assert again.expires_within(3600)
    assert not again.expires_within(60)


def test_it_parses_the_oura_samples(serve: Any) -> None:
    provider = serve(
        "oura",
        {
            "/v2/usercollection/daily_activity": (
                200,
                load_payload("oura_v2_usercollection_daily_activity.json"),
            ),
            "/v2/usercollection/workout": (
                200,
                load_payload("oura_v2_usercollection_workout.json"),
            ),
        },
    )
    result = provider.fetch(
        TOKEN, cursor=None, tz=ZoneInfo("Europe/Amsterdam"), today=date(2024, 11, 12), max_days=40
    )
    assert (result.days[0].date, result.days[0].steps) == (date(2024, 11, 11), 15185)
    assert result.days[0].distance_m == 17850
    walks = load_payload("oura_v2_usercollection_workout.json")["data"]
    in_window = [w for w in walks if w["activity"] == "walking" and w["day"] >= "2024-10-04"]
    assert len(result.sessions) == len(in_window)
    assert result.rejected == []


def test_it_parses_the_withings_getactivity_sample(serve: Any) -> None:
    def measure(request: FakeRequest) -> tuple[int, Any]:
        if request.form()["action"] == "getactivity":
            return 200, load_payload("withings_measure_getactivity.json")
        return 200, {"status": 0, "body": {"series": [], "more": False, "offset": 0}}

    provider = serve("withings", {"/v2/measure": measure})
    result = provider.fetch(
        TOKEN, cursor="2015-06-20", tz=ZoneInfo("America/Los_Angeles"), today=date(2015, 6, 20)
    )
    assert [(d.date, d.steps) for d in result.days] == [
        (date(2015, 6, 18), 2934),
        (date(2015, 6, 19), 2600),
        (date(2015, 6, 20), 5458),
    ]
    assert result.days[0].active_minutes == 9  # moderate 540 s + intense 0 s
    assert result.rejected == []


def test_it_parses_the_withings_getintradayactivity_sample(serve: Any) -> None:
    def measure(request: FakeRequest) -> tuple[int, Any]:
        if request.form()["action"] == "getintradayactivity":
            return 200, load_payload("withings_measure_getintradayactivity.json")
        return 200, {"status": 0, "body": {"series": [], "activities": [], "more": False}}

    provider = serve("withings", {"/v2/measure": measure})
    result = provider.fetch(
        TOKEN, cursor="2015-06-19", tz=ZoneInfo("America/Los_Angeles"), today=date(2015, 6, 19)
    )
    # Intervals with steps, a minute each; the two stretches without steps are left out. The
    # sample answers every day's call: its minutes are kept once, on the day they fall in.
    assert [(c.start.timestamp(), c.minutes, c.steps) for c in result.intraday] == [
        (1434758640, 1, 21),
        (1434760140, 1, 47),
        (1434760200, 1, 20),
        (1434760860, 1, 74),
    ]
    assert result.rejected == []


def test_it_parses_the_withings_token_sample() -> None:
    provider = PROVIDERS["withings"](client_id="c", client_secret="s")
    body = load_payload("withings_oauth2_requesttoken.json")["body"]
    token = provider.token_from_payload(body, previous=None)
    assert token.provider_user_id == "12345678"
    assert token.scopes == ("user.activity", "user.sleepevents", "user.metrics")


def test_it_parses_the_strava_sample_and_keeps_no_rides(serve: Any) -> None:
    provider = serve(
        "strava", {"/athlete/activities": (200, load_payload("strava_athlete_activities.json"))}
    )
    result = provider.fetch(
        TOKEN, cursor=None, tz=ZoneInfo("America/Los_Angeles"), today=date(2018, 5, 2)
    )
    assert result.sessions == []
    assert result.days == []
    assert result.rejected == []


def garmin() -> GarminProvider:
    return GarminProvider(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_secret=WEBHOOK_SECRET
    )


def test_it_parses_the_garmin_dailies_push_sample() -> None:
    body = json.dumps(load_payload("garmin_health_dailies_push.json")).encode()
    [event] = garmin().handle_webhook(
        method="POST", headers={}, query={"secret": WEBHOOK_SECRET}, body=body
    )
    assert event.kind == "daily"
    assert [(d.date, d.steps, d.distance_m) for d in event.days] == [
        (date(2016, 1, 11), 4210, 3146.5)
    ]


def test_it_parses_the_garmin_activities_push_sample() -> None:
    body = json.dumps(load_payload("garmin_health_activities_push.json")).encode()
    [event] = garmin().handle_webhook(
        method="POST", headers={}, query={"secret": WEBHOOK_SECRET}, body=body
    )
    assert event.provider_user_id == "4aacafe82427c251df9c9592d0c06768"
    assert event.kind == "activity"
    assert event.sessions == []  # a run and a ride: no walks


def test_it_parses_the_garmin_epochs_push_sample() -> None:
    body = json.dumps(load_payload("garmin_health_epochs_push.json")).encode()
    [event] = garmin().handle_webhook(
        method="POST", headers={}, query={"secret": WEBHOOK_SECRET}, body=body
    )
    assert (event.provider_user_id, event.kind) == ("sub-1", "intraday")
    assert [(c.start, c.minutes, c.steps) for c in event.intraday] == [
        (datetime.fromtimestamp(1519679700, UTC), 14, 93)  # 840 s
    ]


def test_it_parses_the_polar_activity_sample_with_step_samples(serve: Any) -> None:
    activities = load_payload("polar_users_activities.json")
    provider = serve(
        "polar", {"/v3/users/activities": (200, activities), "/v3/exercises": (200, [])}
    )
    zone = ZoneInfo("Europe/Helsinki")
    result = provider.fetch(TOKEN, cursor="2025-08-13", tz=zone, today=date(2025, 8, 13))
    assert [(d.date, d.steps) for d in result.days] == [(date(2025, 8, 13), 8823)]
    # One sample, `interval_ms` 0: a minute; its wall-clock time read in the patient's zone.
    start = datetime(2025, 8, 14, 0, 2, tzinfo=zone).astimezone(UTC)
    assert [(c.start, c.minutes, c.steps) for c in result.intraday] == [(start, 1, 0)]
    assert result.rejected == []


def test_it_parses_the_garmin_ping_sample_into_a_pull() -> None:
    body = json.dumps(load_payload("garmin_health_ping_notification.json")).encode()
    [event] = garmin().handle_webhook(
        method="POST", headers={}, query={"secret": WEBHOOK_SECRET}, body=body
    )
    assert event.provider_user_id == "9876543210"
    assert event.pull == [
        "https://apis.garmin.com/wellness-api/rest/activities?uploadStartTimeInSeconds=1234567890&uploadEndTimeInSeconds=1234567900&token=XXXXX"
    ]
    assert event.days == []


def test_it_parses_the_google_health_webhook_sample() -> None:
    sample = load_payload("google_health_webhook_notification.constructed.json")
    provider = PROVIDERS["google_health"](
        client_id="c", client_secret="s", webhook_secret="Bearer R4nd0m5tr1ng123"
    )
    events = provider.handle_webhook(
        method="POST",
        headers={"Authorization": "Bearer R4nd0m5tr1ng123"},
        query={},
        body=json.dumps(sample["_notification_body"]).encode(),
    )
    assert isinstance(events, list)
    assert [(e.provider_user_id, e.kind) for e in events] == [
        ("AbC123xyz", "daily"),
        ("AbC123xyz", "activity"),
    ]
    assert len({e.event_id for e in events}) == 2
