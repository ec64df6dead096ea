"""OAuth tokens at rest (encrypted), connection leases, and refresh that never runs twice."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time

from sqlalchemy import Table, or_, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from integrations.wearables import PROVIDERS, ReauthRequired, TokenSet, WearableProvider
from service.connections.models import WearableConnection
from service.crypto import TokenCipher
from service.db import Transactions
from service.delivery.outbox import enqueue
from service.errors import is_connection_loss
from service.tips.models import Tip

log = logging.getLogger(__name__)

# Longer than any one sync or refresh can take (HTTP timeouts bound them), short enough that a
# crashed worker's connection is picked up again soon. A holder renews it before each step that
# must not overlap another worker's (see `renew`), so a long tick cannot outlive it.
LEASE = dt.timedelta(minutes=5)
# How long a refreshed token pair waits for a lost database (well inside the lease).
STORE_RETRY_FIRST_S = 0.5
STORE_RETRY_FOR_S = 60.0


class LeaseLost(Exception):
    """Our lease on a connection lapsed and another worker took the connection over."""


def token_of(conn: WearableConnection, cipher: TokenCipher) -> TokenSet:
    """Decrypt a connection's tokens."""
    return TokenSet(
        access_token=cipher.decrypt(conn.access_token_enc) or "",
        refresh_token=cipher.decrypt(conn.refresh_token_enc),
        expires_at=conn.token_expires_at,
        scopes=tuple(conn.scopes or ()),
        provider_user_id=conn.provider_user_id,
    )


def store_token(conn: WearableConnection, token: TokenSet, cipher: TokenCipher) -> None:
    """Put (encrypted) tokens on a connection; the caller commits."""
    conn.access_token_enc = cipher.encrypt(token.access_token)
    conn.refresh_token_enc = cipher.encrypt(token.refresh_token)
    conn.token_expires_at = token.expires_at
    conn.scopes = list(token.scopes)
    if token.provider_user_id:
        conn.provider_user_id = token.provider_user_id


def claim(session: Session, conn_id: int, now: dt.datetime, *, due_only: bool) -> str | None:
    """Take the lease on one connection; return the claim token, or None if someone holds it.

    Two scheduler processes (and the refresh job) race for the same rows: the conditional
    UPDATE succeeds for exactly one of them (rowcount 1), on SQLite and PostgreSQL alike.
    """
    token = secrets.token_hex(16)
    conditions = [
        WearableConnection.id == conn_id,
        WearableConnection.status == "active",
        or_(WearableConnection.claimed_until.is_(None), WearableConnection.claimed_until < now),
    ]
    if due_only:
        conditions.append(WearableConnection.next_sync_at <= now)
    result = session.execute(
        update(WearableConnection)
        .where(*conditions)
        .values(claimed_until=now + LEASE, claim_token=token)
        .execution_options(synchronize_session=False)
    )
    return token if result.rowcount == 1 else None  # type: ignore[attr-defined]


