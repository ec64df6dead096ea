"""Wearable sync jobs: claim due connections, fetch through the adapters, store, reschedule.

The scheduler calls `sync_due_connections` every few seconds and `refresh_expiring_tokens` now
and then, possibly from several processes at once: every connection is worked on only under a
lease taken with a conditional UPDATE (see `tokens.claim`).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from integrations.wearables import (
    FetchResult,
    IntegrationError,
    RateLimited,
    ReauthRequired,
    TokenExpired,
    TokenSet,
    WearableProvider,
)
from service.connections import ingest
from service.connections.models import WearableConnection
from service.connections.providers import provider_for
from service.connections.tokens import (
    LEASE,
    claim,
    mark_needs_reauth,
    reauth_reason,
    refresh_claimed,
    release,
    token_of,
)
from service.crypto import cipher_for
from service.db import utcnow
from service.errors import ServiceError
from service.evaluation.hooks import after_activity
from service.extensions import db, get_settings
from service.patients.models import PatientProfile

log = logging.getLogger(__name__)

REFRESH_AHEAD_S = 300  # refresh before a fetch when the access token dies within this
JITTER = 0.1  # +-10% of the sync interval, so linked-together connections drift apart
BACKOFF_BASE_S = 60.0
BACKOFF_CAP_S = 6 * 3600.0
DEFAULT_RETRY_AFTER_S = 60.0
LOOKBACK_DAYS = 3
MAX_DAYS_PER_FETCH = 30  # per-user budget: a connection far behind catches up over several syncs
ERROR_MAX = 500


@dataclass
class _Tick:
    """State shared by the workers of one tick: providers that asked us to back off."""

    paused_until: dict[str, dt.datetime] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pause(self, provider: str, until: dt.datetime) -> None:
        with self.lock:
            self.paused_until[provider] = max(until, self.paused_until.get(provider, until))

    def paused(self, provider: str) -> dt.datetime | None:
        with self.lock:
            return self.paused_until.get(provider)


@dataclass(frozen=True)
class _Claimed:
    id: int
    provider: str
    claim_token: str


def next_sync_time(now: dt.datetime, interval_s: int) -> dt.datetime:
    """Return the next regular sync time: the interval, jittered."""
    factor = 1 + random.uniform(-JITTER, JITTER)  # noqa: S311 - scheduling, not security
    return now + dt.timedelta(seconds=interval_s * factor)


def backoff_delay(attempts: int) -> dt.timedelta:
    """Return the delay after `attempts` consecutive failures (exponential, jittered, capped)."""
    seconds = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311


def sync_due_connections(now: dt.datetime | None = None, limit: int = 200) -> int:
    """Claim and sync connections whose next sync time has passed; return how many synced."""
    now = now or utcnow()
    settings = get_settings()
    claimed = _claim_due(now, limit)
    if not claimed:
        return 0
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    by_provider: dict[str, list[_Claimed]] = defaultdict(list)
    for item in claimed:
        by_provider[item.provider].append(item)
    tick = _Tick()
    overall = threading.BoundedSemaphore(max(1, settings.sync_concurrency))

    def work(item: _Claimed) -> bool:
        with overall, app.app_context():
            return sync_connection(item.id, item.claim_token, now, tick)

    # One small pool per provider bounds what each provider sees from this process.
    pools = [
        ThreadPoolExecutor(
            max_workers=max(1, min(settings.sync_provider_concurrency, len(items))),
            thread_name_prefix=f"sync-{name}",
        )
        for name, items in by_provider.items()
    ]
    futures = [
        pool.submit(work, item)
        for pool, items in zip(pools, by_provider.values(), strict=True)
        for item in items
    ]
    synced = 0
    for future in futures:
        try:
            synced += bool(future.result())
        except Exception:  # a bug in one sync must not stop the others
            log.exception("wearable sync worker failed")
    for pool in pools:
        pool.shutdown(wait=True)
    log.info("wearable sync: %d claimed, %d synced", len(claimed), synced)
    return synced


def _claim_due(now: dt.datetime, limit: int) -> list[_Claimed]:
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
        rows = session.execute(
            select(WearableConnection.id, WearableConnection.provider).where(
                WearableConnection.claim_token == claim_token
            )
        ).all()
    return [_Claimed(conn_id, provider, claim_token) for conn_id, provider in rows]


@dataclass(frozen=True)
class _Snapshot:
    """What one sync needs from the connection row, read under our lease."""

    id: int
    claim_token: str
    patient_id: int
    provider: str
    token: TokenSet
    cursor: str | None
    pending: list[Any]
    tz: ZoneInfo
    attempts: int


def _snapshot(conn_id: int, claim_token: str) -> _Snapshot | None:
    cipher = cipher_for(get_settings())
    with db.transaction() as session:
        conn = session.get(WearableConnection, conn_id)
        if conn is None or conn.claim_token != claim_token:
            return None
        profile = session.get(PatientProfile, conn.patient_id)
        try:
            tz = ZoneInfo(profile.timezone) if profile else ZoneInfo("UTC")
        except (ZoneInfoNotFoundError, ValueError):
            tz = ZoneInfo("UTC")
        return _Snapshot(
            id=conn.id,
            claim_token=claim_token,
            patient_id=conn.patient_id,
            provider=conn.provider,
            token=token_of(conn, cipher),
            cursor=conn.cursor,
            pending=list(conn.pending or []),
            tz=tz,
            attempts=conn.attempts,
        )


def sync_connection(
    conn_id: int, claim_token: str, now: dt.datetime, tick: _Tick | None = None
) -> bool:
    """Sync one connection we hold the lease on; return True when data was stored."""
    tick = tick or _Tick()
    snap = _snapshot(conn_id, claim_token)
    if snap is None:
        return False
    provider = _ready_provider(snap, now, tick)
    if provider is None:
        return False
    try:
        result = _fetch(provider, snap, now)
    except Exception as exc:  # every failure is recorded on the connection; none stops the job
        _record_failure(snap, exc, now, tick)
        return False
    return _store(snap, provider, result, now)


def _ready_provider(snap: _Snapshot, now: dt.datetime, tick: _Tick) -> WearableProvider | None:
    """Return the adapter to fetch with, or None (lease released) when this sync must not run."""
    try:
        provider = provider_for(snap.provider, get_settings())
    except ServiceError as exc:
        _fail(snap, now, f"quarantined: {exc.detail}")
        return None
    paused = tick.paused(snap.provider)
    if paused is not None:
        # The provider rate-limited another of our calls this tick: do not add to it.
        with db.transaction() as session:
            release(session, snap.id, snap.claim_token, next_sync_at=paused)
        return None
    if not provider.polls and not snap.pending:
        # Notification-driven providers (Garmin) are only fetched when they announced data.
        with db.transaction() as session:
            release(session, snap.id, snap.claim_token, next_sync_at=None)
        return None
    return provider


def _record_failure(snap: _Snapshot, exc: Exception, now: dt.datetime, tick: _Tick) -> None:
    """Turn a failed fetch into the connection's next state: reauth, rate limit, backoff."""
    if isinstance(exc, ReauthRequired):
        with db.transaction() as session:
            mark_needs_reauth(session, snap.id, now, reauth_reason(exc))
        log.warning("connection %s (%s) needs reauth", snap.id, snap.provider)
    elif isinstance(exc, RateLimited):
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_RETRY_AFTER_S
        until = now + dt.timedelta(seconds=wait)
        tick.pause(snap.provider, until)
        with db.transaction() as session:
            release(
                session,
                snap.id,
                snap.claim_token,
                next_sync_at=until,
                last_error=f"rate limited: {exc}"[:ERROR_MAX],
            )
        log.info("connection %s (%s) rate limited until %s", snap.id, snap.provider, until)
    elif isinstance(exc, IntegrationError):
        _fail(snap, now, f"{'quarantined' if exc.permanent else 'retrying'}: {exc}")
    else:  # a payload the adapter could not parse: quarantine, never crash
        log.error("connection %s (%s): sync failed", snap.id, snap.provider, exc_info=exc)
        _fail(snap, now, f"quarantined: {type(exc).__name__}")


