"""The delivery worker: claim due pushes, send them outside any transaction, record each attempt.

Delivery is at least once: a worker that dies after sending but before recording leaves its rows
leased; when the lease runs out another worker sends them again. The collapse id is the tip id,
so the phone shows a repeated push once. The inbox never depends on any of this.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from integrations.push import Outcome, PushMessage, PushResult
from service.channels import CHANNELS
from service.db import utcnow
from service.delivery.metrics import ATTEMPT_SECONDS, DELIVERIES
from service.delivery.models import DeliveryStatus, PushDelivery
from service.delivery.policy import (
    QuietHours,
    effective_quiet_hours,
    parse_quiet_hours,
    push_not_before,
    zone_of,
)
from service.delivery.senders import Senders, SenderUnavailableError, senders_for
from service.extensions import db
from service.patients.models import Device, PatientProfile
from service.tips.models import Tip

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
# Long enough for one claimed chunk of slow sends to finish before anyone may take the rows
# over; a crashed worker's rows wait this long.
LEASE = dt.timedelta(minutes=5)
POOL_SIZE = 8
CLAIM_CHUNK = 64  # 64 sends on 8 threads at a 10 s timeout (twice, on a 401) fit the lease
BACKOFF_BASE_S = 10.0
BACKOFF_CAP_S = 3600.0
QUOTA_MIN_S = 60.0  # FCM: back off at least a minute after QUOTA_EXCEEDED / 429


@dataclass(frozen=True)
class Job:
    """A claimed delivery with what sending and recording it need, detached from the session."""

    delivery_id: int
    claim: str
    channel: str
    attempts: int
    expires_at: dt.datetime
    quiet_hours: str | None
    tip_id: int
    title: str
    text: str
    category: str
    rule_id: str
    urgent: bool
    device_id: int | None
    token: str | None
    device_seen_at: dt.datetime | None
    zone_name: str | None
    own_quiet_hours: QuietHours | None  # the patient's own setting, read when claimed

    def message(self, now: dt.datetime) -> PushMessage:
        """Build the push; the tip id is the collapse id, so a retried send shows once."""
        assert self.token is not None
        return PushMessage(
            token=self.token,
            title=self.title,
            body=self.text,
            data={"tip_id": str(self.tip_id), "category": self.category, "rule_id": self.rule_id},
            collapse_id=str(self.tip_id),
            ttl_seconds=max(0, int((self.expires_at - now).total_seconds())),
            urgent=self.urgent,
            category=self.category,
        )


def deliver_due(
    now: dt.datetime | None = None, limit: int = 500, *, lease: dt.timedelta = LEASE
) -> int:
    """Send up to limit due pushes and record the outcomes; return how many were handled."""
    fixed_now = now
    senders = senders_for(current_app._get_current_object())  # type: ignore[attr-defined]
    _expire_stale(fixed_now or utcnow())
    handled = 0
    with ThreadPoolExecutor(max_workers=POOL_SIZE) as pool:
        # Claim in chunks: each lease then only has to outlast one chunk of slow sends, and
        # rows beyond the chunk stay free for other workers meanwhile.
        while handled < limit:
            chunk_now = fixed_now or utcnow()
            jobs = _claim(chunk_now, min(CLAIM_CHUNK, limit - handled), lease)
            _send_all(pool, senders, jobs, chunk_now)
            handled += len(jobs)
            if len(jobs) < CLAIM_CHUNK:
                break
    return handled


def _send_all(
    pool: ThreadPoolExecutor, senders: Senders, jobs: list[Job], now: dt.datetime
) -> None:
    """Send the claimed jobs on the pool, recording each outcome as it arrives."""
    futures: dict[Future[PushResult], Job] = {}
    for job in jobs:
        if job.token is None:
            _record(job, DeliveryStatus.DEAD, now, "device removed")
        else:
            futures[pool.submit(_send, senders, job, now)] = job
    # Recorded one by one in this thread (its own session), so a crash loses as little as
    # possible and the pool threads never touch the database.
    for future in as_completed(futures):
        _apply(futures[future], future.result(), now)


def _expire_stale(now: dt.datetime) -> None:
    """Give up on deliveries past their tip's useful life or out of attempts."""
    stale = select(PushDelivery.id).where(
        PushDelivery.status == DeliveryStatus.PENDING,
        (PushDelivery.expires_at <= now) | (PushDelivery.attempts >= MAX_ATTEMPTS),
        _lease_free(now),
    )
    with db.transaction() as session:
        channels = session.scalars(
            update(PushDelivery)
            .where(
                _free_rows(session, stale),
                PushDelivery.status == DeliveryStatus.PENDING,
                _lease_free(now),
            )
            .values(status=DeliveryStatus.EXPIRED, claimed_until=None, claim_token=None)
            .returning(PushDelivery.channel)
            .execution_options(synchronize_session=False)
        ).all()
    for channel in channels:
        DELIVERIES.labels(channel, DeliveryStatus.EXPIRED).inc()


