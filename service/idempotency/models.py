"""Stored first answers of requests sent with an `Idempotency-Key` header."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow


class IdempotencyKey(Base):
    """A patient's key, the request it came with (fingerprint) and the answer it got."""

    __tablename__ = "idempotency_keys"
    # Two retries racing with one key: the second INSERT waits for the first transaction and
    # then fails on this constraint, so the second request answers with the first one's reply.
    __table_args__ = (UniqueConstraint("patient_id", "key"),)

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the route and the body
    status: Mapped[int | None]
    response: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
