"""Wearable sync jobs: claim due connections, fetch through the adapters, store, reschedule.

The scheduler calls `sync_due_connections` every few seconds and `refresh_expiring_tokens` now
and then, possibly from several processes at once: every connection is worked on only under a
lease taken with a conditional UPDATE (see `tokens.claim` and `_claim_due`).

Within a tick, worker threads (a small pool per provider) do the network calls; the calling
thread writes their results in batches: one transaction holds a batch's days, walks, cursors
and its one `after_activity` mark (the `evaluate_pending` job evaluates), so data, cursor and
the mark land together, and SQLite's
single writer is not fought over by every worker.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import secrets
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, current_app
from sqlalchemy import or_, select, update

from integrations.wearables import IntegrationError, ReauthRequired
from service.connections.models import WearableConnection
from service.connections.providers import provider_for
from service.connections.tokens import (
    LEASE,
    LeaseLost,
    claim,
    mark_needs_reauth,
    reauth_reason,
    refresh_claimed,
    release,
)
from service.connections.worker import (
    ERROR_MAX,
    Fetched,
    Snapshot,
    Tick,
    fetch_leased,
    leased,
    snapshot,
    write,
)
from service.crypto import cipher_for
from service.db import utcnow
from service.errors import ServiceError
from service.evaluation.hooks import after_activity
from service.extensions import db, get_settings

log = logging.getLogger(__name__)

WRITE_BATCH = 50  # fetches written per transaction (more are rarely waiting at once)


def sync_due_connections(now: dt.datetime | None = None, limit: int = 200) -> int:
    """Claim and sync connections whose next sync time has passed; return how many synced."""
    now = now or utcnow()
    settings = get_settings()
    claimed = _claim_due(now, limit)
    if not claimed:
        return 0
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    by_provider: dict[str, list[Snapshot]] = defaultdict(list)
    for item in claimed:
        by_provider[item.provider].append(item)
    tick = Tick()
    overall = threading.BoundedSemaphore(max(1, settings.sync_concurrency))
    results: queue.SimpleQueue[Fetched | None] = queue.SimpleQueue()

    def work(item: Snapshot) -> None:
        fetched = None
        try:
            with overall, app.app_context():
                fetched = fetch_leased(item, now, tick)
        except Exception:  # a bug in one sync must not stop the others
            log.exception("wearable sync worker failed (connection %s)", item.id)
        finally:
            results.put(fetched)  # exactly one answer per claimed connection

    # One small pool per provider bounds what each provider sees from this process.
    pools = [
        ThreadPoolExecutor(
            max_workers=max(1, min(settings.sync_provider_concurrency, len(items))),
            thread_name_prefix=f"sync-{name}",
        )
        for name, items in by_provider.items()
    ]
    for pool, items in zip(pools, by_provider.values(), strict=True):
        for item in items:
            pool.submit(work, item)
    synced = _write_results(results, len(claimed), now)
    for pool in pools:
        pool.shutdown(wait=True)
    log.info("wearable sync: %d claimed, %d synced", len(claimed), synced)
    return synced


def sync_connection(conn_id: int, claim_token: str, now: dt.datetime) -> bool:
    """Sync one connection we hold the lease on; return True when its data was stored."""
    snap = snapshot(conn_id, claim_token)
    fetched = fetch_leased(snap, now, Tick()) if snap is not None else None
    return fetched is not None and _write_batch([fetched], now) == 1


def _write_results(
    results: queue.SimpleQueue[Fetched | None], expected: int, now: dt.datetime
) -> int:
    """Write fetches as they arrive, in batches of whatever is waiting; return how many."""
    synced = 0
    received = 0
    while received < expected:
        batch = [results.get()]
        while len(batch) < WRITE_BATCH and received + len(batch) < expected:
            try:
                batch.append(results.get_nowait())
            except queue.Empty:
                break
        received += len(batch)
        fetched = [item for item in batch if item is not None]
        if fetched:
            synced += _write_batch(fetched, now)
    return synced


def _write_batch(batch: list[Fetched], now: dt.datetime) -> int:
    """Write a batch in one transaction; if that fails, write each alone so one bad apple
    cannot sink the others. Return how many connections were stored."""
    try:
        return _write_together(batch, now)
    except Exception:
        if len(batch) == 1:
            log.exception("connection %s: storing the sync failed", batch[0].snap.id)
            return 0
        log.exception("storing a batch of %d syncs failed; retrying one by one", len(batch))
    return sum(_write_batch([item], now) for item in batch)


def _write_together(batch: list[Fetched], now: dt.datetime) -> int:
    with db.transaction() as session:
        # One patient may have several connections in the batch.
        changed = [(item.snap.patient_id, write(session, item, now)) for item in batch]
        # Only new or changed days and walks cost an evaluation: polls re-fetch the same days.
        touched = sorted({pid for pid, count in changed if count})
        if touched:
            after_activity(session, touched, now)
    return sum(count is not None for _pid, count in changed)


def _claim_due(now: dt.datetime, limit: int) -> list[Snapshot]:
    """Lease up to `limit` due connections (most overdue first) for this tick.

    Several scheduler processes may run this at once: the UPDATE re-checks that each row is
    still due and free (PostgreSQL re-evaluates the WHERE on rows another claimer just
    changed; SQLite runs one writer at a time), so every row ends up with exactly one tick's
    claim token, and we read back the rows that carry ours.
    """
    claim_token = secrets.token_hex(16)
    free = or_(WearableConnection.claimed_until.is_(None), WearableConnection.claimed_until < now)
    due = (WearableConnection.status == "active", WearableConnection.next_sync_at <= now, free)
    with db.transaction() as session:
        ids = session.scalars(
            select(WearableConnection.id)
            .where(*due)
            .order_by(WearableConnection.next_sync_at, WearableConnection.id)
            .limit(limit)
        ).all()
        if not ids:
            return []
        session.execute(
            update(WearableConnection)
            .where(WearableConnection.id.in_(ids), *due)
            .values(claimed_until=now + LEASE, claim_token=claim_token)
            .execution_options(synchronize_session=False)
        )
        return leased(session, claim_token)


def refresh_expiring_tokens(now: dt.datetime | None = None, within_s: int = 900) -> int:
    """Refresh access tokens that expire soon; return how many refreshed.

    Every scheduler process runs this job and they read the same candidates: each connection
    is refreshed under its lease, and only if its token, read again under that lease, still
    expires within `within_s` (another process may have refreshed it a moment ago).
    """
    now = now or utcnow()
    started = time.monotonic()
    horizon = now + dt.timedelta(seconds=within_s)
    with db.transaction() as session:
        ids = session.scalars(
            select(WearableConnection.id)
            .where(
                WearableConnection.status == "active",
                WearableConnection.refresh_token_enc.is_not(None),
                WearableConnection.token_expires_at <= horizon,
                or_(
                    WearableConnection.claimed_until.is_(None),
                    WearableConnection.claimed_until < now,
                ),
            )
            .order_by(WearableConnection.token_expires_at)
            .limit(200)
        ).all()
    refreshed = 0
    for conn_id in ids:
        # Each refresh is a network call: the leases are taken on the clock as it is now.
        at = now + dt.timedelta(seconds=time.monotonic() - started)
        refreshed += refresh_connection(conn_id, at, within_s)
    return refreshed


def refresh_connection(conn_id: int, now: dt.datetime, within_s: int) -> int:
    """Refresh one connection's tokens if they expire within `within_s` of `now`; return 1 if
    refreshed. The same lease as a sync: a token is never refreshed by two workers at once."""
    with db.transaction() as session:
        claim_token = claim(session, conn_id, now, due_only=False)
    if claim_token is None:
        return 0
    snap = snapshot(conn_id, claim_token)
    if snap is None:
        return 0
    if not (snap.token.refresh_token and snap.token.expires_within(within_s, now)):
        # Refreshed by another worker since we listed it: nothing to do.
        with db.transaction() as session:
            release(session, conn_id, claim_token)
        return 0
    values: dict[str, Any] = {}
    try:
        provider = provider_for(snap.provider, get_settings())
        cipher = cipher_for(get_settings())
        refresh_claimed(
            db.transaction,
            conn_id,
            claim_token,
            token=snap.token,
            provider=provider,
            cipher=cipher,
            now=now,
        )
    except LeaseLost:
        return 0  # another worker holds it now
    except ReauthRequired as exc:
        with db.transaction() as session:
            mark_needs_reauth(session, conn_id, now, reauth_reason(exc), claim_token=claim_token)
        return 0
    except (IntegrationError, ServiceError) as exc:
        values["last_error"] = f"refresh failed: {exc}"[:ERROR_MAX]
    with db.transaction() as session:
        release(session, conn_id, claim_token, **values)
    return 0 if values else 1
