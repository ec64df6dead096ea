"""The same faults, thrown by every polled provider's fake, end the same way in every adapter."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from integrations.wearables import (
    FetchResult,
    IntegrationError,
    RateLimited,
    ReauthRequired,
    TokenExpired,
)
from integrations.wearables.base import read_or_note
from tests.fakes.polar import FakePolar
from tests.integrations.wearables.conftest import TODAY, Linked, link, make_provider

TZ = ZoneInfo("Europe/Berlin")


def fetch(linked: Linked, cursor: str | None = None) -> FetchResult:
    """Fetch through the linked adapter for Berlin on TODAY."""
    return linked.provider.fetch(linked.token, cursor=cursor, tz=TZ, today=TODAY)


def test_it_fetches_one_record_per_day_and_session(linked: Linked) -> None:
    result = fetch(linked, cursor=(TODAY - timedelta(days=1)).isoformat())
    dates = [d.date for d in result.days]
    if linked.provider.name == "strava":
        assert dates == []
    else:
        assert dates == [TODAY - timedelta(days=n) for n in (3, 2, 1, 0)]
        assert all(d.steps == linked.fake.steps_for(d.date) for d in result.days)
        assert {d.source for d in result.days} == {linked.provider.name}
    ids = [s.external_id for s in result.sessions]
    assert len(ids) == 4  # one walk a day; runs and rides are left out
    assert len(ids) == len(set(ids))
    assert result.cursor == TODAY.isoformat()
    assert result.rejected == []


def test_it_rereads_lookback_days_from_the_cursor(linked: Linked) -> None:
    result = fetch(linked, cursor=TODAY.isoformat())
    if linked.provider.name != "strava":
        assert [d.date for d in result.days] == [TODAY - timedelta(days=n) for n in (2, 1, 0)]


def test_it_raises_rate_limited_with_retry_after(linked: Linked) -> None:
    linked.fake.rate_limit(retry_after=30)
    with pytest.raises(RateLimited) as caught:
        fetch(linked)
    assert caught.value.retry_after == 30
    assert caught.value.permanent is False


def test_it_sleeps_through_a_short_retry_after(linked: Linked) -> None:
    linked.fake.rate_limit(retry_after=0.1)
    result = fetch(linked, cursor=TODAY.isoformat())
    assert result.cursor == TODAY.isoformat()


def test_it_reports_an_expired_access_token(linked: Linked) -> None:
    linked.fake.expire_access_token()
    with pytest.raises(TokenExpired) as caught:
        fetch(linked)
    assert caught.value.status == 401
    assert caught.value.permanent is True
    assert linked.token.access_token not in str(caught.value)


def test_it_refreshes_then_fetches_again(refreshing: Linked) -> None:
    linked = refreshing
    linked.fake.expire_access_token()
    fresh = linked.provider.refresh(linked.token)
    assert fresh.access_token != linked.token.access_token
    result = linked.provider.fetch(fresh, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)
    assert result.cursor == TODAY.isoformat()


def test_it_rotates_refresh_tokens_and_the_old_one_dies(refreshing: Linked) -> None:
    linked = refreshing
    fresh = linked.provider.refresh(linked.token)
    assert fresh.refresh_token
    again = linked.provider.refresh(fresh)
    assert again.access_token not in (fresh.access_token, linked.token.access_token)
    if fresh.refresh_token != linked.token.refresh_token:  # a rotating provider
        with pytest.raises(ReauthRequired):
            linked.provider.refresh(linked.token)


def test_it_maps_invalid_grant_to_reauth_required(refreshing: Linked) -> None:
    linked = refreshing
    linked.fake.invalid_grant()
    with pytest.raises(ReauthRequired) as caught:
        linked.provider.refresh(linked.token)
    assert caught.value.permanent is True
    assert linked.token.refresh_token not in str(caught.value)


def test_it_asks_a_patient_to_link_again_where_tokens_cannot_be_refreshed() -> None:
    with FakePolar() as fake:
        provider = make_provider("polar", fake)
        token = link(provider)
        assert token.refresh_token is None  # Polar's token answer documents none
        fake.expire_access_token()
        with pytest.raises(ReauthRequired) as caught:
            provider.refresh(token)
        assert caught.value.permanent is True
        assert [r.path for r in fake.requests].count("/v2/oauth2/token") == 1  # the exchange


def test_it_retries_a_500_and_succeeds(linked: Linked) -> None:
    linked.fake.fail_500(times=1)
    result = fetch(linked, cursor=TODAY.isoformat())
    assert result.cursor == TODAY.isoformat()


def test_it_gives_up_on_repeated_500_with_a_retryable_error(linked: Linked) -> None:
    linked.fake.fail_500(times=50)
    before = len(linked.fake.requests)
    with pytest.raises(IntegrationError) as caught:
        fetch(linked)
    assert caught.value.permanent is False
    assert caught.value.status == 500
    assert len(linked.fake.requests) - before == 3  # first try + max_retries


def test_it_times_out_on_a_slow_provider_as_retryable(linked: Linked) -> None:
    provider = make_provider(linked.provider.name, linked.fake, timeout=0.15)
    linked.fake.slow(0.6, times=3)
    started = time.monotonic()
    with pytest.raises(IntegrationError) as caught:
        provider.fetch(linked.token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)
    assert caught.value.permanent is False
    assert "timed out" in str(caught.value)
    assert time.monotonic() - started < 3


def test_it_refuses_a_malformed_body_without_crashing(linked: Linked) -> None:
    linked.fake.malformed_body()
    with pytest.raises(IntegrationError) as caught:
        fetch(linked)
    assert caught.value.permanent is True


def test_it_quarantines_a_malformed_day_and_keeps_the_rest(linked: Linked) -> None:
    bad = TODAY - timedelta(days=1)
    linked.fake.corrupt_day(bad)
    result = fetch(linked, cursor=TODAY.isoformat())
    assert len(result.rejected) == 1
    # The line names the provider and the record, then says why (for the connection's log).
    assert result.rejected[0].startswith(f"{linked.provider.name} ")
    assert ": " in result.rejected[0]
    if linked.provider.name == "strava":  # sessions only: the corrupt walk is the one dropped
        assert len(result.sessions) == 2
    else:
        assert [d.date for d in result.days] == [TODAY - timedelta(days=2), TODAY]


def test_it_returns_the_revised_value_on_the_next_fetch(linked: Linked) -> None:
    day = TODAY - timedelta(days=1)
    first = fetch(linked, cursor=TODAY.isoformat())
    linked.fake.revise_day(day, 12345)
    second = fetch(linked, cursor=first.cursor)
    if linked.provider.name != "strava":
        assert {d.date: d.steps for d in second.days}[day] == 12345
        assert {d.date: d.steps for d in first.days}[day] != 12345


def test_an_unreadable_item_is_named_and_why_without_raising() -> None:
    rejected: list[str] = []

    def read(item: dict[str, Any]) -> int:
        return int(item["steps"])

    assert read_or_note({"id": " 42 ", "steps": "12"}, read, rejected, "x walk", "id") == 12
    assert read_or_note({"id": " 42 ", "steps": "many"}, read, rejected, "x walk", "id") is None
    assert read_or_note(["not", "an", "object"], read, rejected, "x walk", "id") is None
    assert rejected[0].startswith("x walk 42: invalid literal")
    assert rejected[1].startswith("x walk ?: ")
    assert len(rejected) == 2
