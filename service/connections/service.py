"""Linking use cases: list connections, start OAuth, finish it at the callback, unlink.

Finishing and unlinking call the provider between their writes, so they take the transaction
opener (`Transactions`) from their route and commit step by step: no transaction stays open
while the provider answers.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

import requests
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from integrations.wearables import IntegrationError, ReauthRequired, pkce_pair
from service.activity.models import DailyActivity, WalkingSession
from service.config import Settings
from service.connections import binding, subscriptions
from service.connections.models import OAuthState, WearableConnection
from service.connections.providers import known_provider, provider_for
from service.connections.tokens import store_token, token_of
from service.crypto import cipher_for
from service.db import Transactions, utcnow
from service.errors import BadRequest, NotFound, ServiceError, Unavailable

log = logging.getLogger(__name__)

STATE_TTL = dt.timedelta(minutes=10)


def redirect_uri_for(provider: str, settings: Settings) -> str:
    """Return the OAuth redirect URI registered with a provider."""
    return f"{settings.public_base_url}/v1/integrations/{provider}/callback"


def list_connections(session: Session, patient_id: int) -> list[WearableConnection]:
    """Return a patient's connections, by provider."""
    return list(
        session.scalars(
            select(WearableConnection)
            .where(WearableConnection.patient_id == patient_id)
            .order_by(WearableConnection.provider)
        )
    )


def start_link(session: Session, patient_id: int, provider_name: str, settings: Settings) -> str:
    """Begin linking: remember state (and the encrypted PKCE verifier); return the start URL.

    The app opens the start URL, which binds the browser and redirects to the consent page
    (service/connections/binding.py).
    """
    provider = provider_for(provider_name, settings)
    now = utcnow()
    state = secrets.token_urlsafe(32)
    verifier = pkce_pair()[0] if provider.uses_pkce else None
    redirect_uri = redirect_uri_for(provider_name, settings)
    # Abandoned handshakes are cleared here rather than by a separate job.
    session.execute(delete(OAuthState).where(OAuthState.expires_at < now))
    session.add(
        OAuthState(
            state=state,
            patient_id=patient_id,
            provider=provider_name,
            code_verifier_enc=cipher_for(settings).encrypt(verifier),
            redirect_uri=redirect_uri,
            expires_at=now + STATE_TTL,
            created_at=now,
        )
    )
    return binding.start_url(provider_name, state, settings)


@dataclass(frozen=True)
class _Pending:
    patient_id: int
    redirect_uri: str
    verifier: str | None


def _consume_state(
    transactions: Transactions, provider_name: str, state: str, now: dt.datetime, settings: Settings
) -> _Pending:
    """Take a state for good (single use, even under concurrent callbacks)."""
    with transactions() as session:
        row = session.get(OAuthState, state)
        # The DELETE's rowcount decides who consumed it when the same callback arrives twice.
        result = session.execute(delete(OAuthState).where(OAuthState.state == state))
        consumed = row is not None and result.rowcount == 1  # type: ignore[attr-defined]
    # Raised after the commit: a state shown once is spent, whatever was wrong with the call.
    if row is None or not consumed:
        raise BadRequest("unknown or already used OAuth state")
    if row.provider != provider_name:
        raise BadRequest("OAuth state was issued for another provider")
    if row.expires_at < now:
        raise BadRequest("OAuth state expired; start linking again")
    return _Pending(
        row.patient_id, row.redirect_uri, cipher_for(settings).decrypt(row.code_verifier_enc)
    )


def finish_link(
    transactions: Transactions,
    provider_name: str,
    *,
    code: str | None,
    state: str | None,
    error: str | None,
    browser_binding: str | None,
    settings: Settings,
) -> WearableConnection:
    """Complete linking at the OAuth callback: check state and browser, exchange the code."""
    known_provider(provider_name)
    if not state:
        raise BadRequest("missing state")
    now = utcnow()
    pending = _consume_state(transactions, provider_name, state, now, settings)
    binding.check_binding(provider_name, state, browser_binding, settings)
    if error:
        # access_denied and friends: the patient declined; the state is spent either way.
        raise BadRequest(f"the provider did not grant access ({error[:60]})")
    if not code:
        raise BadRequest("missing code")
    provider = provider_for(provider_name, settings)
    try:
        token = provider.exchange_code(
            code=code, redirect_uri=pending.redirect_uri, code_verifier=pending.verifier
        )
        token = provider.register_user(token)
    except ReauthRequired as exc:
        raise BadRequest("the authorization code was refused; start linking again") from exc
    except IntegrationError as exc:
        log.warning("%s: code exchange failed: %s", provider_name, exc)
        raise Unavailable(f"{provider_name} did not complete the link; try again") from exc
    cipher = cipher_for(settings)
    with transactions() as session:
        conn = session.scalar(
            select(WearableConnection).where(
                WearableConnection.patient_id == pending.patient_id,
                WearableConnection.provider == provider_name,
            )
        )
        if conn is None:
            conn = WearableConnection(
                patient_id=pending.patient_id, provider=provider_name, cursor=None, pending=[]
            )
            session.add(conn)
        store_token(conn, token, cipher)
        conn.status = "active"
        conn.attempts = 0
        conn.last_error = None
        conn.claimed_until = None
        conn.claim_token = None
        # Polled providers sync at the next tick; Garmin waits for its first notification.
        conn.next_sync_at = now if provider.polls else None
    # After the commit: the provider may call our webhook to verify it while we subscribe.
    subscriptions.after_link(transactions, conn.id, provider, token, settings=settings, now=now)
    return conn


def unlink(
    transactions: Transactions,
    patient_id: int,
    provider_name: str,
    *,
    delete_data: bool,
    settings: Settings,
) -> None:
    """Revoke at the provider (best effort), forget the tokens, optionally delete the data."""
    known_provider(provider_name)
    # Read in a transaction of its own: none stays open while we wait for the provider.
    with transactions() as session:
        conn = session.scalar(
            select(WearableConnection).where(
                WearableConnection.patient_id == patient_id,
                WearableConnection.provider == provider_name,
            )
        )
    if conn is None:
        raise NotFound(f"no {provider_name} connection")
    if conn.access_token_enc is not None:
        token = token_of(conn, cipher_for(settings))
        try:
            provider = provider_for(provider_name, settings)
            subscriptions.before_unlink(transactions, conn.id, provider, token, settings)
            provider.revoke(token)
        except (IntegrationError, requests.RequestException, ServiceError) as exc:
            log.info("%s: revoke failed (ignored): %s", provider_name, type(exc).__name__)
        except Exception:  # best effort: the patient's unlink must not fail on the provider
            log.warning("%s: revoke failed (ignored)", provider_name, exc_info=True)
    with transactions() as session:
        conn = session.get(WearableConnection, conn.id)
        if conn is None:
            return
        conn.status = "revoked"
        conn.access_token_enc = None
        conn.refresh_token_enc = None
        conn.token_expires_at = None
        conn.next_sync_at = None
        # Clearing the claim makes an in-flight sync's final write miss, so nothing comes back.
        conn.claimed_until = None
        conn.claim_token = None
        conn.pending = []
        if delete_data:
            conn.cursor = None
            for model in (DailyActivity, WalkingSession):
                session.execute(
                    delete(model).where(
                        model.patient_id == patient_id, model.source == provider_name
                    )
                )
