"""Request budgets: limits-backed windows in memory and Redis, and the HttpClient honouring them."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from integrations.budget import RateBudget, budget_rules, parse_limits
from integrations.http import BudgetExhausted, HttpClient, charged_to
from integrations.wearables import PROVIDERS, TokenSet
from integrations.wearables.oura import OuraProvider
from tests.fakes.oura import FakeOura
from tests.fakes.server import CLIENT_ID, CLIENT_SECRET, FakeProviderServer, FakeRequest
from tests.fakes.server import FakeResponse as Answer

PROVIDER_QUOTAS = {name: adapter.quota for name, adapter in PROVIDERS.items()}
REDIS_URL = os.environ.get("BUDGET_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class Open(FakeProviderServer):
    """Answers every call with 200 and counts nothing but the recorded requests."""

    def is_authorized(self, request: FakeRequest) -> bool:
        return True

    def route(self, request: FakeRequest) -> Answer:
        return Answer(200, {"ok": True})


@pytest.fixture
def open_fake() -> Iterator[Open]:
    with Open() as fake:
        yield fake


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of our own on the test Redis; its keys (only) are deleted afterwards."""
    prefix = f"backstride-test-budget-{os.getpid()}-{secrets.token_hex(4)}"
    yield prefix
    RateBudget({}, storage_uri=REDIS_URL, key_prefix=prefix).storage.reset()


def test_it_spends_a_window_then_says_when_it_frees() -> None:
    budget = RateBudget({"oura:app": "3/minute"})

    assert [budget.acquire("oura:app") for _ in range(3)] == [None, None, None]
    wait = budget.acquire("oura:app")

    assert wait is not None
    assert 55 <= wait <= 61.5  # the minute, plus the one-second guard


def test_it_keeps_users_apart_and_leaves_unknown_scopes_unlimited() -> None:
    budget = RateBudget({"oura:user": "1/minute", "strava:app": ""})

    assert budget.acquire("oura:user:a") is None
    assert budget.acquire("oura:user:a") is not None
    assert budget.acquire("oura:user:b") is None  # another user's budget is untouched
    assert all(budget.acquire("oura:app") is None for _ in range(50))
    assert all(budget.acquire("strava:app") is None for _ in range(50))


def test_it_tests_every_limit_before_spending_any() -> None:
    clock = [1000.0]
    budget = RateBudget({"x:app": "2/second;3/minute"}, clock=lambda: clock[0])
    assert budget.acquire("x:app") is None
    assert budget.acquire("x:app") is None

    short = budget.acquire("x:app")  # the per-second limit refuses; the minute is not spent
    assert short is not None
    assert short <= 2.0  # a second, plus the guard
    clock[0] += short - 0.01
    assert budget.acquire("x:app") is not None  # not yet free
    clock[0] += 0.02
    assert budget.acquire("x:app") is None  # the minute's third request
    long = budget.acquire("x:app")
    assert long is not None
    assert long > 50


def test_it_shares_one_budget_between_threads() -> None:
    budget = RateBudget({"x:app": "50/minute"})
    granted: list[bool] = []
    start = threading.Barrier(8)

    def spend() -> None:
        start.wait()
        for _ in range(20):
            granted.append(budget.acquire("x:app") is None)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(granted) == 160
    assert sum(granted) == 50


def test_it_shares_a_redis_budget_between_instances(redis_prefix: str) -> None:
    first = RateBudget({"x:app": "4/minute"}, storage_uri=REDIS_URL, key_prefix=redis_prefix)
    second = RateBudget({"x:app": "4/minute"}, storage_uri=REDIS_URL, key_prefix=redis_prefix)
    other = RateBudget({"x:app": "4/minute"}, storage_uri=REDIS_URL, key_prefix=redis_prefix + "-b")

    assert first.acquire("x:app") is None
    assert first.acquire("x:app") is None
    assert second.acquire("x:app") is None
    assert second.acquire("x:app") is None
    assert first.acquire("x:app") is not None
    assert second.acquire("x:app") is not None
    assert other.acquire("x:app") is None  # another prefix is another deployment
    other.storage.reset()


def test_it_lets_calls_through_when_the_storage_is_down(caplog: pytest.LogCaptureFixture) -> None:
    budget = RateBudget({"x:app": "1/minute"}, storage_uri="redis://127.0.0.1:1/0")

    with caplog.at_level(logging.WARNING, logger="integrations.budget"):
        assert budget.acquire("x:app") is None

    assert "not enforcing x:app" in caplog.text


