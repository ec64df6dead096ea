"""Syncing one leased connection: read it, fetch through the adapter, record the outcome.

Everything here runs under the connection's lease (see `tokens.claim`); every write checks
the lease is still ours, so a worker whose lease lapsed cannot overwrite a newer result.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integrations.http import BudgetExhausted, BudgetScope
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
from service.connections.estimates import call_estimates
from service.connections.models import WearableConnection
from service.connections.providers import app_budget_size, provider_for
from service.connections.tokens import (
    LEASE,
    LeaseLost,
    mark_needs_reauth,
    reauth_reason,
    refresh_claimed,
    release,
    renew,
    token_of,
)
from service.crypto import cipher_for
from service.errors import ServiceError
from service.extensions import db, get_settings
from service.patients.models import PatientProfile

log = logging.getLogger(__name__)

REFRESH_AHEAD_S = 300  # refresh before a fetch when the access token dies within this
JITTER = 0.1  # +-10% of the sync interval, so connections linked together drift apart
BACKOFF_BASE_S = 60.0
BACKOFF_CAP_S = 6 * 3600.0
DEFAULT_RETRY_AFTER_S = 60.0
BUDGET_MIN_DEFER_S = 1.0  # a budget freeing sooner still waits for the next tick
LOOKBACK_DAYS = 3
MAX_DAYS_PER_FETCH = 30  # per-user budget: a connection far behind catches up over several syncs
ERROR_MAX = 500
# A sync that starts later than this after its claim (queued behind a slow provider) renews
# its lease and reads the row again first: half the lease leaves the sync the other half.
RENEW_AFTER_S = LEASE.total_seconds() / 2


@dataclass
class Tick:
    """State shared by the workers of one tick: providers that asked us to back off."""

    paused_until: dict[str, dt.datetime] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pause(self, provider: str, until: dt.datetime) -> None:
        """Hold back this provider's remaining work until `until`."""
        with self.lock:
            self.paused_until[provider] = max(until, self.paused_until.get(provider, until))

    def paused(self, provider: str) -> dt.datetime | None:
        """Return until when the provider is paused, if it is."""
        with self.lock:
            return self.paused_until.get(provider)


@dataclass(frozen=True)
class Snapshot:
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
    read_at: float = field(default_factory=time.monotonic)  # when the lease was last confirmed

    def clock(self, now: dt.datetime) -> dt.datetime:
        """Return the current time on the caller's clock, `now` being when it claimed."""
        return now + dt.timedelta(seconds=time.monotonic() - self.read_at)


@dataclass(frozen=True)
class Fetched:
    """A successful fetch, waiting to be written."""

    snap: Snapshot
    provider: WearableProvider
    result: FetchResult


def next_sync_time(now: dt.datetime, interval_s: int) -> dt.datetime:
    """Return the next regular sync time: the interval, jittered."""
    factor = 1 + random.uniform(-JITTER, JITTER)  # noqa: S311 - scheduling, not security
    return now + dt.timedelta(seconds=interval_s * factor)


def backoff_delay(attempts: int) -> dt.timedelta:
    """Return the delay after `attempts` consecutive failures (exponential, jittered, capped)."""
    seconds = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311


def leased(session: Session, claim_token: str, conn_id: int | None = None) -> list[Snapshot]:
    """Read the connections leased under `claim_token` (one query, with the patients' zones)."""
    cipher = cipher_for(get_settings())
    query = (
        select(WearableConnection, PatientProfile.timezone)
        .outerjoin(PatientProfile, PatientProfile.user_id == WearableConnection.patient_id)
        .where(WearableConnection.claim_token == claim_token)
    )
    if conn_id is not None:
        query = query.where(WearableConnection.id == conn_id)
    return [
        Snapshot(
            id=conn.id,
            claim_token=claim_token,
            patient_id=conn.patient_id,
            provider=conn.provider,
            token=token_of(conn, cipher),
            cursor=conn.cursor,
            pending=list(conn.pending or []),
            tz=_zone(zone),
            attempts=conn.attempts,
        )
        for conn, zone in session.execute(query).all()
    ]


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def snapshot(conn_id: int, claim_token: str) -> Snapshot | None:
    """Read one connection we hold the lease on (None if we do not hold it)."""
    with db.transaction() as session:
        found = leased(session, claim_token, conn_id)
    return found[0] if found else None


