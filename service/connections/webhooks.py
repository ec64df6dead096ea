"""Inbound provider webhooks: verify through the adapter, dedupe, mark due or store pushed data."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integrations.wearables import WearableProvider, WebhookEvent, WebhookResponse
from service.config import Settings
from service.connections import ingest
from service.connections.models import WearableConnection, WebhookReceipt
from service.connections.providers import provider_for
from service.db import utcnow
from service.evaluation.hooks import after_activity
from service.inputs import text_problem
from service.sqlutil import insert_for

log = logging.getLogger(__name__)

# Per-user budget: however often a provider notifies, one user is synced at most this often.
MIN_SYNC_GAP = dt.timedelta(seconds=60)
EVENT_ID_MAX = 200
REVOKING_KINDS = frozenset({"deregistration", "deauthorization", "revoked", "revocation"})
# Data we do not read (Withings sleep, weight...): accepted, but no reason to sync.
IGNORED_KINDS = frozenset({"sleep", "weight", "blood_pressure", "heart_rate"})


@dataclass(frozen=True)
class WebhookOutcome:
    """What a batch of verified events did."""

    received: int
    accepted: int


def receive_webhook(
    session: Session,
    provider_name: str,
    *,
    method: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    settings: Settings,
) -> WebhookResponse | WebhookOutcome:
    """Verify a webhook call and record what it says; never syncs inline.

    Raises WebhookRejected (from the adapter) on a bad signature or a missing webhook secret.
    """
    # The adapter verifies with the webhook secret alone; client credentials are not needed.
    provider = provider_for(provider_name, settings, require_credentials=False)
    answer = provider.handle_webhook(method=method, headers=headers, query=query, body=body)
    if isinstance(answer, WebhookResponse):
        return answer
    now = utcnow()
    accepted = 0
    for event in answer:
        # The receipt INSERT comes first: it makes replays no-ops and, on SQLite, takes
        # the write lock before we read the connections we are about to change.
        if not _first_time(session, provider_name, event.event_id, now):
            continue
        accepted += 1
        _apply(session, provider, event, now)
    log.info("%s webhook: %d events, %d new", provider_name, len(answer), accepted)
    return WebhookOutcome(received=len(answer), accepted=accepted)


def _event_key(event_id: str) -> str:
    # Long ids, and ids a database could not hold (a NUL), become a stable digest.
    if len(event_id) <= EVENT_ID_MAX and text_problem(event_id) is None:
        return event_id
    raw = event_id.encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _first_time(session: Session, provider: str, event_id: str, now: dt.datetime) -> bool:
    """Record the event; return False when it was already received (duplicate or replay)."""
    stmt = (
        insert_for(session, WebhookReceipt)
        .values(provider=provider, event_id=_event_key(event_id), received_at=now)
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        # RETURNING, not rowcount: the ORM reports no rowcount for this INSERT on PostgreSQL.
        .returning(WebhookReceipt.id)
    )
    return session.execute(stmt).first() is not None


def _apply(
    session: Session, provider: WearableProvider, event: WebhookEvent, now: dt.datetime
) -> None:
    """Apply one new event to the connections of the provider user it names."""
    if event.provider_user_id is None:
        log.info("%s webhook event %s names no user; ignored", provider.name, event.kind)
        return
    if text_problem(event.provider_user_id):
        # No linked user has such an id, and PostgreSQL could not even compare it.
        log.info("%s webhook event %s names no linkable user; ignored", provider.name, event.kind)
        return
    conns = session.scalars(
        select(WearableConnection)
        .where(
            WearableConnection.provider == provider.name,
            WearableConnection.provider_user_id == event.provider_user_id,
            WearableConnection.status == "active",
        )
        .with_for_update()  # a sync finishing now updates the same row (PostgreSQL row lock)
    ).all()
    for conn in conns:
        if event.kind in REVOKING_KINDS:
            _revoke(session, conn)
            continue
        if event.kind in IGNORED_KINDS:
            continue
        changed = ingest.upsert_days(session, conn.patient_id, provider.name, event.days, now)
        changed += ingest.upsert_sessions(
            session, conn.patient_id, provider.name, event.sessions, now
        )
        # Intraday counts feed the proximal outcomes only: no facts change, no evaluation.
        ingest.upsert_intraday(session, conn.patient_id, provider.name, event.intraday, now)
        if changed:
            after_activity(session, [conn.patient_id], now)
        if event.pull:
            conn.pending = [*conn.pending, *(u for u in event.pull if u not in conn.pending)]
            conn.next_sync_at = now
        elif provider.polls and not (event.days or event.sessions):
            due = max(now, (conn.last_sync_at or now) + MIN_SYNC_GAP)
            if conn.next_sync_at is None or conn.next_sync_at > due:
                conn.next_sync_at = due


def _revoke(session: Session, conn: WearableConnection) -> None:
    """The user withdrew consent at the provider: forget the tokens, stop syncing."""
    session.execute(
        update(WearableConnection)
        .where(WearableConnection.id == conn.id)
        .values(
            status="revoked",
            access_token_enc=None,
            refresh_token_enc=None,
            token_expires_at=None,
            next_sync_at=None,
            claimed_until=None,
            claim_token=None,
            pending=[],
        )
        .execution_options(synchronize_session="fetch")
    )