def test_it_uses_an_approximate_counter_for_huge_quotas() -> None:
    budget = RateBudget({"google_health:app": "120000/minute;86400000/day"})

    assert all(budget.acquire("google_health:app") is None for _ in range(1000))
    # O(1) memory: no per-request timestamps kept for the huge windows.
    assert not budget.storage.events  # type: ignore[attr-defined]


def test_it_parses_every_documented_default() -> None:
    for name, quota in PROVIDER_QUOTAS.items():
        for text in (quota.app, quota.user):
            assert parse_limits(text) or text == "", name
    assert [(i.amount, i.get_expiry()) for i in parse_limits("100 per 15 minutes;1000/day")] == [
        (100, 900),
        (1000, 86400),
    ]
    assert parse_limits("none") == ()
    with pytest.raises(ValueError, match="couldn't parse"):
        parse_limits("lots")


def test_it_lays_overrides_over_the_documented_defaults() -> None:
    quotas = {name: PROVIDER_QUOTAS[name] for name in ("oura", "strava", "polar")}
    rules = budget_rules(quotas, {"oura": "10/minute", "strava": "none"}, {})

    assert rules["oura:app"] == "10/minute"
    assert rules["oura:user"] == PROVIDER_QUOTAS["oura"].user
    assert rules["strava:app"] == "none"
    assert rules["polar:app"] == PROVIDER_QUOTAS["polar"].app
    assert RateBudget(rules).limits_for("strava:app") == ()


def test_it_paces_a_client_through_a_short_wait(open_fake: Open) -> None:
    budget = RateBudget({"x:app": "2/second"})
    client = HttpClient(open_fake.base_url, timeout=2, budget=budget, budget_key="x:app")
    started = time.monotonic()

    for _ in range(3):
        assert client.json("GET", "/ok") == {"ok": True}

    assert time.monotonic() - started >= 1.9  # the third call waited for the (guarded) window
    assert len(open_fake.requests) == 3


def test_it_refuses_without_sending_when_the_wait_is_long(open_fake: Open) -> None:
    budget = RateBudget({"x:app": "1/minute"})
    client = HttpClient(open_fake.base_url, timeout=2, budget=budget, budget_key="x:app")
    client.json("GET", "/ok")

    with pytest.raises(BudgetExhausted) as caught:
        client.json("GET", "/ok")

    assert caught.value.scope == "app"
    assert caught.value.key == "x:app"
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 50
    assert not caught.value.permanent
    assert len(open_fake.requests) == 1
    # Unbudgeted calls (token endpoints) are never held back.
    assert client.json("GET", "/ok", budgeted=False) == {"ok": True}


def test_it_charges_the_callers_key_first(open_fake: Open) -> None:
    budget = RateBudget({"x:app": "3/minute", "x:user": "1/minute"})
    client = HttpClient(open_fake.base_url, timeout=2, budget=budget, budget_key="x:app")

    with charged_to("x:user:a"):
        client.json("GET", "/ok")
        with pytest.raises(BudgetExhausted) as caught:
            client.json("GET", "/ok")
    assert caught.value.scope == "user"
    assert caught.value.key == "x:user:a"
    # The refused call did not spend the app's budget: two more calls (from other users) fit.
    with charged_to("x:user:b"):
        client.json("GET", "/ok")
    client.json("GET", "/ok")
    assert len(open_fake.requests) == 3


def test_it_keeps_the_token_endpoint_out_of_the_budget() -> None:
    budget = RateBudget({"oura:app": "2/minute"})
    with FakeOura() as fake:
        provider = OuraProvider(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            base_url=fake.base_url,
            budget=budget,
        )
        access, refresh = fake.issue_tokens()
        token = TokenSet(access, refresh, None, provider_user_id="u-1")
        budget.acquire("oura:app")
        budget.acquire("oura:app")

        refreshed = provider.refresh(token)  # the app budget is spent: a refresh still runs
        with provider.charging(refreshed), pytest.raises(BudgetExhausted):
            provider.fetch(refreshed, cursor=None, tz=ZoneInfo("UTC"), today=date(2026, 5, 10))
        data_calls = fake.data_calls("/v2/")

    assert refreshed.access_token in fake.access_tokens
    assert data_calls == []
    assert provider.budget_user_key(token) == "oura:user:u-1"
    assert provider.budget_user_key(TokenSet("a", None, None), connection_id=7) == (
        "oura:user:connection-7"
    )