def renewed(snap: Snapshot, now: dt.datetime) -> Snapshot | None:
    """Renew the lease and read the connection again (None when another worker took it over).

    The new snapshot keeps the old one's clock, so `clock(now)` still reads the current time.
    """
    with db.transaction() as session:
        if not renew(session, snap.id, snap.claim_token, snap.clock(now)):
            return None
        found = leased(session, snap.claim_token, snap.id)
    return replace(found[0], read_at=snap.read_at) if found else None


def fetch_leased(snap: Snapshot, now: dt.datetime, tick: Tick) -> Fetched | None:
    """Fetch a leased connection's new data; on failure record it and return None."""
    if time.monotonic() - snap.read_at > RENEW_AFTER_S:
        # Waited long behind other syncs: the lease may have lapsed and the row moved on.
        fresh = renewed(snap, now)
        if fresh is None:
            log.info("connection %s: lease taken over while queued; sync skipped", snap.id)
            return None
        snap = fresh
    provider = _ready_provider(snap, now, tick)
    if provider is None:
        return None
    reserve = call_estimates.reservation(
        snap.provider, app_budget_size(snap.provider, get_settings()), provider.calls_per_sync
    )
    scope: BudgetScope | None = None
    try:
        # Every call of this sync is charged to the user's budget as well as the app's.
        with provider.charging(snap.token, connection_id=snap.id, reserve=reserve) as scope:
            result = _fetch(provider, snap, now)
    except Exception as exc:  # every failure is recorded on the connection; none stops the job
        if scope is not None and isinstance(exc, BudgetExhausted):
            call_estimates.observe(snap.provider, scope.calls, at_least=True)
        _record_failure(snap, exc, now, tick)
        return None
    call_estimates.observe(snap.provider, scope.calls)
    return Fetched(snap, provider, result)


def _ready_provider(snap: Snapshot, now: dt.datetime, tick: Tick) -> WearableProvider | None:
    """Return the adapter to fetch with, or None (lease released) when this sync must not run."""
    try:
        provider = provider_for(snap.provider, get_settings())
    except ServiceError as exc:
        _fail(snap, now, f"quarantined: {exc.detail}")
        return None
    paused = tick.paused(snap.provider)
    if paused is not None:
        # The provider rate-limited another of our calls this tick, or our app budget for it
        # is spent: do not add to it.
        with db.transaction() as session:
            release(session, snap.id, snap.claim_token, next_sync_at=paused)
        return None
    if not provider.polls and not snap.pending:
        # Notification-driven providers (Garmin) are only fetched when they announced data.
        with db.transaction() as session:
            release(session, snap.id, snap.claim_token, next_sync_at=None)
        return None
    return provider


def _fetch(provider: WearableProvider, snap: Snapshot, now: dt.datetime) -> FetchResult:
    """Fetch with a fresh enough token; refresh once on a refused access token."""
    token = snap.token
    refreshed = False
    if token.refresh_token and token.expires_within(REFRESH_AHEAD_S, now):
        token = _refresh(snap, token, provider, now)
        refreshed = True
    cursor = snap.cursor
    if snap.pending:
        # Garmin: the pull URLs its pings announced travel to the adapter inside the cursor.
        cursor = provider.cursor_with_pending(cursor, snap.pending)
    options: dict[str, Any] = {
        "cursor": cursor,
        "tz": snap.tz,
        "today": now.astimezone(snap.tz).date(),
        "lookback_days": LOOKBACK_DAYS,
        "max_days": MAX_DAYS_PER_FETCH,
    }
    try:
        return provider.fetch(token, **options)
    except TokenExpired:
        if refreshed or not token.refresh_token:
            raise ReauthRequired("access token refused after refresh", permanent=True) from None
        token = _refresh(snap, token, provider, now)
    try:
        return provider.fetch(token, **options)
    except TokenExpired:
        # Refused with a token just issued: the grant itself is gone.
        raise ReauthRequired("access token refused after refresh", permanent=True) from None


