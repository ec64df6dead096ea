"""Leases at their boundary: a worker whose lease lapsed never refreshes with the tokens it read.

Strava's fake rotates refresh tokens and answers a spent one with invalid_grant, as Strava (and
Fitbit, Withings) document: presenting a token another worker already rotated would lose the
patient's link. Real database (SQLite, or PostgreSQL with TEST_DATABASE_URL), real HTTP fakes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

from service.connections.models import WearableConnection
from service.connections.providers import provider_for
from service.connections.sync import _claim_due, refresh_connection, sync_due_connections
from service.connections.tokens import LEASE, claim, refresh_claimed
from service.connections.worker import RENEW_AFTER_S, Tick, fetch_leased
from service.crypto import cipher_for
from service.extensions import db
from tests.support.connections import (  # noqa: F401 - the fixture is used by name
    Wearables,
    wearables,
)

LAPSED = LEASE + dt.timedelta(minutes=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _expire_soon(env: Wearables, at: dt.datetime) -> None:
    with db.transaction() as session:
        conn = session.get(WearableConnection, env.connection("strava").id)
        assert conn is not None
        conn.token_expires_at = at + dt.timedelta(seconds=30)


def _token_answers(env: Wearables) -> list[int]:
    """The status of every refresh-token grant Strava's fake answered, in order."""
    fake = env.fakes["strava"]
    return [
        exchange.response.status
        for exchange in fake.exchanges
        if exchange.request.path == fake.token_path
        and exchange.request.form().get("grant_type") == "refresh_token"
    ]


def _live_refresh_token(env: Wearables) -> bool:
    conn = env.connection("strava")
    cipher = cipher_for(env.settings)
    return cipher.decrypt(conn.refresh_token_enc) in env.fakes["strava"].refresh_tokens


def test_a_sync_that_outlived_its_lease_does_not_refresh_with_a_spent_token(
    wearables: Wearables,  # noqa: F811
) -> None:
    wearables.link("strava")
    now = _now()
    _expire_soon(wearables, now)
    # Worker 1 claims the connection and reads its tokens, then waits (a slow tick) ...
    (stale,) = _claim_due(now, limit=10)
    # ... past its lease: worker 2 takes the connection over, refreshes (the provider rotates
    # the refresh token) and syncs.
    assert sync_due_connections(now + LAPSED) == 1
    assert _token_answers(wearables) == [200]

    # Worker 1 resumes with what it read before the takeover.
    assert fetch_leased(stale, now, Tick()) is None

    assert _token_answers(wearables) == [200]  # the spent token was never presented again
    conn = wearables.connection("strava")
    assert conn.status == "active"
    assert conn.last_error is None
    assert _live_refresh_token(wearables)


def test_a_sync_queued_past_half_its_lease_reads_the_row_again_first(
    wearables: Wearables,  # noqa: F811
) -> None:
    wearables.link("strava")
    now = _now()
    _expire_soon(wearables, now)
    (first,) = _claim_due(now, limit=10)
    assert sync_due_connections(now + LAPSED) == 1
    after_takeover = len(wearables.fakes["strava"].requests)
    # Worker 1 waited in its pool's queue for longer than half the lease.
    queued = dataclasses.replace(first, read_at=time.monotonic() - RENEW_AFTER_S - 1)

    assert fetch_leased(queued, now, Tick()) is None

    # It saw the lease was no longer its own before calling the provider at all.
    assert len(wearables.fakes["strava"].requests) == after_takeover
    assert _token_answers(wearables) == [200]
    assert wearables.connection("strava").status == "active"


def test_a_lapsed_lease_nobody_took_is_renewed_before_the_refresh(
    wearables: Wearables,  # noqa: F811
) -> None:
    wearables.link("strava")
    now = _now()
    _expire_soon(wearables, now)
    (snap,) = _claim_due(now, limit=10)
    later = now + LAPSED  # our lease lapsed, but no other worker claimed the row
    provider = provider_for("strava", wearables.settings)
    cipher = cipher_for(wearables.settings)

    fresh = refresh_claimed(
        db.transaction,
        snap.id,
        snap.claim_token,
        token=snap.token,
        provider=provider,
        cipher=cipher,
        now=later,
    )

    assert fresh.refresh_token != snap.token.refresh_token
    assert _live_refresh_token(wearables)
    # The lease runs from the refresh again: another worker cannot take the row (and present
    # the refresh token we are about to replace) while we use the new pair.
    with db.transaction() as session:
        assert claim(session, snap.id, later + dt.timedelta(minutes=1), due_only=False) is None
    with db.transaction() as session:
        assert claim(session, snap.id, later + LAPSED, due_only=False) is not None


def test_the_refresh_job_skips_a_token_another_worker_refreshed_since_it_listed_it(
    wearables: Wearables,  # noqa: F811
) -> None:
    wearables.link("strava")
    now = _now()
    _expire_soon(wearables, now)
    conn_id = wearables.connection("strava").id

    # Two scheduler processes listed the connection; the first refreshes it ...
    assert refresh_connection(conn_id, now, within_s=900) == 1
    # ... the second gets the lease afterwards and finds a token good for an hour.
    assert refresh_connection(conn_id, now, within_s=900) == 0

    assert _token_answers(wearables) == [200]
    conn = wearables.connection("strava")
    assert conn.status == "active"
    assert conn.claimed_until is None
    assert _live_refresh_token(wearables)
