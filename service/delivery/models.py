"""The push outbox: one row per (tip, device), written with the tip."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow


class DeliveryStatus(StrEnum):
    """Where a delivery stands: waiting (or retrying), or one of the four ends."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"  # the device's token is gone
    FAILED = "failed"  # refused for good, not the token's fault
    EXPIRED = "expired"  # past the tip's useful life, or out of attempts


class PushDelivery(Base):
    """A tip on its way to one device; workers claim, send and retry it."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        UniqueConstraint("tip_id", "device_id"),
        Index("ix_push_deliveries_due", "status", "next_attempt_at"),
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{status}'" for status in DeliveryStatus)),
            name="status",
        ),
    )

    id: Mapped[IdPk]
    tip_id: Mapped[int] = mapped_column(BigId, ForeignKey("tips.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))  # fcm | apns | webpush
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # A worker's lease: another worker may take the row once this has passed (crash recovery).
    claimed_until: Mapped[dt.datetime | None]
    # Which claim holds the lease: a worker whose lease ran out and was taken over must not
    # overwrite the new holder's result.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    # The quiet hours in force when the tip was written ("HH:MM-HH:MM", patient-local), so a
    # retry does not wake the patient either; null = none.
    quiet_hours: Mapped[str | None] = mapped_column(String(11))
    last_attempt_at: Mapped[dt.datetime | None]
    provider_response: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
