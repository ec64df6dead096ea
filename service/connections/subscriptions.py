"""Provider notification subscriptions: made when a patient links, cancelled when they unlink,
renewed by the scheduler before they expire. Without them webhooks never arrive and syncs fall
back to polling.

What each provider needs is the adapter's business (`subscribe`, `unsubscribe`, `renew`,
`request_backfill`); this module keeps the rows (`ProviderSubscription`) and the leases that
let several scheduler processes renew side by side without renewing anything twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

import requests
from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from integrations.wearables import IntegrationError, Subscription, TokenSet, WearableProvider
from service.config import Settings
from service.connections.models import ProviderSubscription, WearableConnection
from service.connections.providers import provider_for
from service.db import Transactions
from service.errors import ServiceError
from service.extensions import db, get_settings
from service.sqlutil import insert_for

log = logging.getLogger(__name__)

RENEW_AHEAD = dt.timedelta(days=3)  # Oura's subscriptions live weeks: renew well before
LEASE = dt.timedelta(minutes=5)
RETRY_AFTER_FAILURE = dt.timedelta(minutes=30)
ERROR_MAX = 500
BEST_EFFORT = (IntegrationError, ServiceError, requests.RequestException)


def webhook_endpoint(provider_name: str, settings: Settings) -> str:
    """Return our webhook URL for a provider (the adapter may add its secret to it)."""
    return f"{settings.public_base_url}/v1/integrations/{provider_name}/webhook"


def after_link(
    transactions: Transactions,
    conn_id: int,
    provider: WearableProvider,
    token: TokenSet,
    *,
    settings: Settings,
    now: dt.datetime,
) -> int:
    """Subscribe the new link to the provider's notifications and ask for its history.

    Best effort: the link stands whatever the provider answers (polling still syncs it, and
    the renewal job or the next link retries shared subscriptions). Returns how many
    subscriptions are now recorded for it.
    """
    endpoint = webhook_endpoint(provider.name, settings)
    made: list[Subscription] = []
    try:
        made = provider.subscribe(token, callback_url=provider.callback_url(endpoint))
    except BEST_EFFORT as exc:
        log.warning("%s: subscribing connection %s failed: %s", provider.name, conn_id, exc)
    try:
        provider.request_backfill(token, now=now)
    except BEST_EFFORT as exc:
        log.warning("%s: backfill for connection %s failed: %s", provider.name, conn_id, exc)
    if made:
        with transactions() as session:
            for subscription in made:
                _record(session, provider.name, conn_id, subscription, endpoint)
    return len(made)


def _record(
    session: Session,
    provider_name: str,
    conn_id: int,
    subscription: Subscription,
    endpoint: str,
) -> None:
    """Insert or refresh one subscription row (two links may record a shared one at once)."""
    values = {
        "connection_id": None if subscription.shared else conn_id,
        "data_type": subscription.data_type,
        "endpoint": endpoint,
        "expires_at": subscription.expires_at,
    }
    stmt = insert_for(session, ProviderSubscription).values(
        provider=provider_name, external_id=subscription.external_id, **values
    )
    session.execute(
        stmt.on_conflict_do_update(index_elements=["provider", "external_id"], set_=values)
    )


def before_unlink(
    transactions: Transactions,
    conn_id: int,
    provider: WearableProvider,
    token: TokenSet,
    settings: Settings,
) -> None:
    """Cancel the link's own subscriptions at the provider (best effort) and forget them;
    shared ones stay for the other users."""
    with transactions() as session:
        rows = session.scalars(
            select(ProviderSubscription).where(ProviderSubscription.connection_id == conn_id)
        ).all()
    by_endpoint: dict[str, list[Subscription]] = {}
    for row in rows:
        by_endpoint.setdefault(row.endpoint, []).append(_subscription_of(row))
    for endpoint, subscriptions in by_endpoint.items():
        try:
            provider.unsubscribe(token, subscriptions, callback_url=provider.callback_url(endpoint))
        except BEST_EFFORT as exc:
            log.info("%s: unsubscribing connection %s failed: %s", provider.name, conn_id, exc)
    if rows:
        with transactions() as session:
            session.execute(
                delete(ProviderSubscription).where(ProviderSubscription.connection_id == conn_id)
            )


def _subscription_of(row: ProviderSubscription) -> Subscription:
    return Subscription(
        external_id=row.external_id,
        data_type=row.data_type,
        expires_at=row.expires_at,
        shared=row.connection_id is None,
    )


def renew_due(now: dt.datetime, *, ahead: dt.timedelta = RENEW_AHEAD, limit: int = 100) -> int:
    """Renew subscriptions that expire within `ahead`; return how many were renewed.

    Only subscriptions someone still needs are renewed: a link's own while it is active, a
    shared one while any link to that provider is. Rows are leased with a conditional UPDATE
    and a claim token, as connections are (see `sync._claim_due`), so two scheduler
    processes never renew the same subscription.
    """
    claim_token = secrets.token_hex(16)
    sub = ProviderSubscription
    conn = WearableConnection
    needed = or_(
        and_(
            sub.connection_id.is_(None),
            exists().where(conn.provider == sub.provider, conn.status == "active"),
        ),
        exists().where(conn.id == sub.connection_id, conn.status == "active"),
    )
    due = (
        sub.expires_at.is_not(None),
        sub.expires_at <= now + ahead,
        or_(sub.claimed_until.is_(None), sub.claimed_until < now),
    )
    with db.transaction() as session:
        ids = session.scalars(
            select(sub.id).where(*due, needed).order_by(sub.expires_at, sub.id).limit(limit)
        ).all()
        if not ids:
            return 0
        session.execute(
            update(sub)
            .where(sub.id.in_(ids), *due)
            .values(claimed_until=now + LEASE, claim_token=claim_token)
            .execution_options(synchronize_session=False)
        )
        claimed = session.scalars(select(sub).where(sub.claim_token == claim_token)).all()
        work = [(row.id, row.provider, _subscription_of(row)) for row in claimed]
    renewed = 0
    for row_id, provider_name, subscription in work:
        values: dict[str, object]
        try:
            fresh = provider_for(provider_name, get_settings()).renew(subscription)
        except BEST_EFFORT as exc:
            log.warning("%s: renewing subscription %s failed: %s", provider_name, row_id, exc)
            values = {
                "claimed_until": now + RETRY_AFTER_FAILURE,
                "last_error": f"renewal failed: {exc}"[:ERROR_MAX],
            }
        else:
            renewed += 1
            values = {"expires_at": fresh.expires_at, "claimed_until": None, "last_error": None}
        with db.transaction() as session:
            session.execute(
                update(sub)
                .where(sub.id == row_id, sub.claim_token == claim_token)
                .values(claim_token=None, **values)
                .execution_options(synchronize_session=False)
            )
    return renewed