def _fetch(provider: WearableProvider, snap: _Snapshot, now: dt.datetime) -> FetchResult:
    """Fetch with a fresh enough token; refresh once on a refused access token."""
    cipher = cipher_for(get_settings())
    token = snap.token
    refreshed = False
    if token.refresh_token and token.expires_within(REFRESH_AHEAD_S, now):
        token = refresh_claimed(snap.id, token, provider, cipher)
        refreshed = True
    today = now.astimezone(snap.tz).date()
    cursor = snap.cursor
    if snap.pending:
        # Garmin: the pull URLs its pings announced travel to the adapter inside the cursor.
        cursor = provider.cursor_with_pending(cursor, snap.pending)
    try:
        return provider.fetch(
            token,
            cursor=cursor,
            tz=snap.tz,
            today=today,
            lookback_days=LOOKBACK_DAYS,
            max_days=MAX_DAYS_PER_FETCH,
        )
    except TokenExpired:
        if refreshed or not token.refresh_token:
            raise ReauthRequired("access token refused after refresh", permanent=True) from None
        token = refresh_claimed(snap.id, token, provider, cipher)
        return provider.fetch(
            token,
            cursor=cursor,
            tz=snap.tz,
            today=today,
            lookback_days=LOOKBACK_DAYS,
            max_days=MAX_DAYS_PER_FETCH,
        )