def release(session: Session, conn_id: int, claim_token: str, **values: object) -> bool:
    """Drop our lease (writing `values` too) if we still hold it; return whether we did."""
    table: Table = WearableConnection.__table__  # type: ignore[assignment]
    result = session.execute(
        update(table)  # Core, not ORM: this runs once per sync
        .where(table.c.id == conn_id, table.c.claim_token == claim_token)
        .values(claimed_until=None, claim_token=None, **values)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def renew(session: Session, conn_id: int, claim_token: str, now: dt.datetime) -> bool:
    """Extend our lease to `now` + LEASE if we still hold it; return whether we do.

    A lease that lapsed while nobody took it over is still ours (the claim token is unchanged):
    renewing it closes the window in which another worker could claim the row.
    """
    table: Table = WearableConnection.__table__  # type: ignore[assignment]
    result = session.execute(
        update(table)
        .where(
            table.c.id == conn_id,
            table.c.claim_token == claim_token,
            table.c.status == "active",
        )
        .values(claimed_until=now + LEASE)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def refresh_claimed(
    transactions: Transactions,
    conn_id: int,
    claim_token: str,
    *,
    token: TokenSet,
    provider: WearableProvider,
    cipher: TokenCipher,
    now: dt.datetime,
) -> TokenSet:
    """Refresh the tokens of a connection WE hold the lease on, committing the new pair first.

    `token` is what the caller read earlier; `now` is the current time on the caller's clock.
    Right before calling the provider the lease is renewed and the stored tokens read again, in
    one transaction: a worker's snapshot can be older than a refresh another worker made while
    our lease had lapsed, and presenting that spent refresh token to a provider that rotates
    them (single use) would be refused and lose the patient's link. When the stored pair is
    not the one the caller read, someone refreshed since: it is returned as it is.

    The new pair is committed before anything uses it, so a crash after this point cannot lose
    it. Raises LeaseLost when another worker holds the connection now, ReauthRequired on
    invalid_grant.
    """
    with transactions() as session:
        if not renew(session, conn_id, claim_token, now):
            raise LeaseLost(f"connection {conn_id}: lease taken over before refreshing")
        conn = session.get(WearableConnection, conn_id, populate_existing=True)
        assert conn is not None  # renewed: the row exists
        current = token_of(conn, cipher)
    if current.access_token != token.access_token:
        log.info("connection %s: tokens refreshed by another worker; using theirs", conn_id)
        return current
    fresh = provider.refresh(current)
    # The provider has already spent the old refresh token: losing the new pair now would
    # leave the patient to link again. A database that went away gets time to come back.
    delay = STORE_RETRY_FIRST_S
    waited = 0.0
    while True:
        try:
            with transactions() as session:
                conn = session.get(WearableConnection, conn_id)
                # An unlink while we were refreshing wins: do not bring revoked tokens back.
                if conn is not None and conn.status == "active":
                    store_token(conn, fresh, cipher)
            break
        except DBAPIError as exc:
            if not is_connection_loss(exc) or waited >= STORE_RETRY_FOR_S:
                raise
            log.warning(
                "connection %s: database unavailable while storing refreshed tokens; "
                "retrying in %.1f s",
                conn_id,
                delay,
            )
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 8.0)
    log.info("refreshed tokens of connection %s (%s)", conn_id, provider.name)
    return fresh


def mark_needs_reauth(
    session: Session, conn_id: int, now: dt.datetime, reason: str, *, claim_token: str
) -> bool:
    """Mark a connection as needing the patient to link again and tell them in the inbox.

    Only the lease holder may: a worker whose lease was taken over may have been refused for a
    token the new holder has since replaced. The status change is conditional, so the "please
    reconnect" tip is written once, whichever worker notices first.
    """
    result = session.execute(
        update(WearableConnection)
        .where(
            WearableConnection.id == conn_id,
            WearableConnection.status == "active",
            WearableConnection.claim_token == claim_token,
        )
        .values(
            status="needs_reauth",
            next_sync_at=None,
            claimed_until=None,
            claim_token=None,
            last_error=reason[:500],
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    conn = session.get(WearableConnection, conn_id)
    assert conn is not None
    session.refresh(conn)
    adapter = PROVIDERS.get(conn.provider)
    title = adapter.title if adapter is not None else conn.provider
    tip = Tip(
        patient_id=conn.patient_id,
        rule_id="system:reconnect",
        tip_key="reconnect",
        category="general",
        title=f"Please reconnect {title}",
        text=(
            f"We can no longer read your steps from {title}. Open Connections in the app and "
            "link it again, so your plan keeps up with your walking."
        ),
        why=f"{title} refused our access (the link expired or was withdrawn).",
        created_at=now,
    )
    session.add(tip)
    session.flush()
    enqueue(session, [tip], now)
    return True


def reauth_reason(exc: ReauthRequired) -> str:
    """Return a short, secret-free reason for a lost grant."""
    return f"needs reauth: {exc}"