def _refresh(
    snap: Snapshot, token: TokenSet, provider: WearableProvider, now: dt.datetime
) -> TokenSet:
    """Refresh under our lease (renewed and the row read again first, see refresh_claimed)."""
    cipher = cipher_for(get_settings())
    return refresh_claimed(
        db.transaction,
        snap.id,
        snap.claim_token,
        token=token,
        provider=provider,
        cipher=cipher,
        now=snap.clock(now),
    )


def _record_failure(snap: Snapshot, exc: Exception, now: dt.datetime, tick: Tick) -> None:
    """Turn a failed fetch into the connection's next state: reauth, rate limit, backoff."""
    if isinstance(exc, LeaseLost):
        # Another worker holds the connection now: its state is theirs to record.
        log.info("connection %s: %s; sync dropped", snap.id, exc)
    elif isinstance(exc, ReauthRequired):
        with db.transaction() as session:
            mark_needs_reauth(
                session, snap.id, now, reauth_reason(exc), claim_token=snap.claim_token
            )
        log.warning("connection %s (%s) needs reauth", snap.id, snap.provider)
    elif isinstance(exc, BudgetExhausted):
        _defer(snap, exc, now, tick)
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


def _defer(snap: Snapshot, exc: BudgetExhausted, now: dt.datetime, tick: Tick) -> None:
    """Reschedule a sync our own budget refused: not a failure, so no attempt and no error.

    The app's budget stops this provider for the rest of the tick (its other due connections
    are released to the same time); a user's budget holds back only this connection.
    """
    until = now + dt.timedelta(seconds=max(exc.retry_after or 0.0, BUDGET_MIN_DEFER_S))
    if exc.scope == "app":
        tick.pause(snap.provider, until)
    with db.transaction() as session:
        release(session, snap.id, snap.claim_token, next_sync_at=until)
    log.info(
        "connection %s (%s): %s budget spent; next sync at %s",
        snap.id,
        snap.provider,
        exc.scope,
        until,
    )


def _fail(snap: Snapshot, now: dt.datetime, error: str) -> None:
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


def write(session: Session, fetched: Fetched, now: dt.datetime) -> int | None:
    """Write one fetch (days, walks, cursor, schedule) in the caller's transaction; return how
    many days and walks were new or changed.

    Returns None, having written nothing, when our lease was lost (the caller commits the
    rest of its batch regardless). The caller runs the `after_activity` hook for the patients
    whose days or walks changed.
    """
    snap, provider, result = fetched.snap, fetched.provider, fetched.result
    error = None
    if result.rejected:
        reasons = "; ".join(result.rejected[:3])
        log.warning(
            "connection %s (%s): quarantined %d records: %s",
            snap.id,
            snap.provider,
            len(result.rejected),
            reasons,
        )
        error = f"quarantined {len(result.rejected)} records: {reasons}"[:ERROR_MAX]
    values: dict[str, Any] = {"cursor": result.cursor or snap.cursor}
    if provider.polls:
        values["next_sync_at"] = next_sync_time(now, get_settings().sync_interval_s)
    # The UPDATE comes first: it takes the row (PostgreSQL) or database (SQLite) write lock, so
    # the pending list read below cannot change under us.
    if not release(
        session, snap.id, snap.claim_token, last_sync_at=now, attempts=0, last_error=error, **values
    ):
        log.warning("connection %s: lease lost during sync; results dropped", snap.id)
        return None
    if not provider.polls:
        _drop_fetched_pending(session, snap.id, snap.pending, now)
    changed = ingest.upsert_days(session, snap.patient_id, snap.provider, result.days, now)
    changed += ingest.upsert_sessions(session, snap.patient_id, snap.provider, result.sessions, now)
    ingest.upsert_intraday(session, snap.patient_id, snap.provider, result.intraday, now)
    return changed


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