def _free_rows(session: Session, query: Select[int]) -> ColumnElement[bool]:
    """Return a condition on the delivery ids query finds, minus rows other workers hold.

    Several workers run these sweeps at once. On PostgreSQL the rows are locked first,
    skipping those another transaction holds (FOR UPDATE SKIP LOCKED), so an UPDATE never
    waits for a row while holding others (no deadlocks) and an IN (subquery) is not re-run
    per row (which would claim more than its LIMIT). SQLite serialises writers: the UPDATE
    must be the transaction's first statement, so it waits for the write lock instead of
    failing on a stale read snapshot; hence the subquery there.
    """
    if db.dialect == "postgresql":
        return PushDelivery.id.in_(list(session.scalars(query.with_for_update(skip_locked=True))))
    return PushDelivery.id.in_(query)


def _lease_free(now: dt.datetime) -> ColumnElement[bool]:
    return PushDelivery.claimed_until.is_(None) | (PushDelivery.claimed_until < now)


def _claim(now: dt.datetime, limit: int, lease: dt.timedelta) -> list[Job]:
    """Lease due rows to this worker and load them; safe when several workers race."""
    claim = uuid.uuid4().hex
    # Two workers may claim at once (several scheduler processes): the UPDATE re-checks the
    # lease on every row it writes, _free_rows keeps PostgreSQL workers off each other's rows,
    # and the rows are then found again by the claim token.
    due = (
        select(PushDelivery.id)
        .where(
            PushDelivery.status == DeliveryStatus.PENDING,
            PushDelivery.next_attempt_at <= now,
            _lease_free(now),
        )
        .order_by(PushDelivery.next_attempt_at, PushDelivery.id)
        .limit(limit)
    )
    with db.transaction() as session:
        session.execute(
            update(PushDelivery)
            .where(
                _free_rows(session, due),
                PushDelivery.status == DeliveryStatus.PENDING,
                _lease_free(now),
            )
            .values(
                claimed_until=now + lease,
                claim_token=claim,
                attempts=PushDelivery.attempts + 1,
                last_attempt_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    with db.transaction() as session:
        return _load_jobs(session, claim)


def _load_jobs(session: Session, claim: str) -> list[Job]:
    rows = session.execute(
        select(PushDelivery, Tip, Device, PatientProfile)
        .join(Tip, Tip.id == PushDelivery.tip_id)
        .outerjoin(Device, Device.id == PushDelivery.device_id)
        .outerjoin(PatientProfile, PatientProfile.user_id == Tip.patient_id)
        .where(PushDelivery.claim_token == claim)
        .order_by(PushDelivery.id)
        # The thread's session may hold these rows from an earlier call: read them afresh.
        .execution_options(populate_existing=True)
    ).all()
    jobs = []
    for delivery, tip, device, profile in rows:
        jobs.append(
            Job(
                delivery_id=delivery.id,
                claim=claim,
                channel=delivery.channel,
                attempts=delivery.attempts,
                expires_at=delivery.expires_at,
                quiet_hours=delivery.quiet_hours,
                tip_id=tip.id,
                title=tip.title,
                text=tip.text,
                category=tip.category,
                rule_id=tip.rule_id,
                urgent=tip.urgent,
                device_id=device.id if device else None,
                token=device.token if device else None,
                device_seen_at=max(device.created_at, device.last_seen_at) if device else None,
                zone_name=profile.timezone if profile else None,
                own_quiet_hours=effective_quiet_hours(profile, None),
            )
        )
    return jobs


def _send(senders: Senders, job: Job, now: dt.datetime) -> PushResult:
    """Send one push (in a pool thread); never raise."""
    started = time.perf_counter()
    try:
        return senders.get(job.channel).send(job.message(now))
    except SenderUnavailableError as exc:
        log.error("push channel unavailable: %s", exc)
        return PushResult(Outcome.RETRY, None, None, f"sender unavailable: {exc}"[:200])
    except Exception as exc:  # a sender bug must not take the batch (and its leases) down
        log.exception("push send crashed for delivery %s", job.delivery_id)
        return PushResult(Outcome.RETRY, None, None, f"send crashed: {type(exc).__name__}")
    finally:
        ATTEMPT_SECONDS.labels(job.channel).observe(time.perf_counter() - started)


def _apply(job: Job, result: PushResult, now: dt.datetime) -> None:
    """Record one attempt's outcome."""
    if result.outcome is Outcome.SENT:
        _record(job, DeliveryStatus.SENT, now, result.provider_response)
    elif result.outcome is Outcome.FAILED:
        _record(job, DeliveryStatus.FAILED, now, result.provider_response)
    elif result.outcome is Outcome.DEAD_TOKEN:
        _dead_token(job, result, now)
    else:
        _retry(job, result, now)


def retry_delay(
    attempts: int, result: PushResult, channel: str, rng: random.Random | None = None
) -> float:
    """Return seconds until the next try: exponential, jittered upwards, honouring Retry-After."""
    base = BACKOFF_BASE_S
    if result.status == 429 or "QUOTA_EXCEEDED" in result.provider_response:
        base = QUOTA_MIN_S
    elif result.status is not None and result.status >= 500:
        entry = CHANNELS.get(channel)
        if entry is not None and entry.server_error_min_s is not None:
            base = entry.server_error_min_s  # the provider's own floor (APNs: 15 minutes)
    delay = min(BACKOFF_CAP_S, base * 2 ** max(0, attempts - 1))
    # Upward-only jitter keeps the floor (60 s for quota) while spreading a burst of retries.
    delay *= (rng or random).uniform(1.0, 1.5)
    return max(delay, result.retry_after or 0.0)


def _retry(job: Job, result: PushResult, now: dt.datetime) -> None:
    when = now + dt.timedelta(seconds=retry_delay(job.attempts, result, job.channel))
    if not job.urgent:
        # A retry must not wake the patient either: the patient's current hours, else the
        # rule set's as recorded when the tip was written.
        hours = job.own_quiet_hours or parse_quiet_hours(job.quiet_hours)
        when = push_not_before(hours, zone_of(job.zone_name), when, urgent=False)
    if job.attempts >= MAX_ATTEMPTS or when >= job.expires_at:
        _record(job, DeliveryStatus.EXPIRED, now, result.provider_response)
        return
    _record(
        job,
        DeliveryStatus.PENDING,
        now,
        result.provider_response,
        next_attempt_at=when,
        label="retry",
    )


def _dead_token(job: Job, result: PushResult, now: dt.datetime) -> None:
    invalid_since = result.token_invalid_since
    seen = job.device_seen_at
    if invalid_since is not None and seen is not None and seen >= invalid_since:
        # APNs 410: the app registered this token again after APNs stopped accepting it,
        # so the registration is newer news than the rejection; keep the device.
        note = f"{result.provider_response} (older than the device's registration; kept)"
        _record(job, DeliveryStatus.DEAD, now, note)
        return
    _record(job, DeliveryStatus.DEAD, now, result.provider_response)
    # Three short transactions, none waiting for a lock while holding another: two workers
    # told at once that one device is dead must not deadlock on each other's rows. A crash in
    # between only means the next push to the device is refused and cleans up again.
    others = select(PushDelivery.id).where(
        PushDelivery.device_id == job.device_id,
        PushDelivery.status == DeliveryStatus.PENDING,
        _lease_free(now),
    )
    with db.transaction() as session:
        # Its other queued pushes would only be refused too.
        swept = session.scalars(
            update(PushDelivery)
            .where(_free_rows(session, others), PushDelivery.status == DeliveryStatus.PENDING)
            .values(
                status=DeliveryStatus.DEAD,
                provider_response="device token dead",
                claimed_until=None,
            )
            .returning(PushDelivery.channel)
            .execution_options(synchronize_session=False)
        ).all()
    for channel in swept:
        DELIVERIES.labels(channel, DeliveryStatus.DEAD).inc()
    with db.transaction() as session:
        # Unless the app re-registered the token while we were sending.
        session.execute(
            delete(Device)
            .where(Device.id == job.device_id, Device.last_seen_at <= (seen or now))
            .execution_options(synchronize_session=False)
        )


def _record(
    job: Job,
    status: DeliveryStatus,
    now: dt.datetime,
    response: str,
    *,
    next_attempt_at: dt.datetime | None = None,
    label: str | None = None,
) -> None:
    with db.transaction() as session:
        recorded = _finish(session, job, status, now, response, next_attempt_at=next_attempt_at)
    if recorded:
        DELIVERIES.labels(job.channel, label or status).inc()


def _finish(
    session: Session,
    job: Job,
    status: DeliveryStatus,
    now: dt.datetime,
    response: str,
    *,
    next_attempt_at: dt.datetime | None = None,
) -> bool:
    """Write the outcome if this worker still holds the lease; say whether it did."""
    values: dict[str, object] = {
        "status": status,
        "claimed_until": None,
        "claim_token": None,
        "provider_response": response[:500],
    }
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    result = session.execute(
        update(PushDelivery)
        .where(
            PushDelivery.id == job.delivery_id,
            PushDelivery.claim_token == job.claim,
            PushDelivery.status == DeliveryStatus.PENDING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        # The lease ran out and another worker took the row over: its result stands.
        log.warning("delivery %s: lease lost before recording %s", job.delivery_id, status)
        return False
    return True
