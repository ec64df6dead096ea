"""Provider request budgets in the sync worker: real HTTP to the fakes, real database.

The fakes enforce the same quota the service budgets for (`FakeProviderServer.quota`) and count
every call they had to refuse: a budget that works never makes them refuse.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import func, insert, or_, select

from integrations.budget import RateBudget, user_key
from service.accounts.models import User
from service.config import ConfigError, ProviderSettings, load_settings
from service.connections import worker
from service.connections.estimates import CallEstimates
from service.connections.models import WearableConnection
from service.connections.providers import provider_budget
from service.connections.sync import sync_due_connections
from service.crypto import cipher_for
from service.extensions import db, get_settings
from service.patients.models import PatientProfile
from tests.fakes.server import CLIENT_ID, CLIENT_SECRET, FakeProviderServer
from tests.fakes.withings import FakeWithings
from tests.support.wait import wait_until

REDIS_URL = os.environ.get("BUDGET_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PROVIDER = "withings"
# Calls a sync makes: activities, workouts, and intraday steps of today and yesterday.
CALLS = 4


@pytest.fixture
def fake() -> Iterator[FakeWithings]:
    with FakeWithings() as server:
        server.page_size = 100  # one page each: a sync is exactly CALLS calls
        yield server


@pytest.fixture(autouse=True)
def fresh_estimates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from the adapter's `calls_per_sync`: what earlier tests in this process taught
    the worker's learnt average (other fakes, other page sizes) is not this module's fake."""
    monkeypatch.setattr(worker, "call_estimates", CallEstimates())


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own; only its keys are deleted afterwards."""
    prefix = f"backstride-test-sync-budget-{os.getpid()}-{secrets.token_hex(4)}"
    yield prefix
    RateBudget({}, storage_uri=REDIS_URL, key_prefix=prefix).storage.reset()


def _app(
    make_app: Callable[..., Flask],
    fake: FakeProviderServer,
    *,
    rate_limit: str | None = None,
    user_rate_limit: str | None = None,
    **changes: Any,
) -> Flask:
    config = ProviderSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        base_url=fake.base_url,
        rate_limit=rate_limit,
        user_rate_limit=user_rate_limit,
    )
    return make_app(providers={PROVIDER: config}, **changes)


def _seed(app: Flask, fake: FakeProviderServer, count: int, now: dt.datetime) -> list[int]:
    """Add `count` patients, each with a due connection of their own; return connection ids."""
    with app.app_context(), db.transaction() as session:
        cipher = cipher_for(get_settings())
        tag = secrets.token_hex(3)
        session.execute(
            insert(User),
            [
                {"email": f"budget-{tag}-{i}@example.org", "password_hash": "x", "role": "patient"}
                for i in range(count)
            ],
        )
        ids = session.scalars(
            select(User.id).where(User.email.like(f"budget-{tag}-%")).order_by(User.id)
        ).all()
        session.execute(
            insert(PatientProfile),
            [{"user_id": uid, "timezone": "Europe/London", "enrolled_at": now} for uid in ids],
        )
        rows = []
        for n, uid in enumerate(ids):
            access, refresh = fake.issue_tokens()
            rows.append(
                {
                    "patient_id": uid,
                    "provider": PROVIDER,
                    "status": "active",
                    "access_token_enc": cipher.encrypt(access),
                    "refresh_token_enc": cipher.encrypt(refresh),
                    "token_expires_at": now + dt.timedelta(hours=2),
                    "provider_user_id": f"user-{tag}-{n}",
                    "scopes": [],
                    "pending": [],
                    "cursor": (now.date() - dt.timedelta(days=1)).isoformat(),
                    "next_sync_at": now,
                    "attempts": 0,
                    "created_at": now,
                }
            )
        session.execute(insert(WearableConnection), rows)
        return list(
            session.scalars(
                select(WearableConnection.id)
                .where(WearableConnection.patient_id.in_(ids))
                .order_by(WearableConnection.id)
            )
        )


def _rows(app: Flask, ids: list[int]) -> list[WearableConnection]:
    with app.app_context():
        db.session.remove()
        rows = db.session.scalars(
            select(WearableConnection)
            .where(WearableConnection.id.in_(ids))
            .order_by(WearableConnection.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


def _assert_deferred_not_failed(rows: list[WearableConnection], now: dt.datetime) -> int:
    """Every row is free and unharmed; the unsynced ones wait. Return how many synced."""
    synced = [r for r in rows if r.last_sync_at is not None]
    for row in rows:
        assert row.claimed_until is None
        assert row.attempts == 0
        assert row.last_error is None
        assert row.status == "active"
        assert row.next_sync_at is not None
        assert row.next_sync_at > now
    return len(synced)


def test_it_makes_at_most_the_app_budget_of_calls_in_a_tick(
    make_app: Callable[..., Flask], fake: FakeWithings
) -> None:
    limit = 2 * CALLS + 1
    app = _app(make_app, fake, rate_limit=f"{limit}/minute")
    fake.quota(limit, 60.0)  # the provider's own quota, equal to our budget
    now = dt.datetime.now(dt.UTC)
    ids = _seed(app, fake, 20, now)

    with app.app_context():
        synced = sync_due_connections(now)

    assert fake.quota_calls <= limit
    assert fake.quota_refusals == 0
    rows = _rows(app, ids)
    assert _assert_deferred_not_failed(rows, now) == synced
    # Each sync reserves its calls up front, so the budget completes syncs, not parts of one.
    assert synced == 2
    deferred = [r for r in rows if r.last_sync_at is None]
    assert len(deferred) == 18
    assert all(r.next_sync_at is not None and r.next_sync_at > now for r in deferred)
    # Nothing is due again this minute, so the next tick calls nobody.
    with app.app_context():
        assert sync_due_connections(now + dt.timedelta(seconds=5)) == 0
    assert fake.quota_calls <= limit


def test_it_defers_only_the_user_whose_budget_is_spent(
    make_app: Callable[..., Flask], fake: FakeWithings
) -> None:
    app = _app(make_app, fake, user_rate_limit=f"{CALLS}/minute")
    fake.quota(CALLS, 60.0, per_user=True)
    now = dt.datetime.now(dt.UTC)
    ids = _seed(app, fake, 3, now)
    spent = _rows(app, ids)[0]
    with app.app_context():
        budget = provider_budget(get_settings())
        assert budget is not None
        key = user_key(PROVIDER, spent.provider_user_id or "")
        while budget.acquire(key) is None:  # the user's calls elsewhere spent the window
            pass

        assert sync_due_connections(now) == 2

    assert fake.quota_refusals == 0
    rows = _rows(app, ids)
    assert _assert_deferred_not_failed(rows, now) == 2
    deferred = rows[0]
    assert deferred.last_sync_at is None
    assert deferred.next_sync_at is not None
    # Rescheduled for when that user's window frees: about a minute on.
    assert 50 <= (deferred.next_sync_at - now).total_seconds() <= 62
    assert all(r.last_sync_at == now for r in rows[1:])
    assert all(r.next_sync_at and (r.next_sync_at - now).total_seconds() > 3000 for r in rows[1:])


def test_it_shares_the_app_budget_between_two_ticks_at_once(
    make_app: Callable[..., Flask], fake: FakeWithings
) -> None:
    app = _app(make_app, fake, rate_limit=f"{3 * CALLS}/minute")
    fake.quota(3 * CALLS, 60.0)
    fake.latency = 0.2  # keep the first tick's calls in flight while the second one starts
    now = dt.datetime.now(dt.UTC)
    ids = _seed(app, fake, 20, now)
    results: list[int] = []

    def tick() -> None:
        with app.app_context():
            results.append(sync_due_connections(now, limit=10))

    first = threading.Thread(target=tick)
    first.start()
    _wait_until_claimed(app, 10, now)  # the second tick claims the other ten rows
    second = threading.Thread(target=tick)
    second.start()
    first.join()
    second.join()

    assert len(results) == 2
    assert fake.quota_calls <= 3 * CALLS
    assert fake.quota_refusals == 0
    assert _assert_deferred_not_failed(_rows(app, ids), now) == sum(results) == 3


def _wait_until_claimed(app: Flask, count: int, now: dt.datetime) -> None:
    """Wait until `count` rows are claimed, or were and have been released (rescheduled)."""

    def claimed() -> bool:
        db.session.remove()
        taken = db.session.scalar(
            select(func.count())
            .select_from(WearableConnection)
            .where(
                or_(
                    WearableConnection.claim_token.is_not(None),
                    WearableConnection.next_sync_at > now,
                )
            )
        )
        return taken is not None and taken >= count

    with app.app_context():
        wait_until(claimed, 60, what="the first tick claiming its rows")


def test_it_shares_the_app_budget_between_apps_through_redis(
    make_app: Callable[..., Flask], fake: FakeWithings, redis_prefix: str
) -> None:
    shared = {"redis_url": REDIS_URL, "budget_key_prefix": redis_prefix}
    first = _app(make_app, fake, rate_limit=f"{3 * CALLS}/minute", **shared)
    second = _app(make_app, fake, rate_limit=f"{3 * CALLS}/minute", **shared)
    fake.quota(3 * CALLS, 60.0)
    now = dt.datetime.now(dt.UTC)
    ids = _seed(first, fake, 20, now)

    with first.app_context():
        first_budget = provider_budget(get_settings())
        synced = sync_due_connections(now, limit=10)
    with second.app_context():
        second_budget = provider_budget(get_settings())
        synced += sync_due_connections(now, limit=10)

    assert first_budget is not second_budget  # two processes' worth of budget objects
    assert fake.quota_calls <= 3 * CALLS
    assert fake.quota_refusals == 0
    assert _assert_deferred_not_failed(_rows(first, ids), now) == synced == 3


def test_it_paces_calls_through_a_short_wait_instead_of_deferring(
    make_app: Callable[..., Flask], fake: FakeWithings
) -> None:
    app = _app(make_app, fake, rate_limit=f"{2 * CALLS + 1}/second")
    fake.quota(2 * CALLS + 1, 1.0)
    now = dt.datetime.now(dt.UTC)
    ids = _seed(app, fake, 4, now)

    with app.app_context():
        assert sync_due_connections(now) == 4

    assert fake.quota_calls >= 4 * CALLS  # more than one window's worth
    assert fake.quota_refusals == 0
    assert _assert_deferred_not_failed(_rows(app, ids), now) == 4


def test_it_reads_budget_overrides_from_the_environment() -> None:
    env = {
        "BACKSTRIDE_ENV": "testing",
        "SECRET_KEY": "k" * 40,
        "OURA_RATE_LIMIT": "100/minute;2000/day",
        "OURA_USER_RATE_LIMIT": "none",
        "BUDGET_KEY_PREFIX": "staging-budget",
    }
    settings = load_settings({**env, "TOKEN_ENCRYPTION_KEY": _fernet()})

    assert settings.provider("oura").rate_limit == "100/minute;2000/day"
    assert settings.provider("oura").user_rate_limit == "none"
    assert settings.provider("strava").rate_limit is None  # the documented default applies
    assert settings.budget_key_prefix == "staging-budget"
    with pytest.raises(ConfigError, match="STRAVA_RATE_LIMIT"):
        load_settings({**env, "TOKEN_ENCRYPTION_KEY": _fernet(), "STRAVA_RATE_LIMIT": "lots"})


def _fernet() -> str:
    return Fernet.generate_key().decode()
