"""Google Health API v4 requests and responses, checked against the discovery document.

Method ids (googleapis/google-api-go-client health/v4/health-api.json, rev 20260527):
health.users.getIdentity, health.users.dataTypes.dataPoints.dailyRollUp and
health.users.dataTypes.dataPoints.list.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from integrations.wearables import PROVIDERS, IntegrationError, TokenSet, WearableProvider
from integrations.wearables.google_health import SCOPE_ACTIVITY
from tests.fakes.google_health import HEALTH_USER_ID, FakeGoogleHealth, google_error
from tests.integrations.wearables.conftest import TODAY, WEBHOOK_SECRET, link, make_provider

ROLLUP = "/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp"
EXERCISE = "/v4/users/me/dataTypes/exercise/dataPoints"


def linked(fake: FakeGoogleHealth) -> tuple[WearableProvider, TokenSet]:
    provider = make_provider("google_health", fake)
    return provider, link(provider)


def test_it_asks_for_the_activity_and_fitness_read_scope() -> None:
    with FakeGoogleHealth() as fake:
        _, token = linked(fake)
        [consent] = [r for r in fake.requests if r.path == "/o/oauth2/v2/auth"]
        assert consent.query["scope"] == SCOPE_ACTIVITY
        assert SCOPE_ACTIVITY == (
            "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly"
        )
        [identity] = fake.data_calls("/v4/users/me/identity")
        assert identity.method == "GET"
        assert token.provider_user_id == HEALTH_USER_ID


def test_it_posts_a_civil_closed_open_range_to_daily_roll_up() -> None:
    with FakeGoogleHealth() as fake:
        provider, token = linked(fake)
        provider.fetch(token, cursor=TODAY.isoformat(), tz=ZoneInfo("Asia/Kolkata"), today=TODAY)
        [call] = fake.data_calls(ROLLUP)
        assert call.method == "POST"
        assert call.json() == {
            "range": {
                "start": {"date": {"year": 2026, "month": 5, "day": 8}},
                "end": {"date": {"year": 2026, "month": 5, "day": 11}},  # exclusive
            },
            "windowSizeDays": 1,
        }
        # plain JSON ints, never zero-padded strings or a time zone
        assert b'"month": 5' in call.body
        assert b"timeZone" not in call.body
        assert b"utcOffset" not in call.body


def test_it_splits_daily_roll_up_at_the_90_day_maximum() -> None:
    with FakeGoogleHealth() as fake:
        provider, token = linked(fake)
        fake.exercise_page = 25  # full pages, as Google would serve
        result = provider.fetch(token, cursor=None, tz=ZoneInfo("UTC"), today=TODAY, max_days=120)
        spans = []
        for call in fake.data_calls(ROLLUP):
            body = call.json()["range"]
            start, end = (date(**body[k]["date"]) for k in ("start", "end"))
            spans.append((end - start).days)
        assert spans == [90, 30]
        assert [d.date for d in result.days] == [
            TODAY - timedelta(days=n) for n in range(119, -1, -1)
        ]
        assert result.rejected == []


def test_the_fake_refuses_a_range_google_would_refuse() -> None:
    with FakeGoogleHealth() as fake:
        _, token = linked(fake)
        headers = {"Authorization": f"Bearer {token.access_token}"}

        def post(body: dict[str, Any]) -> requests.Response:
            return requests.post(fake.base_url + ROLLUP, json=body, headers=headers, timeout=5)

        day = {"year": 2026, "month": 1, "day": 1}
        too_long = {"start": {"date": day}, "end": {"date": {**day, "month": 4, "day": 2}}}
        assert post({"range": too_long}).status_code == 400
        unaligned = {
            "start": {"date": day, "time": {"hours": 3}},
            "end": {"date": {**day, "day": 2}},
        }
        assert post({"range": unaligned}).status_code == 400
        assert post({"range": too_long, "timeZone": "UTC"}).status_code == 400
        ok = {"start": {"date": day}, "end": {"date": {**day, "day": 3}}}
        answer = post({"range": ok, "windowSizeDays": 1}).json()
        assert list(answer) == ["rollupDataPoints"]  # no nextPageToken in the response schema
        assert len(answer["rollupDataPoints"]) == 2


def test_it_reads_an_omitted_zero_and_skips_a_day_without_data() -> None:
    with FakeGoogleHealth() as fake:
        provider, token = linked(fake)
        fake.omit_zero_counts = True
        fake.revise_day(TODAY - timedelta(days=1), 0)
        fake.days_without_data.add(TODAY - timedelta(days=2))
        result = provider.fetch(token, cursor=TODAY.isoformat(), tz=ZoneInfo("UTC"), today=TODAY)
        assert {d.date: d.steps for d in result.days} == {
            TODAY - timedelta(days=1): 0,
            TODAY: fake.steps_for(TODAY),
        }
        assert result.rejected == []


def test_it_lists_exercise_by_civil_start_and_keeps_only_walks() -> None:
    with FakeGoogleHealth() as fake:
        provider, token = linked(fake)
        result = provider.fetch(token, cursor=TODAY.isoformat(), tz=ZoneInfo("UTC"), today=TODAY)
        calls = fake.data_calls(EXERCISE)
        assert {c.method for c in calls} == {"GET"}
        assert calls[0].query == {
            "filter": 'exercise.interval.civil_start_time >= "2026-05-08" AND '
            'exercise.interval.civil_start_time < "2026-05-11"',
            "pageSize": "25",
        }
        assert [c.query.get("pageToken") for c in calls[1:]] == ["2", "4"]
        assert all(int(c.query["pageSize"]) <= 25 for c in calls)
        assert len(result.sessions) == 3  # one walk a day; the runs are left out
        ids = {s.external_id for s in result.sessions}
        assert all(i.startswith("google_health:2026") and "/" not in i for i in ids)


def test_the_fake_refuses_a_physical_time_filter_on_exercise() -> None:
    with FakeGoogleHealth() as fake:
        _, token = linked(fake)
        answer = requests.get(
            fake.base_url + EXERCISE,
            params={
                "filter": 'exercise.interval.start_time >= "2026-05-01T00:00:00Z" AND '
                'exercise.interval.start_time < "2026-05-02T00:00:00Z"'
            },
            headers={"Authorization": f"Bearer {token.access_token}"},
            timeout=5,
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_it_keeps_the_exercise_id_whatever_the_user_segment() -> None:
    with FakeGoogleHealth() as fake:
        provider, token = linked(fake)
        result = provider.fetch(token, cursor=TODAY.isoformat(), tz=ZoneInfo("UTC"), today=TODAY)
        point = fake.exercise_points(TODAY)[0]
        exercise_id = point["name"].rsplit("/", 1)[1]
        assert f"google_health:{exercise_id}" in {s.external_id for s in result.sessions}


def test_it_names_the_error_info_reason() -> None:
    with FakeGoogleHealth() as fake:
        provider, token = linked(fake)

        def broken(request: Any) -> Any:
            return google_error(
                400, "Account not linked.", "FAILED_PRECONDITION", "ACCOUNT_NOT_LINKED"
            )

        fake.daily_roll_up = broken  # type: ignore[method-assign]
        with pytest.raises(IntegrationError) as caught:
            provider.fetch(token, cursor=None, tz=ZoneInfo("UTC"), today=TODAY)
        assert caught.value.permanent
        assert "FAILED_PRECONDITION ACCOUNT_NOT_LINKED" in str(caught.value)


def test_it_accepts_a_data_type_given_as_a_resource_name() -> None:
    provider = make_provider_offline()
    body = [
        {"data": {"healthUserId": "h1", "dataType": "users/h1/dataTypes/exercise"}},
        {"data": {"healthUserId": "h1", "dataType": "steps"}},
    ]
    events = provider.handle_webhook(
        method="POST",
        headers={"Authorization": WEBHOOK_SECRET},
        query={},
        body=json.dumps(body).encode(),
    )
    assert isinstance(events, list)
    assert [e.kind for e in events] == ["activity", "daily"]


def make_provider_offline() -> WearableProvider:
    return PROVIDERS["google_health"](
        client_id="c", client_secret="s", webhook_secret=WEBHOOK_SECRET
    )
