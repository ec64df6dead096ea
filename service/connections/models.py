"""Links to wearable providers, pending OAuth handshakes and received webhooks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow


class WearableConnection(Base):
    """A patient's link to one provider; tokens are Fernet-encrypted at rest."""

    __tablename__ = "wearable_connections"
    __table_args__ = (
        UniqueConstraint("patient_id", "provider"),
        CheckConstraint("status IN ('active', 'needs_reauth', 'revoked')", name="status"),
        Index("ix_wearable_connections_due", "status", "next_sync_at"),
        Index("ix_wearable_connections_provider_user", "provider", "provider_user_id"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    access_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    refresh_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    token_expires_at: Mapped[dt.datetime | None]
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    provider_user_id: Mapped[str | None] = mapped_column(String(128))
    cursor: Mapped[str | None] = mapped_column(Text)
    # Work a notification-driven provider (Garmin) announced and we have not fetched yet.
    pending: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    next_sync_at: Mapped[dt.datetime | None]
    last_sync_at: Mapped[dt.datetime | None]
    # Lease held by the worker syncing or refreshing this connection (cross-process claims);
    # claim_token names the holder so a worker whose lease lapsed cannot write stale results.
    claimed_until: Mapped[dt.datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    # Consecutive failed syncs: drives the exponential backoff.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OAuthState(Base):
    """An authorisation in flight: the state we sent and the PKCE verifier we keep."""

    __tablename__ = "oauth_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    code_verifier_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    redirect_uri: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    # The link the app opens (service/connections/binding.py) works once, soon after creation.
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    opened_at: Mapped[dt.datetime | None]


class WebhookReceipt(Base):
    """A webhook event already accepted: replays and duplicates are ignored."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[IdPk]
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProviderSubscription(Base):
    """A notification subscription held at a provider, so webhooks arrive: one linked user's
    (Withings, per appli) or the provider app's, shared by every user (Oura), renewed by the
    scheduler before `expires_at`."""

    __tablename__ = "provider_subscriptions"
    __table_args__ = (
        UniqueConstraint("provider", "external_id"),
        Index("ix_provider_subscriptions_expires_at", "expires_at"),
    )

    id: Mapped[IdPk]
    provider: Mapped[str] = mapped_column(String(32))
    # The link it belongs to; NULL for the app's shared subscriptions.
    connection_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("wearable_connections.id", ondelete="CASCADE"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(128))
    data_type: Mapped[str] = mapped_column(String(64))
    # Our webhook endpoint as registered (before the adapter adds any secret to it).
    endpoint: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[dt.datetime | None]
    # Lease of the renewal job (several scheduler processes): see subscriptions.renew_due.
    claimed_until: Mapped[dt.datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class QuarantinedRecord(Base):
    """A provider record too implausible to store (negative steps, year 1...), kept as received."""

    __tablename__ = "quarantined_records"

    id: Mapped[IdPk]
    provider: Mapped[str] = mapped_column(String(32))
    patient_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # daily | session | intraday
    reason: Mapped[str] = mapped_column(String(200))
    record: Mapped[dict[str, Any]]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