class _LostClaim(Exception):
    """Our lease lapsed and someone else took the connection: drop our results."""


def _store(
    snap: _Snapshot, provider: WearableProvider, result: FetchResult, now: dt.datetime
) -> bool:
    """Write days, walks and the new cursor in ONE transaction, then release the lease."""
    settings = get_settings()
    error = None
    if result.rejected:
        log.warning(
            "connection %s (%s): quarantined %d records: %s",
            snap.id,
            snap.provider,
            len(result.rejected),
            "; ".join(result.rejected[:3]),
        )
        error = f"quarantined {len(result.rejected)} records: " + "; ".join(result.rejected[:3])
    values: dict[str, Any] = {"cursor": result.cursor or snap.cursor}
    if provider.polls:
        values["next_sync_at"] = next_sync_time(now, settings.sync_interval_s)
    try:
        with db.transaction() as session:
            # The UPDATE comes first: it takes the row (PostgreSQL) or database (SQLite) write
            # lock, so the pending list read below cannot change under us.
            if not release(
                session,
                snap.id,
                snap.claim_token,
                last_sync_at=now,
                attempts=0,
                last_error=error[:ERROR_MAX] if error else None,
                **values,
            ):
                raise _LostClaim
            if not provider.polls:
                _drop_fetched_pending(session, snap.id, snap.pending, now)
            stored = ingest.upsert_days(session, snap.patient_id, snap.provider, result.days, now)
            stored += ingest.upsert_sessions(
                session, snap.patient_id, snap.provider, result.sessions, now
            )
            if stored:
                after_activity(session, [snap.patient_id], now)
    except _LostClaim:
        log.warning("connection %s: lease lost during sync; results dropped", snap.id)
        return False
    return True


def _drop_fetched_pending(
    session: Session, conn_id: int, fetched: list[Any], now: dt.datetime
) -> None:
    """Keep the pulls announced while we fetched; stay due only if there are some."""
    current = session.scalar(
        select(WearableConnection.pending).where(WearableConnection.id == conn_id)
    )
    left = [url for url in current or [] if url not in fetched]
    session.execute(
        update(WearableConnection)
        .where(WearableConnection.id == conn_id)
        .values(pending=left, next_sync_at=now if left else None)
        .execution_options(synchronize_session=False)
    )


def _fail(snap: _Snapshot, now: dt.datetime, error: str) -> bool:
    """Record a failed sync and back off exponentially."""
    log.warning("connection %s: sync failed: %s", snap.id, error)
    with db.transaction() as session:
        release(
            session,
            snap.id,
            snap.claim_token,
            attempts=snap.attempts + 1,
            last_error=error[:ERROR_MAX],
            next_sync_at=now + backoff_delay(snap.attempts + 1),
        )
    return False


def refresh_expiring_tokens(now: dt.datetime | None = None, within_s: int = 900) -> int:
    """Refresh access tokens that expire soon; return how many refreshed."""
    now = now or utcnow()
    settings = get_settings()
    cipher = cipher_for(settings)
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
        with db.transaction() as session:
            claim_token = claim(session, conn_id, now, due_only=False)
        if claim_token is None:
            continue  # a sync (or another process) holds it and refreshes if it must
        refreshed += _refresh_one(conn_id, claim_token, now, cipher)
    return refreshed


def _refresh_one(conn_id: int, claim_token: str, now: dt.datetime, cipher: Any) -> int:
    snap = _snapshot(conn_id, claim_token)
    if snap is None:
        return 0
    try:
        provider = provider_for(snap.provider, get_settings())
        refresh_claimed(conn_id, snap.token, provider, cipher)
    except ReauthRequired as exc:
        with db.transaction() as session:
            mark_needs_reauth(session, conn_id, now, reauth_reason(exc))
        return 0
    except (IntegrationError, ServiceError) as exc:
        with db.transaction() as session:
            release(session, conn_id, claim_token, last_error=f"refresh failed: {exc}"[:ERROR_MAX])
        return 0
    with db.transaction() as session:
        release(session, conn_id, claim_token)
    return 1
